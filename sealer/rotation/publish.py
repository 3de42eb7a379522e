"""Getting a finished rotation to where applications read it: one git commit per rotated
secret (its message names the file, the key and the new version, never a value) and a push.
`sealer rotate --due --commit --push` is the scheduler's command (docs/ROTATION.md)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SealerError
from ..git import run_git, work_tree_of

__all__ = ["commit_rotation", "push"]


def commit_rotation(file: Path, key: str, version: object) -> str:
    """Commit `file` alone (other staged changes stay staged, uncommitted) with a message
    naming what was rotated; the new commit's short id. SealerError when it cannot."""
    root = work_tree_of(file)
    if root is None:
        raise SealerError("is not in a git work tree, so the rotation cannot be committed",
                          file=str(file), hint="run without --commit, or inside the repository")
    from ..printable import printable

    relative = os.path.relpath(file.absolute(), root)
    key = printable(key)  # a key path from the repository: no control characters in a message
    message = (f"Rotate {key} in {printable(relative)}\n\n"
               f"sealer rotate: version {version} of {key} is now CURRENT; the previous one is "
               "PREVIOUS.\n")
    run_git(["add", "--", relative], root)
    run_git(["commit", "--quiet", "-m", message, "--", relative], root)
    head = run_git(["rev-parse", "--short", "HEAD"], root) or b""
    return head.decode("ascii", "replace").strip()


def push(root: Path, remote: str | None = None) -> None:
    """`git push` of the current branch (to `remote`, else its upstream); SealerError naming
    the remote when it fails, e.g. because the remote moved on."""
    args = ["push", "--quiet"] + ([remote, "HEAD"] if remote else [])
    if run_git(args, root, check=False) is None:
        where = remote or "the branch's upstream"
        raise SealerError(f"git push to {where} failed; the rotations are committed locally",
                          file=str(root),
                          hint="pull (the merge driver merges sealed files key by key) and "
                               "push again; nothing needs to be rotated again")
