"""`sealer history`: who changed which secrets, when — read from git, without any key.

A value's ciphertext changes exactly when the value changes (FORMAT.md §3.3), so comparing
the tokens of two committed versions says which keys were added, removed or changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from .document import SealedDocument, parse_sealed
from .errors import SealerError
from .paths import format_path, leaves

__all__ = ["Change", "file_history", "repository_history"]


class Change(NamedTuple):
    commit: str
    author: str
    email: str
    date: str
    file: str
    serial: int | None
    added: list[str]
    removed: list[str]
    changed: list[str]
    recipients_changed: bool
    metadata_changed: bool


def _repo(path: Path) -> Any:
    import git

    try:
        return git.Repo(path if path.is_dir() else path.parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise SealerError("not inside a git repository", file=str(path),
                          hint="history reads the commits that changed the file") from None


def _document(commit: Any, relative: str) -> SealedDocument | None:
    try:
        blob = commit.tree / relative
    except KeyError:
        return None
    try:
        return parse_sealed(blob.data_stream.read(), source=relative)
    except SealerError:
        return None


def _tokens(doc: SealedDocument | None) -> dict[str, Any]:
    if doc is None:
        return {}
    return {format_path(p): v for p, v in leaves(doc.data)}


def _compare(commit: Any, relative: str, before: SealedDocument | None,
             after: SealedDocument | None) -> Change:
    old, new = _tokens(before), _tokens(after)
    return Change(
        commit=commit.hexsha[:12], author=commit.author.name or "", email=commit.author.email or "",
        date=datetime.fromtimestamp(commit.committed_date, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        file=relative, serial=after.header.serial if after else None,
        added=[k for k in new if k not in old], removed=[k for k in old if k not in new],
        changed=[k for k in new if k in old and new[k] != old[k]],
        recipients_changed=_recipients(before) != _recipients(after),
        metadata_changed=(before.metadata if before else None) != (
            after.metadata if after else None),
    )


def _recipients(doc: SealedDocument | None) -> list[str]:
    return [w.recipient for w in doc.recipients] if doc else []


def _changes(repo: Any, relative: str, since: datetime | None) -> Iterator[Change]:
    for commit in repo.iter_commits(paths=relative):
        if since is not None and datetime.fromtimestamp(commit.committed_date, UTC) < since:
            break
        parent = commit.parents[0] if commit.parents else None
        before = _document(parent, relative) if parent is not None else None
        yield _compare(commit, relative, before, _document(commit, relative))


def file_history(path: Path, key: str | None = None, *, since: timedelta | None = None
                 ) -> list[Change]:
    """Newest first: each commit that changed `path` (and `key`, when given)."""
    repo = _repo(path)
    relative = path.absolute().relative_to(Path(repo.working_tree_dir).absolute()).as_posix()
    cutoff = datetime.now(UTC) - since if since else None
    changes = list(_changes(repo, relative, cutoff))
    if key is not None:
        changes = [c for c in changes if _touches(c, key)]
    return changes


def _touches(change: Change, key: str) -> bool:
    return any(k == key or k.startswith((key + ".", key + "["))
               for k in change.added + change.removed + change.changed)


def repository_history(start: Path, scope: Sequence[Path] = (), *,
                       since: timedelta | None = None) -> list[Change]:
    """Every sealed file's changes in the repository (or under `scope`), newest first."""
    repo = _repo(start)
    root = Path(repo.working_tree_dir)
    names = repo.git.ls_files("*.sealed.yaml", "*.sealed.yml").splitlines()
    wanted = [s.absolute() for s in scope]
    out: list[Change] = []
    for name in names:
        path = root / name
        if wanted and not any(path == w or w in path.parents for w in wanted):
            continue
        out += file_history(path, since=since)
    return sorted(out, key=lambda c: c.date, reverse=True)
