"""The audit trail of decryption: one JSON line per decrypting operation, hash-chained.

Each entry records time, action, file, key paths, the identity's public recipient, user, host
and outcome — never a value. Each carries `prev`, the SHA-256 of the previous line, so editing,
deleting or reordering lines breaks the chain (`verify`). Removing lines from the end cannot be
seen from the log alone: keep the head hash `verify` prints somewhere else to detect that.

Where: $SEALER_AUDIT_LOG, else `audit.path` in sealer.yaml, else
$XDG_STATE_HOME/sealer/audit.log. With `audit.required: true` (or SEALER_AUDIT_REQUIRED=1) a
decryption fails closed when its entry cannot be written, as Vault's audit devices do.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from .errors import SealerError

__all__ = ["AuditError", "Settings", "entries", "log_path", "record", "settings_for", "verify"]

GENESIS = "0" * 64


class AuditError(SealerError):
    """The audit log could not be written (fail closed) or does not verify."""


class Settings(NamedTuple):
    path: Path
    required: bool


def _state_home() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    return Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"


def log_path() -> Path:
    override = os.environ.get("SEALER_AUDIT_LOG", "")
    return Path(override) if override else _state_home() / "sealer" / "audit.log"


def settings_for(file: Path) -> Settings:
    """The audit settings that govern `file` (environment first, then its sealer.yaml).

    Only the `audit:` block is read here, without validating the whole file: a one-key `get`
    must not pay for JSON Schema (check and seal validate sealer.yaml fully).
    """
    from .config import raw_chain

    required = os.environ.get("SEALER_AUDIT_REQUIRED") == "1"
    path = log_path()
    chain = raw_chain(file)
    found = chain[0] if chain else None
    blocks = [raw.get("audit") for _path, raw in chain]
    audit: Any = blocks[0] if blocks else None
    audit = audit if isinstance(audit, dict) else {}
    # a nested sealer.yaml cannot turn off what one above it requires
    required = required or any(isinstance(b, dict) and b.get("required") is True
                               for b in blocks)
    if audit.get("path") and not os.environ.get("SEALER_AUDIT_LOG") and found is not None:
        from .config import contained_path

        # the repository may choose a log inside itself, never a file elsewhere (check reports
        # a path outside as a configuration error; readers keep the default location)
        path = contained_path(found[0].parent, audit["path"]) or path
    return Settings(path, required or audit.get("required") is True)


def _digest(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _last_line(fd: int) -> bytes | None:
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None
    chunk = min(size, 65536)
    data = os.pread(fd, chunk, size - chunk)
    lines = data.rstrip(b"\n").split(b"\n")
    return lines[-1]


def record(action: str, file: Path, *, keys: Sequence[str] = (), recipient: str | None,
           outcome: str, settings: Settings | None = None) -> None:
    """Append one entry. Raises AuditError only when the log is required."""
    settings = settings or settings_for(file)
    entry = {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": action, "file": str(Path(file).absolute()), "keys": list(keys),
        "recipient": recipient, "user": _user(), "host": socket.gethostname(),
        "outcome": outcome,
    }
    try:
        _append(settings.path, entry)
    except OSError as exc:
        if settings.required:
            raise AuditError(f"cannot write the audit log: {exc.strerror}; nothing was "
                             "decrypted", file=str(settings.path),
                             hint="audit.required is set: fix the log's location or "
                                  "permissions") from None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _append(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one writer at a time: prev is the real last line
        last = _last_line(fd)
        entry["prev"] = _digest(last) if last is not None else GENESIS
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        os.write(fd, line)  # O_APPEND and one write: never interleaved with another line
        os.fsync(fd)
    finally:
        os.close(fd)


def entries(path: Path) -> Iterator[dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AuditError(f"cannot read the audit log: {exc.strerror}", file=str(path)) from None
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            raise AuditError(f"line {number} is not a JSON entry", file=str(path)) from None


def verify(path: Path) -> tuple[int, str]:
    """Check the chain; return (entries, head hash) or raise AuditError naming the line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read the audit log: {exc.strerror}", file=str(path)) from None
    previous = GENESIS
    lines = raw.splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            prev = json.loads(line).get("prev")
        except (json.JSONDecodeError, AttributeError):
            prev = None
        if prev != previous:
            raise AuditError(f"the chain breaks at line {number}: an entry before it was "
                             "edited, removed or moved", file=str(path),
                             hint="compare with a backup; the log cannot be trusted past here")
        previous = _digest(line)
    return len(lines), previous
