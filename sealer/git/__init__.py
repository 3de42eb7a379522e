"""git: `run_git`, the one way sealer runs git (no shell, a timeout, the key variables
stripped from its environment), and what git is about to commit: staged paths and their
contents in the index, and the committed (HEAD) version of a file. Plain `git` subprocesses:
fast enough for a pre-commit hook and nothing to import.

`drivers` (diff and merge drivers) and `history` (sealer history) build on it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..environ import child_environment
from ..errors import SealerError
from ..fsio import work_tree_of  # one home, in the base layer: the write path needs it too

__all__ = ["blob_at", "head_blob", "repository_root", "run_git", "staged_blob", "staged_paths",
           "work_tree_of"]


def run_git(args: list[str], cwd: Path, *, check: bool = True,
            input: bytes | None = None) -> bytes | None:
    """`git ARGS` in `cwd` (no shell), fed `input` on stdin: its stdout, or None when git fails
    and `check` is false. A missing git, a timeout, or (with `check`) a failure is a SealerError."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False,
                                env=child_environment(),
                                timeout=120, input=input)
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
    out = run_git(["rev-parse", "--show-toplevel"], cwd)
    return Path((out or b"").decode().strip())


def staged_paths(root: Path) -> list[Path]:
    """Files added, copied, modified or renamed in the index (what the commit will contain)."""
    out = run_git(["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"], root) or b""
    return [root / name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def _relative(root: Path, path: Path) -> str:
    return path.absolute().relative_to(root.absolute()).as_posix()


def staged_blob(root: Path, path: Path) -> bytes | None:
    """The file's content in the index, or None if it is not there."""
    return run_git(["show", f":{_relative(root, path)}"], root, check=False)


def head_blob(root: Path, path: Path) -> bytes | None:
    """The file's content in HEAD, or None (new file, or no commit yet)."""
    return blob_at(root, "HEAD", path)


def blob_at(root: Path, ref: str, path: Path) -> bytes | None:
    """The file's content at revision `ref`, or None (not there, or no such revision)."""
    return run_git(["show", f"{ref}:{_relative(root, path)}", "--"], root, check=False)
