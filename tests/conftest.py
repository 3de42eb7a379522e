"""Shared fixtures. Every test runs with a private HOME and no sealer/SOPS key variables, so a
developer's real keys can never be read or written by the suite."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))  # remembered verdicts
    for name in list(os.environ):
        if name.startswith(("SEALER_", "SOPS_")):
            monkeypatch.delenv(name)
    return home


def unavailable(reason: str) -> NoReturn:
    """Something the test needs (a tool, a package, ../shared) is missing: skipped locally, a
    failure in CI, where .ci/run provides everything the suite uses. The one place that decides
    between the two; call it instead of pairing pytest.skip with pytest.fail."""
    if IN_CI:
        pytest.fail(f"{reason}; in CI that is a failure: .ci/run should provide it")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Path of an external tool; `unavailable` when it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    return path


@pytest.fixture
def shared_vectors() -> Path:
    if not SHARED_VECTORS.is_dir():
        unavailable(f"../shared/vectors is not present ({SHARED_VECTORS})")
    return SHARED_VECTORS


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "64k") mounted at `where`: a real full disk for fault tests.
    Root only, and where the kernel lets us mount: skipped otherwise, saying why."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is a small tmpfs, and mounting one needs root")
    if shutil.which("mount") is None:
        pytest.skip("mount is not installed")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(where)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
