"""Freshness at deploy (docs/SECURITY.md): an older *signed* version of a file, replayed in place of
a newer one, still verifies — so a deploy host with a trust anchor remembers the highest serial it
has opened for each sealed file id, and refuses to go back.

State lives on the host, never in the repository: `$SEALER_STATE_DIR/serials.json`, else
`$XDG_STATE_HOME/sealer/serials.json` (0600, in a 0700 directory, replaced atomically under a
lock). Only readers with `SEALER_TRUSTED_SIGNERS` set consult it; `SEALER_ALLOW_ROLLBACK=1`
accepts an older version once, on purpose, and records it as the new floor.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from .document import SealedDocument
from .errors import IntegrityError

__all__ = ["RollbackError", "check_and_record", "state_path"]

MAX_ENTRIES = 100_000  # one small entry per file id a host has opened


class RollbackError(IntegrityError):
    """An older version of a file than this host has already opened."""


def state_path() -> Path:
    explicit = os.environ.get("SEALER_STATE_DIR", "")
    if explicit:
        return Path(explicit) / "serials.json"
    base = os.environ.get("XDG_STATE_HOME", "")
    home = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return home / "sealer" / "serials.json"


def check_and_record(document: SealedDocument) -> None:
    """Refuse `document` when this host has opened a higher serial of its id; else remember its
    serial when it is the highest yet."""
    path = state_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        seen = _load(path)
        header = document.header
        floor = seen.get(header.id, 0)
        if header.serial < floor and os.environ.get("SEALER_ALLOW_ROLLBACK") != "1":
            raise RollbackError(
                f"serial {header.serial} is older than serial {floor}, which this host has "
                "already opened: an older signed version is being replayed", file=document.source,
                hint="deploy the current version; to go back on purpose, run once with "
                     "SEALER_ALLOW_ROLLBACK=1")
        if header.serial != floor:
            seen[header.id] = header.serial
            _store(path, seen)
    finally:
        os.close(lock)


def _load(path: Path) -> dict[str, int]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable state starts over; it only ever raises the floor again
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and type(v) is int}


def _store(path: Path, seen: dict[str, int]) -> None:
    if len(seen) > MAX_ENTRIES:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(seen, fh, separators=(",", ":"), sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)
