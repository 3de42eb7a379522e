"""Rotation settings and versions (docs/FORMAT.md §10): intervals, due dates, status rows, and
the label moves on the plaintext `versions` lists (PENDING, PREVIOUS; CURRENT lives in `data`).

Everything here works on metadata or on plaintext trees; nothing needs a key except what the
callers pass in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import UsageError
from ..times import parse_time, timestamp
from .schedule import Window, next_window, schedule_of

if TYPE_CHECKING:
    from ..core import Opened

__all__ = [
    "DEFAULT_KEEP",
    "Current",
    "StatusRow",
    "VersionId",
    "WriteIntent",
    "add_pending",
    "current_of",
    "drop_pending",
    "due_date",
    "find_version",
    "is_due",
    "keep_versions",
    "make_current",
    "new_version_id",
    "prune",
    "replayed",
    "rotation_entries",
    "rotation_status",
    "same_value",
    "stage_value",
    "versioned_write",
    "with_current",
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
    """When the next rotation window opens (sealer.rotation.schedule): rotated_at + `every` or
    `rate()`, or the first `cron()` time after rotated_at; None when never rotated or without a
    schedule. A malformed schedule is a UsageError naming the field."""
    window = next_window(rotation)
    return window.start if window else None


def is_due(rotation: dict[str, Any], now: datetime) -> bool:
    """Due: its window has opened, or it has a schedule and was never rotated."""
    if schedule_of(rotation) is None:
        return False
    due = due_date(rotation)
    return due is None or due <= now


class StatusRow(NamedTuple):
    file: str
    key: str
    rotated_at: str | None
    due: str | None
    days_left: int | None
    state: str  # ok, due soon, due, overdue, expired, never rotated, in progress, invalid
    schedule: str | None = None  # `every` or the schedule expression, as written
    window_start: str | None = None  # the next window (the due date) ...
    window_end: str | None = None  # ... and when it closes

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
    from ..errors import SealerError

    try:
        schedule, window = schedule_of(rot), next_window(rot)
    except SealerError:  # `check` reports why; status says which secret
        return StatusRow(file, key, _text(rot.get("rotated_at")), None, None, "invalid")
    due = window.start if window else None
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
        state = "due" if window and now < window.end else "overdue"  # the window is open
    elif due - now <= due_within or (expires is not None and expires - now <= due_within):
        state = "due soon"
    else:
        state = "ok"
    return StatusRow(file, key, rot.get("rotated_at"), timestamp(due) if due else None,
                     days, state, schedule.text if schedule else None, *_stamps(window))


def _stamps(window: Window | None) -> tuple[str | None, str | None]:
    return (timestamp(window.start), timestamp(window.end)) if window else (None, None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- versions (plaintext form: {id, stages, created, value}) --------------------------------
#
# As AWS Secrets Manager keeps them: every version is immutable (its id, value and creation time
# never change); labels move between versions. CURRENT is the value in `data`; its id, creation
# time and any further labels are in the key's rotation settings (`version`, `created`,
# `labels`). Versions of older files have integer ids and no `created`: theirs is read as
# `rotated_at`, else the file's creation time, and kept from then on.

VersionId = int | str


class Current(NamedTuple):
    id: VersionId
    created: str
    labels: list[str]


def current_of(rotation: dict[str, Any], file_created: str) -> Current:
    """CURRENT's id, creation time and further labels, from the key's rotation settings."""
    created = rotation.get("created") or rotation.get("rotated_at") or file_created
    return Current(rotation.get("version", 1), str(created), list(rotation.get("labels") or []))


def with_current(rotation: dict[str, Any], vid: VersionId, created: str,
                 labels: Sequence[str] = ()) -> dict[str, Any]:
    """`rotation` naming a new CURRENT."""
    out = {k: v for k, v in rotation.items() if k != "labels"}
    out.update(version=vid, created=created)
    if labels:
        out["labels"] = list(labels)
    return out


def new_version_id() -> str:
    """A fresh version id: a UUID, as AWS Secrets Manager's VersionId."""
    import uuid

    return str(uuid.uuid4())


def add_pending(versions: Versions, key: str, vid: VersionId, value: Any,
                created: str) -> Versions:
    entries = [e for e in versions.get(key, []) if str(e["id"]) != str(vid)]
    entries.append({"id": vid, "stages": ["PENDING"], "created": created, "value": value})
    return _with(versions, key, entries)


def drop_pending(versions: Versions, key: str) -> Versions:
    entries = [e for e in versions.get(key, []) if "PENDING" not in e["stages"]]
    return _with(versions, key, entries)


def stage_value(versions: Versions, key: str, stage: str) -> tuple[VersionId, Any] | None:
    """(id, value) of the version labelled `stage`, or None."""
    for entry in versions.get(key, []):
        if stage in entry["stages"]:
            return entry["id"], entry["value"]
    return None


def find_version(versions: Versions, key: str, vid: VersionId) -> dict[str, Any] | None:
    """The listed (non-CURRENT) version `vid` of `key`; ids compare as text (`2` is 2)."""
    for entry in versions.get(key, []):
        if str(entry["id"]) == str(vid):
            return entry
    return None


def make_current(versions: Versions, key: str, rotation: dict[str, Any], file_created: str, *,
                 old_value: Any, new_id: VersionId, new_created: str,
                 new_labels: Sequence[str] = (), keep: int = DEFAULT_KEEP
                 ) -> tuple[Versions, dict[str, Any]]:
    """Move CURRENT to version `new_id` (whose value the caller puts in `data`): the old
    CURRENT becomes a listed version labelled PREVIOUS (keeping its own further labels), the
    earlier PREVIOUS loses that label, `new_id` leaves the list if it was in it, and unlabelled
    versions beyond `keep` are pruned, oldest first (AWS: labelled versions are never pruned).
    Returns (versions, rotation settings)."""
    old = current_of(rotation, file_created)
    entries = [{**e, "stages": [s for s in e["stages"] if s != "PREVIOUS"]}
               for e in versions.get(key, []) if str(e["id"]) != str(new_id)]
    entries.append({"id": old.id, "stages": ["PREVIOUS", *old.labels], "created": old.created,
                    "value": old_value})
    return (_with(versions, key, prune(entries, keep)),
            with_current(rotation, new_id, new_created, new_labels))


def prune(entries: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    """Every labelled version, and the newest `keep` unlabelled ones; oldest first."""
    unlabelled = [e for e in entries if not e["stages"]]
    unlabelled.sort(key=_age)
    dropped = {id(e) for e in unlabelled[:max(len(unlabelled) - max(keep, 0), 0)]}
    return sorted((e for e in entries if id(e) not in dropped), key=_age)


def _age(entry: dict[str, Any]) -> str:
    """Oldest first; versions created in the same second keep their order (the sort is
    stable, and a new version is always appended)."""
    return str(entry["created"])


def _with(versions: Versions, key: str, entries: list[dict[str, Any]]) -> Versions:
    out = {k: v for k, v in versions.items() if k != key}
    if entries:
        out[key] = sorted(entries, key=_age)
    return out


# -- writes of a versioned key (AWS: PutSecretValue) ----------------------------------------


class WriteIntent(NamedTuple):
    """What the user said about a write that changes a rotated key.

    `token`: the new version's id (AWS's ClientRequestToken): a retry with the same token and
    value is a no-op, the same token with another value is refused. `file_only`: the key has a
    rotator and its target already has the new value (else such a write is refused: the file
    would name a credential the target refuses). `allow_revert`: write an older version's value
    as a new version (else refused: that is what re-sealing a stale plaintext copy does)."""

    token: str | None = None
    file_only: bool = False
    allow_revert: bool = False


def versioned_write(previous: Opened, plain: dict[str, Any], metadata: dict[str, Any], *,
                    file: Path, now: datetime | None = None,
                    intent: WriteIntent | None = None
                    ) -> tuple[dict[str, Any], Versions] | None:
    """For every rotated key whose value this write changes: a new immutable version becomes
    CURRENT, the old CURRENT becomes PREVIOUS (FORMAT.md §10). Returns (metadata, versions) to
    seal with, or None when no rotated key changes. Refuses (UsageError, nothing written) a
    change during a rotation in progress, a change of a rotator-backed key without
    `intent.file_only`, and a value some older version had without `intent.allow_revert`."""
    from .. import paths
    from ..document import VERSION_ID

    intent = intent or WriteIntent()
    if intent.token is not None and not VERSION_ID.match(intent.token):
        raise UsageError("--client-request-token must be 32-64 letters, digits, - or _ "
                         "(a UUID works)", file=str(file))
    old_plain = previous.plaintext()
    versions = previous.versions()
    stamp = timestamp(now or datetime.now(UTC))
    out_meta, changed = metadata, False
    for key, rot in rotation_entries(metadata):
        if not key:
            continue
        try:
            before = paths.get(old_plain, paths.parse_path(key))
            after_ = paths.get(plain, paths.parse_path(key))
        except KeyError:
            continue  # a new key has no history; an unset one loses its versions
        if same_value(before, after_):
            continue
        _may_change(key, rot, versions, after_, file, intent)
        vid = intent.token or new_version_id()
        if find_version(versions, key, vid) is not None or str(vid) == str(rot.get("version")):
            raise UsageError(f"{key}: version {vid} already exists with another value "
                             "(AWS: ResourceExistsException); nothing was written",
                             file=str(file), hint="use a new --client-request-token")
        keep = keep_versions(rot, file)
        versions, new_rot = make_current(versions, key, rot, previous.document.header.created,
                                         old_value=before, new_id=vid, new_created=stamp,
                                         keep=keep)
        new_rot["rotated_at"] = stamp  # a new value is in place: its age starts now
        out_meta = _with_rotation(out_meta, key, new_rot)
        changed = True
    return (out_meta, versions) if changed else None


def replayed(previous: Opened, key: str, token: str | None) -> bool:
    """A retry of a write that already happened: CURRENT of `key` is the version `token`."""
    if token is None:
        return False
    for text, rot in rotation_entries(previous.document.metadata):
        if text == key and str(rot.get("version")) == token:
            return True
    return False


def _may_change(key: str, rot: dict[str, Any], versions: Versions, value: Any, file: Path,
                intent: WriteIntent) -> None:
    if isinstance(rot.get("pending"), dict):
        raise UsageError(f"a rotation of {key} is in progress; nothing was written",
                         file=str(file), hint=f"finish it (`sealer rotate {file} {key} "
                                              "--resume`) or drop it (`--abandon`) first")
    if rot.get("rotator") and not intent.file_only:
        raise UsageError(f"{key} is rotated by the {rot['rotator']} rotator: changing only the "
                         "file would leave it naming a credential the target refuses; nothing "
                         "was written", file=str(file),
                         hint=f"rotate it (`sealer rotate {file} {key}`), or pass --file-only "
                              "if the target already has this value")
    if intent.allow_revert:
        return
    for entry in versions.get(key, []):
        if same_value(entry["value"], value):
            labels = ", ".join(entry["stages"]) or "no label"
            raise UsageError(f"{key}: this is the value of the older version {entry['id']} "
                             f"({labels}, created {entry['created']}), not of CURRENT "
                             f"(version {rot.get('version', 1)}): writing it would revert a "
                             "rotation; nothing was written", file=str(file),
                             hint="re-read the current value (a plaintext copy made before "
                                  f"the rotation is stale); `sealer rollback {file} {key}` goes "
                                  "back to PREVIOUS on purpose; --allow-revert writes it as a "
                                  "new version")


def same_value(a: Any, b: Any) -> bool:
    """Equal as sealer stores them: types count (1, 1.0, True and "1" all differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def keep_versions(rotation: dict[str, Any], file: Path) -> int:
    """Unlabelled versions kept: the key's `keep`, else sealer.yaml's `keep_versions`, else 3."""
    if isinstance(rotation.get("keep"), int) and not isinstance(rotation["keep"], bool):
        return int(rotation["keep"])
    from ..config import environment_settings

    found = environment_settings(file).get("keep_versions")
    return found if isinstance(found, int) and not isinstance(found, bool) else DEFAULT_KEEP


def _with_rotation(metadata: dict[str, Any], key: str, rotation: dict[str, Any]
                   ) -> dict[str, Any]:
    keys = {**metadata.get("keys", {})}
    keys[key] = {**keys[key], "rotation": rotation}
    return {**metadata, "keys": keys}
