"""Rotation settings and versions (docs/FORMAT.md §10): intervals, due dates, status rows, and
the label moves on the plaintext `versions` lists (PENDING, PREVIOUS; CURRENT lives in `data`).

Everything here works on metadata or on plaintext trees; nothing needs a key except what the
callers pass in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import UsageError
from ..times import after, parse_interval, parse_time, timestamp

__all__ = [
    "DEFAULT_KEEP",
    "StatusRow",
    "add_pending",
    "drop_pending",
    "due_date",
    "is_due",
    "next_id",
    "promote",
    "rotation_entries",
    "rotation_status",
    "stage_value",
    "swap_previous",
]

DEFAULT_KEEP = 3
DUE_SOON = timedelta(days=7)

Versions = dict[str, list[dict[str, Any]]]


def rotation_entries(metadata: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(key path text, rotation settings) of every key with rotation settings."""
    keys = metadata.get("keys")
    out = [("", metadata["rotation"])] if isinstance(metadata.get("rotation"), dict) else []
    if not isinstance(keys, dict):
        return out
    return out + [(k, e["rotation"]) for k, e in keys.items()
                  if isinstance(e, dict) and isinstance(e.get("rotation"), dict)]


def due_date(rotation: dict[str, Any]) -> datetime | None:
    """rotated_at + every; None when never rotated or without `every`."""
    rotated = parse_time(rotation.get("rotated_at"))
    every = rotation.get("every")
    if rotated is None or not isinstance(every, str):
        return None
    return after(rotated, parse_interval(every, what="rotation interval"))


def is_due(rotation: dict[str, Any], now: datetime) -> bool:
    """Due: the due date has passed, or it has `every` and was never rotated."""
    if "every" not in rotation:
        return False
    due = due_date(rotation)
    return due is None or due <= now


class StatusRow(NamedTuple):
    file: str
    key: str
    rotated_at: str | None
    due: str | None
    days_left: int | None
    state: str  # ok, due soon, overdue, expired, never rotated, in progress

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


def rotation_status(files: Sequence[Path], *, now: datetime | None = None,
                    due_within: timedelta = DUE_SOON) -> list[StatusRow]:
    """One row per secret with rotation settings, from metadata only (no key needed)."""
    from ..document import read_sealed
    from ..sealedfiles import sealed_files

    now = now or datetime.now(UTC)
    rows = []
    for file in sealed_files(files):
        metadata = read_sealed(file).metadata
        rows += [_row(str(file), key, rot, now, due_within)
                 for key, rot in rotation_entries(metadata)]
    return rows


def _row(file: str, key: str, rot: dict[str, Any], now: datetime,
         due_within: timedelta) -> StatusRow:
    due = due_date(rot)
    expires = parse_time(rot.get("expires"))
    days = None if due is None else (due - now).days
    if isinstance(rot.get("pending"), dict):
        state = "in progress"
    elif expires is not None and expires <= now:
        state = "expired"
    elif due is None and expires is not None:  # a hard end only (a TLS certificate)
        state = "due soon" if expires - now <= due_within else "ok"
    elif due is None:
        state = "never rotated" if rot.get("rotated_at") is None else "ok"
    elif due <= now:
        state = "overdue"
    elif due - now <= due_within or (expires is not None and expires - now <= due_within):
        state = "due soon"
    else:
        state = "ok"
    return StatusRow(file, key, rot.get("rotated_at"), timestamp(due) if due else None,
                     days, state)


# -- versions (plaintext form: {id, stages, created, value}) --------------------------------


def next_id(versions: Versions, key: str, rotation: dict[str, Any]) -> int:
    """One more than the highest version id in use (CURRENT's included)."""
    ids = [int(e["id"]) for e in versions.get(key, [])]
    return max([int(rotation.get("version", 1)), *ids]) + 1


def add_pending(versions: Versions, key: str, vid: int, value: Any, created: str) -> Versions:
    entries = [e for e in versions.get(key, []) if e["id"] != vid]
    entries.append({"id": vid, "stages": ["PENDING"], "created": created, "value": value})
    return {**versions, key: sorted(entries, key=lambda e: int(e["id"]))}


def drop_pending(versions: Versions, key: str) -> Versions:
    entries = [e for e in versions.get(key, []) if "PENDING" not in e["stages"]]
    return _with(versions, key, entries)


def stage_value(versions: Versions, key: str, stage: str) -> tuple[int, Any] | None:
    """(id, value) of the version labelled `stage`, or None."""
    for entry in versions.get(key, []):
        if stage in entry["stages"]:
            return entry["id"], entry["value"]
    return None


def promote(versions: Versions, key: str, old_current: Any, old_id: int, old_created: str,
            keep: int) -> Versions:
    """Finish: PENDING leaves the list (it goes to `data`), the old CURRENT becomes PREVIOUS,
    the earlier PREVIOUS loses its label, and only the newest `keep` versions stay."""
    entries = [{**e, "stages": []} for e in versions.get(key, [])
               if "PENDING" not in e["stages"]]
    entries.append({"id": old_id, "stages": ["PREVIOUS"], "created": old_created,
                    "value": old_current})
    entries.sort(key=lambda e: int(e["id"]))
    return _with(versions, key, entries[-keep:] if keep > 0 else [])


def swap_previous(versions: Versions, key: str, current: Any, current_id: int,
                  current_created: str) -> tuple[Versions, int, Any]:
    """Rollback: (versions with CURRENT as PREVIOUS, the old PREVIOUS's id and value)."""
    found = stage_value(versions, key, "PREVIOUS")
    if found is None:
        raise UsageError(f"{key} has no PREVIOUS version to roll back to")
    prev_id, prev_value = found
    entries = [e for e in versions.get(key, []) if e["id"] != prev_id]
    entries.append({"id": current_id, "stages": ["PREVIOUS"], "created": current_created,
                    "value": current})
    entries.sort(key=lambda e: int(e["id"]))
    return _with(versions, key, entries), prev_id, prev_value


def _with(versions: Versions, key: str, entries: list[dict[str, Any]]) -> Versions:
    out = {k: v for k, v in versions.items() if k != key}
    if entries:
        out[key] = entries
    return out
