"""`sealer history`: who changed which secrets, when — read from git, without any key.

A value's ciphertext changes exactly when the value changes (FORMAT.md §3.3), so comparing
the tokens of two committed versions says which keys were added, removed or changed.

Git is read with plain `git` subprocesses (`sealer.git.run_git`: no shell, a timeout): per file,
one `git log` lists the commits and two `git cat-file` batches read the versions. Everything in
the repository is untrusted: names go after `--` as literal pathspecs, log fields are split on
NUL (which no author name, email or hash can hold), and a blob is read only if it is small
enough to be a sealed file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from .. import yamlio
from ..document import SealedDocument, parse_sealed
from ..errors import SealerError
from ..paths import format_path, leaves
from ..sealedfiles import SEALED_SUFFIXES
from . import run_git

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


class _Commit(NamedTuple):
    oid: str
    committed: datetime
    author: str
    email: str


# Four NUL-terminated fields per commit (-z ends each record with a NUL too).
_LOG = ["log", "-z", "--format=%H%x00%ct%x00%an%x00%ae", "--encoding=UTF-8",
        # pinned against the user's config (log.follow, log.showSignature) and the repository's
        # .mailmap: each commit that changed exactly this path, with its recorded author
        "--no-follow", "--no-show-signature", "--no-use-mailmap"]
_OID = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_OBJECT = re.compile(rb"([0-9a-f]{40}(?:[0-9a-f]{24})?) ([a-z]+) ([0-9]+)")  # cat-file's header


def _not_in_repository(path: Path) -> SealerError:
    return SealerError("not inside a git repository", file=str(path),
                       hint="history reads the commits that changed the file")


def _root(path: Path) -> Path:
    directory = path if path.is_dir() else path.parent
    out = None
    if directory.is_dir():
        out = run_git(["rev-parse", "--show-toplevel"], directory, check=False)
    if not out:
        raise _not_in_repository(path)
    return Path(os.fsdecode(out.removesuffix(b"\n"))).resolve()


def _commits(root: Path, relative: str) -> list[_Commit]:
    """The commits that changed `relative`, in `git log` order (newest first)."""
    args = [*_LOG, "--", ":(literal)" + relative]
    out = run_git(args, root, check=False)
    if out is None:
        if run_git(["rev-parse", "--quiet", "--verify", "HEAD^{commit}"], root,
                   check=False) is None:
            return []  # no commit yet
        out = run_git(args, root) or b""  # fails again, with git's message
    fields = out.removesuffix(b"\0").split(b"\0") if out else []
    if len(fields) % 4:
        raise SealerError("cannot read the output of git log", file=relative)
    commits = []
    for i in range(0, len(fields), 4):
        oid, seconds, name, email = fields[i:i + 4]
        if not _OID.fullmatch(oid) or not seconds.isdigit():
            raise SealerError("cannot read the output of git log", file=relative)
        try:
            committed = datetime.fromtimestamp(int(seconds), UTC)
        except (OverflowError, OSError, ValueError):
            raise SealerError(f"commit {oid[:12].decode()} has an impossible date",
                              file=relative) from None
        commits.append(_Commit(oid.decode(), committed, name.decode("utf-8", "replace"),
                               email.decode("utf-8", "replace")))
    return commits


def _documents(root: Path, relative: str, specs: list[str]) -> list[SealedDocument | None]:
    """The sealed document at each `<rev>:<path>`, or None where there is none: the path is
    missing (or `<rev>` is, like a root commit's parent), is not a blob, is larger than
    `yamlio.MAX_BYTES`, or does not parse."""
    names = [_object_name(root, spec) for spec in specs]
    asked = [name for name in names if name is not None]
    out = b""
    if asked:
        out = run_git(["cat-file", "--batch-check", "--buffer"], root,
                      input=b"".join(name + b"\n" for name in asked)) or b""
    if out.count(b"\n") != len(asked):  # one line each: no name holds an LF
        raise SealerError("cannot read the output of git cat-file", file=relative)
    answers = iter(out.split(b"\n"))
    blobs: list[bytes | None] = []  # the object id of each spec's blob, or None
    sizes: dict[bytes, int] = {}
    for name in names:
        answer = _OBJECT.fullmatch(next(answers, b"")) if name is not None else None
        if answer is None or answer[2] != b"blob" or int(answer[3]) > yamlio.MAX_BYTES:
            blobs.append(None)  # "<name> missing", a tree or submodule, or too large to parse
            continue
        blobs.append(answer[1])
        sizes[answer[1]] = int(answer[3])
    parsed: dict[bytes, SealedDocument | None] = {}
    for oid, data in _contents(root, sizes):
        try:
            parsed[oid] = parse_sealed(data, source=relative)
        except SealerError:
            parsed[oid] = None
    return [parsed.get(oid) if oid is not None else None for oid in blobs]


def _object_name(root: Path, spec: str) -> bytes | None:
    """`spec` as a line for `git cat-file --batch-check`, or, when a path does not fit on one
    (cat-file splits at LF and drops a CR before it), its object id; None if it has none."""
    name = os.fsencode(spec)
    if b"\n" not in name and not name.endswith(b"\r"):
        return name
    out = run_git(["rev-parse", "--quiet", "--verify", spec], root, check=False)
    return out.strip() if out else None


def _contents(root: Path, sizes: dict[bytes, int]) -> Iterator[tuple[bytes, bytes]]:
    """Each blob's content, read by `git cat-file --batch` about MAX_BYTES at a time."""
    batch: list[bytes] = []
    total = 0
    for oid, size in sizes.items():
        if batch and total + size > yamlio.MAX_BYTES:
            yield from _batch(root, batch)
            batch, total = [], 0
        batch.append(oid)
        total += size
    if batch:
        yield from _batch(root, batch)


def _batch(root: Path, oids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
    out = run_git(["cat-file", "--batch", "--buffer"], root,
                  input=b"".join(oid + b"\n" for oid in oids)) or b""
    at = 0
    for oid in oids:  # "<oid> blob <size>" LF <content> LF, for each
        end = out.find(b"\n", at)
        header = _OBJECT.fullmatch(out, at, end) if end >= 0 else None
        stop = end + 1 + int(header[3]) if header else len(out)
        if header is None or header[1] != oid or stop >= len(out):
            raise SealerError("cannot read the output of git cat-file",
                              hint=f"is object {oid.decode()} still in the repository?")
        yield oid, out[end + 1:stop]
        at = stop + 1


def _tokens(doc: SealedDocument | None) -> dict[str, Any]:
    if doc is None:
        return {}
    return {format_path(p): v for p, v in leaves(doc.data)}


def _compare(commit: _Commit, relative: str, before: SealedDocument | None,
             after: SealedDocument | None) -> Change:
    old, new = _tokens(before), _tokens(after)
    return Change(
        commit=commit.oid[:12], author=commit.author, email=commit.email,
        date=commit.committed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        file=relative, serial=after.header.serial if after else None,
        added=[k for k in new if k not in old], removed=[k for k in old if k not in new],
        changed=[k for k in new if k in old and new[k] != old[k]],
        recipients_changed=_recipients(before) != _recipients(after),
        metadata_changed=(before.metadata if before else None) != (
            after.metadata if after else None),
    )


def _recipients(doc: SealedDocument | None) -> list[str]:
    return [w.recipient for w in doc.recipients] if doc else []


def _changes(root: Path, relative: str, since: datetime | None) -> list[Change]:
    commits = []
    for commit in _commits(root, relative):
        if since is not None and commit.committed < since:
            break
        commits.append(commit)
    # before: the first parent's version ("<commit>^", none for a root commit); after: its own
    specs = [spec for c in commits for spec in (f"{c.oid}^:{relative}", f"{c.oid}:{relative}")]
    documents = _documents(root, relative, specs)
    return [_compare(c, relative, documents[2 * i], documents[2 * i + 1])
            for i, c in enumerate(commits)]


def _cutoff(since: timedelta | None) -> datetime | None:
    return datetime.now(UTC) - since if since else None


def file_history(path: Path, key: str | None = None, *, since: timedelta | None = None
                 ) -> list[Change]:
    """Newest first: each commit that changed `path` (and `key`, when given)."""
    root = _root(path)
    target = path.resolve() if path.is_dir() else path.parent.resolve() / path.name
    try:
        relative = target.relative_to(root).as_posix()
    except ValueError:
        raise _not_in_repository(path) from None
    changes = _changes(root, relative, _cutoff(since))
    if key is not None:
        changes = [c for c in changes if _touches(c, key)]
    return changes


def _touches(change: Change, key: str) -> bool:
    return any(k == key or k.startswith((key + ".", key + "["))
               for k in change.added + change.removed + change.changed)


def repository_history(start: Path, scope: Sequence[Path] = (), *,
                       since: timedelta | None = None) -> list[Change]:
    """Every sealed file's changes in the repository (or under `scope`), newest first."""
    root = _root(start)
    patterns = [f"*{suffix}" for suffix in SEALED_SUFFIXES]
    names = run_git(["ls-files", "-z", "--", *patterns], root) or b""
    wanted = [s.resolve() for s in scope]
    cutoff = _cutoff(since)
    out: list[Change] = []
    for name in os.fsdecode(names).split("\0"):
        path = root / name
        if not name or (wanted and not any(path == w or w in path.parents for w in wanted)):
            continue
        out += _changes(root, name, cutoff)
    return sorted(out, key=lambda c: c.date, reverse=True)
