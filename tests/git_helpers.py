"""Real git repositories for the driver tests: sealer's diff and merge drivers set up, and an
identity where sealer looks by default (git runs the drivers as separate processes, so they find
it as a user's sealer would)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def git(repo: Path, *args: str, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=check, env=env)


def driver_repo(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch,
                secret: str) -> Path:
    """A new repository under `tmp_path` with `sealer git setup` done, and `secret` (an age
    identity) in `home`'s default identity file."""
    key = home / ".config" / "sealer" / "keys.txt"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(secret + "\n")
    key.chmod(0o600)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "d@example.com"],
                 ["config", "user.name", "d"], ["config", "commit.gpgsign", "false"]):
        git(repo, *args)
    result = subprocess.run([sys.executable, "-m", "sealer", "git", "setup", str(repo)],
                            capture_output=True, text=True, check=True)
    assert "gitattributes" in result.stderr
    return repo
