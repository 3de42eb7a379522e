"""Shared fixtures. Every test runs with a private HOME and no sealer/SOPS key variables, so a
developer's real keys can never be read or written by the suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
    for name in list(os.environ):
        if name.startswith(("SEALER_", "SOPS_")):
            monkeypatch.delenv(name)
    return home


def require_tool(name: str) -> str:
    """Path of an external tool; skipped locally when missing, a failure in CI (.ci/run
    installs it)."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; .ci/run should install it")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture
def shared_vectors() -> Path:
    if not SHARED_VECTORS.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED_VECTORS} is missing")
        pytest.skip("../shared/vectors is not present")
    return SHARED_VECTORS
