"""Reading what git is about to commit: staged paths and their contents in the index, and the
committed (HEAD) version of a file. Plain `git` subprocesses: fast enough for a pre-commit hook
and nothing to import."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import SealerError

__all__ = ["head_blob", "repository_root", "staged_blob", "staged_paths"]


def _git(args: list[str], cwd: Path, *, check: bool = True) -> bytes | None:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False,
                                timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SealerError(f"cannot run git: {exc}", hint="install git") from None
    if result.returncode != 0:
        if check:
            message = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SealerError(f"git {args[0]} failed: {message[-1] if message else ''}",
                              hint="run this inside a git repository")
        return None
    return result.stdout


def repository_root(cwd: Path) -> Path:
    out = _git(["rev-parse", "--show-toplevel"], cwd)
    return Path((out or b"").decode().strip())


def staged_paths(root: Path) -> list[Path]:
    """Files added, copied, modified or renamed in the index (what the commit will contain)."""
    out = _git(["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"], root) or b""
    return [root / name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def _relative(root: Path, path: Path) -> str:
    return path.absolute().relative_to(root.absolute()).as_posix()


def staged_blob(root: Path, path: Path) -> bytes | None:
    """The file's content in the index, or None if it is not there."""
    return _git(["show", f":{_relative(root, path)}"], root, check=False)


def head_blob(root: Path, path: Path) -> bytes | None:
    """The file's content in HEAD, or None (new file, or no commit yet)."""
    return _git(["show", f"HEAD:{_relative(root, path)}"], root, check=False)
