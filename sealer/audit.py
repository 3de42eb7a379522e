"""The audit trail of decryption: one JSON line per decrypting operation, hash-chained.

Each entry records time, action, file, key paths, the identity's public recipient, user, host
and outcome — never a value. Each carries `prev`, the SHA-256 of the previous line, so editing,
deleting or reordering lines breaks the chain (`verify`). Removing lines from the end cannot be
seen from the log alone: keep the head hash `verify` prints somewhere else to detect that.

Where: $SEALER_AUDIT_LOG, else `audit.path` in sealer.yaml, else
$XDG_STATE_HOME/sealer/audit.log. With `audit.required: true` (or SEALER_AUDIT_REQUIRED=1) a
decryption fails closed when its entry cannot be written, as Vault's audit devices do. When a
sealer.yaml governing the file cannot be read or parsed, or its `audit` block is not valid,
nobody can tell whether it requires the log: `required` is then assumed, and the error names
that sealer.yaml.

Whole or nothing: entries are appended under an flock on the log, all the lines of one call
(`record`, or a server's batch through `record_many`) in one write followed by one fsync. A
write cut short (a full disk, a file-size limit) or a failed fsync cuts the log back to its size
before the write, so the log only ever holds whole, chained lines.

Size: a line is at most MAX_ENTRY_BYTES (1 MiB). An entry whose key list would not fit lists
the keys that do, in order, with `keys_count` (all of them) and `keys_truncated` (those left
out); the operation itself is never refused for that.

A torn last line — the start of an entry with no line end, left by a crash, a kill during the
write, or an older sealer on a full disk — is reported by `verify` with its line number and
byte offset. `repair` (`sealer audit repair`) moves those bytes to `LOG.torn-TIME` beside the
log (mode 0600) and records an entry `"action": "repair"` naming that file; the next `record`
does the same itself before appending, under the lock, so a torn tail never stops the log.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from .digest import sha256
from .errors import SealerError

__all__ = [
    "MAX_ENTRY_BYTES",
    "AuditError",
    "Entry",
    "Settings",
    "entries",
    "log_path",
    "record",
    "record_many",
    "repair",
    "settings_for",
    "verify",
]

GENESIS = "0" * 64
MAX_ENTRY_BYTES = 1024 * 1024  # one line, its line end included (docs/LIMITS.md)
_CHUNK = 65536


class AuditError(SealerError):
    """The audit log could not be written (fail closed) or does not verify."""


class Settings(NamedTuple):
    path: Path
    required: bool
    assumed_by: Path | None = None  # the sealer.yaml that could not be read: required assumed


def _now() -> datetime:
    return datetime.now(UTC)


class _EntryFields(NamedTuple):
    action: str
    file: Path
    keys: Sequence[str]
    recipient: str | None
    outcome: str
    time: datetime


class Entry(_EntryFields):
    """One decrypting operation as the log records it: never a value. `time` is when the
    entry was made, which for a batch may be before it is written. (A NamedTuple: dataclasses
    import `inspect`, ~6 ms of every command's start.)"""

    __slots__ = ()

    def __new__(cls, action: str, file: Path, keys: Sequence[str] = (),
                recipient: str | None = None, outcome: str = "ok",
                time: datetime | None = None) -> Entry:
        return super().__new__(cls, action, file, keys, recipient, outcome,
                               _now() if time is None else time)


def _state_home() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    return Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"


def log_path() -> Path:
    override = os.environ.get("SEALER_AUDIT_LOG", "")
    return Path(override) if override else _state_home() / "sealer" / "audit.log"


def settings_for(file: Path) -> Settings:
    """The audit settings that govern `file` (environment first, then its sealer.yaml chain).

    Only the `audit:` blocks are read here, without validating the whole file: a one-key `get`
    must not pay for JSON Schema (check and seal validate sealer.yaml fully). A sealer.yaml that
    cannot be read or parsed, or whose `audit` block is not valid, makes the log required.
    """
    from .config import config_chain, contained_path, raw_chain

    parsed = dict(raw_chain(file))
    configs = config_chain(file)
    blocks = [parsed[c].get("audit") if c in parsed else None for c in configs]
    # a nested sealer.yaml cannot turn off what one above it requires
    required = os.environ.get("SEALER_AUDIT_REQUIRED") == "1" or any(
        isinstance(b, dict) and b.get("required") is True for b in blocks)
    unclear = [c for c, b in zip(configs, blocks, strict=True)
               if c not in parsed or not _valid_block(b)]
    path = log_path()
    nearest = blocks[0] if blocks else None
    if (isinstance(nearest, dict) and nearest.get("path")
            and not os.environ.get("SEALER_AUDIT_LOG")):
        # the repository may choose a log inside itself, never a file elsewhere (check reports
        # a path outside as a configuration error; readers keep the default location)
        path = contained_path(configs[0].parent, nearest["path"]) or path
    if required or not unclear:
        return Settings(path, required)
    return Settings(path, True, unclear[0])


def _valid_block(block: Any) -> bool:
    return block is None or (isinstance(block, dict)
                             and isinstance(block.get("required", False), bool))


def record(action: str, file: Path, *, keys: Sequence[str] = (), recipient: str | None,
           outcome: str, settings: Settings | None = None) -> None:
    """Append one entry. Raises AuditError only when the log is required."""
    record_many([Entry(action, file, keys, recipient, outcome)], settings or settings_for(file))


def record_many(entries: Sequence[Entry], settings: Settings) -> None:
    """Append `entries` in order, each a whole chained line, with one write and one fsync under
    one lock; returns after the fsync. All or nothing: when any of it cannot be written the log
    is cut back to where it was. Raises AuditError only when the log is required (then none of
    the decryptions may be handed out)."""
    if not entries:
        return
    try:
        with _locked(settings.path, create=True) as fd:
            _append(fd, settings.path, entries)
    except OSError as exc:
        if settings.required:
            raise _unwritable(settings, exc) from None


def repair(path: Path) -> Path | None:
    """Move a torn last line aside (`LOG.torn-TIME`, mode 0600) and record that as an entry
    `"action": "repair"`; return the side file, or None when the last line is whole."""
    try:
        with _locked(path, create=False) as fd:
            return _append(fd, path, [])
    except OSError as exc:
        raise AuditError(f"cannot repair the audit log: {_why(exc)}", file=str(path)) from None


def _unwritable(settings: Settings, exc: OSError) -> AuditError:
    if settings.assumed_by is not None:
        return AuditError(
            f"cannot write the audit log ({_why(exc)}), and audit.required is assumed because "
            "this sealer.yaml cannot be read or is not valid; nothing was decrypted",
            file=str(settings.assumed_by),
            hint=f"fix it (`sealer check` says what is wrong), or make {settings.path} "
                 "writable")
    return AuditError(f"cannot write the audit log: {_why(exc)}; nothing was decrypted",
                      file=str(settings.path),
                      hint="audit.required is set: fix the log's location or permissions")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _user() -> str:
    try:
        import getpass  # only here: most of a read's start-up is imports

        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# -- lines --------------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    # a key from argv may hold a lone surrogate: written as its JSON escape, never an error
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def _line(entry: Entry, prev: str, where: tuple[str, str]) -> bytes:
    """The entry's line chained to `prev`: at most MAX_ENTRY_BYTES, keeping as many keys as
    fit (and counting the rest) when all of them would not."""
    keys = [str(k) for k in entry.keys]
    line = _encode(entry, keys, len(keys), prev, where)
    if len(line) <= MAX_ENTRY_BYTES:
        return line
    room = MAX_ENTRY_BYTES - len(_encode(entry, [], len(keys), prev, where))
    kept = 0
    for key in keys:
        room -= len(_json(key)) + (1 if kept else 0)
        if room < 0:
            break
        kept += 1
    return _encode(entry, keys[:kept], len(keys), prev, where)


def _encode(entry: Entry, keys: list[str], total: int, prev: str,
            where: tuple[str, str]) -> bytes:
    fields: dict[str, Any] = {
        "time": entry.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": entry.action, "file": str(Path(entry.file).absolute()), "keys": keys,
    }
    if len(keys) < total:
        fields |= {"keys_count": total, "keys_truncated": total - len(keys)}
    fields |= {"recipient": entry.recipient, "user": where[0], "host": where[1],
               "outcome": entry.outcome, "prev": prev}
    return _json(fields) + b"\n"


def _digest(line: bytes) -> str:
    return sha256(line.rstrip(b"\n")).hexdigest()


# -- appending ----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path, *, create: bool) -> Iterator[int]:
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
    if create:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:  # a file where the directory should be
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
        flags |= os.O_CREAT
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one writer at a time: prev is the real last line
        yield fd
    finally:
        os.close(fd)


def _append(fd: int, path: Path, entries: Sequence[Entry]) -> Path | None:
    """Append `entries` after the last whole line (a torn tail is moved aside first, and that
    side file returned), in one write and one fsync; on failure cut back to the whole lines."""
    size = os.lseek(fd, 0, os.SEEK_END)
    end = _line_start(fd, size)
    batch, side = list(entries), None
    if end < size:
        side = _move_aside(fd, path, end, size)
        batch.insert(0, Entry("repair", side, outcome=f"moved {size - end} bytes of an "
                              f"incomplete entry at byte {end} to {side.name}"))
        os.ftruncate(fd, end)
    if not batch:
        return None
    prev = _digest_before(fd, end)
    where = (_user(), os.uname().nodename)  # gethostname(2), without importing socket
    lines = []
    for entry in batch:
        lines.append(_line(entry, prev, where))
        prev = _digest(lines[-1])
    _write_whole(fd, b"".join(lines), end)
    return side


def _write_whole(fd: int, data: bytes, size: int) -> None:
    """Append all of `data` and fsync, or cut the file back to `size` and raise."""
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)  # under the lock, so a rest written next is no risk
            if written <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]
        os.fsync(fd)
    except BaseException:  # a full disk, EFBIG, EIO, Ctrl-C between two writes
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
            os.fsync(fd)
        raise


def _line_start(fd: int, pos: int) -> int:
    """The offset just after the last line end before `pos` (0 when there is none): scanned
    back in chunks, so a line of any length is found whole."""
    while pos > 0:
        begin = max(0, pos - _CHUNK)
        cut = os.pread(fd, pos - begin, begin).rfind(b"\n")
        if cut >= 0:
            return begin + cut + 1
        pos = begin
    return 0


def _digest_before(fd: int, end: int) -> str:
    """The digest of the whole line ending at `end` (GENESIS at the start of the log)."""
    if end == 0:
        return GENESIS
    pos, stop, digest = _line_start(fd, end - 1), end - 1, sha256()
    while pos < stop:
        chunk = os.pread(fd, min(_CHUNK, stop - pos), pos)
        if not chunk:
            raise OSError(errno.EIO, "the audit log changed while it was read")
        digest.update(chunk)
        pos += len(chunk)
    return digest.hexdigest()


def _move_aside(fd: int, path: Path, start: int, size: int) -> Path:
    """Copy the bytes from `start` to a new private file beside the log, fsynced."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    side = path.absolute().with_name(f"{path.name}.torn-{stamp}")
    out = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                  0o600)
    try:
        for pos in range(start, size, _CHUNK):
            rest = memoryview(os.pread(fd, min(_CHUNK, size - pos), pos))
            while rest:
                rest = rest[os.write(out, rest):]
        os.fsync(out)
    except BaseException:
        os.close(out)
        side.unlink(missing_ok=True)
        raise
    os.close(out)
    directory = os.open(side.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)  # the side file survives a crash before the log is cut
    finally:
        os.close(directory)
    return side


# -- reading ------------------------------------------------------------------------------


def _lines(path: Path, *, missing_ok: bool) -> Iterator[tuple[int, int, bytes]]:
    """(number, byte offset, content) of each whole line; a torn last line is an AuditError
    saying where it starts."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, around the generator's loop
    except OSError as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return
        raise AuditError(f"cannot read the audit log: {_why(exc)}", file=str(path)) from None
    with fh:
        offset = 0
        for number, line in enumerate(fh, start=1):
            if not line.endswith(b"\n"):
                raise AuditError(
                    f"line {number} (byte {offset}): the last entry is incomplete "
                    f"({len(line)} bytes without a line end)", file=str(path),
                    hint="a write was cut short (a crash, or a full disk under an older "
                         "sealer): `sealer audit repair` moves it to a side file, as the "
                         "next entry written does")
            yield number, offset, line[:-1]
            offset += len(line)


def entries(path: Path) -> Iterator[dict[str, Any]]:
    for number, _offset, line in _lines(path, missing_ok=True):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if not isinstance(entry, dict):
            raise AuditError(f"line {number} is not a JSON entry", file=str(path))
        yield entry


def verify(path: Path) -> tuple[int, str]:
    """Check the chain; return (entries, head hash) or raise AuditError naming the line."""
    previous, count = GENESIS, 0
    for number, offset, line in _lines(path, missing_ok=False):
        try:
            prev = json.loads(line).get("prev")
        except (json.JSONDecodeError, AttributeError):
            prev = None
        if prev != previous:
            raise AuditError(f"the chain breaks at line {number} (byte {offset}): an entry "
                             "before it was edited, removed or moved", file=str(path),
                             hint="compare with a backup; the log cannot be trusted past here")
        previous, count = _digest(line), number
    return count, previous
