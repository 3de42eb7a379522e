"""The rotation state machine (docs/ROTATION.md): create -> set -> test -> finish, each step
recorded in the sealed file before the next one starts, so a rotation can be resumed or
abandoned after a failure or a crash. Also `rotate_due`, `configure_rotation` and `rollback`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from .. import paths
from ..access import Identities, WriteGate, authorize_write, open_sealed
from ..core import Opened, seal
from ..errors import SealerError, UsageError
from ..fsio import locked
from ..times import parse_interval, timestamp
from .rotators.base import ROTATORS, RotationError, Rotator, get_rotator
from .versions import (
    DEFAULT_KEEP,
    add_pending,
    drop_pending,
    is_due,
    next_id,
    promote,
    rotation_entries,
    stage_value,
    swap_previous,
)

__all__ = ["DueResult", "Outcome", "RotationFailed", "configure_rotation", "rollback",
           "rotate", "rotate_due"]

ORDER = ("create", "set", "test", "finish")


class Outcome(NamedTuple):
    file: Path
    key: str
    version: int
    action: str  # rotated, abandoned, rolled back
    notes: list[str]


class RotationFailed(SealerError):
    """A step failed; the file records it and CURRENT is untouched."""


class _State:
    """The file being rotated: its opened form, kept current after every write."""

    def __init__(self, file: Path, opened: Opened, key: str, now: datetime,
                 gate: WriteGate) -> None:
        self.path = paths.parse_path(key)
        self.file, self.opened, self.now, self.gate = file, opened, now, gate
        self.key = paths.format_path(self.path)

    @property
    def rotation(self) -> dict[str, Any]:
        entry = self.opened.document.metadata.get("keys", {}).get(self.key, {})
        rot = entry.get("rotation") if isinstance(entry, dict) else None
        if not isinstance(rot, dict):
            raise UsageError(f"{self.key} has no rotation settings", file=str(self.file),
                             hint=f"configure it: `sealer rotation configure {self.file} "
                                  f"{self.key} --every 30d`")
        return rot

    def write(self, plain: dict[str, Any], versions: dict[str, Any],
              rotation: dict[str, Any]) -> None:
        doc = self.opened.document
        metadata = _copy_tree(doc.metadata)
        metadata["keys"][self.key]["rotation"] = rotation
        new = seal(plain, previous=self.opened, metadata=metadata, versions=versions,
                   source=doc.source)
        self.gate.commit(doc, new)
        self.opened = Opened(new, self.opened.keys, self.opened.identity)


def _copy_tree(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy_tree(v) for v in node]
    return node


def rotate(file: Path, key: str, identities: Identities = None, *, resume: bool = False,
           abandon: bool = False, now: datetime | None = None,
           progress: Callable[[str], None] | None = None) -> Outcome:
    """Rotate one secret, or resume / abandon its rotation in progress."""
    if resume and abandon:
        raise UsageError("--resume and --abandon exclude each other")
    with locked(file):
        gate = authorize_write(file)  # before the target is touched: the result must be writable
        opened = open_sealed(file, identities, action="rotate", keys=[key])
        state = _State(file, opened, key, now or datetime.now(UTC).replace(microsecond=0), gate)
        try:
            paths.get(opened.document.data, state.path)
        except KeyError:
            raise UsageError(f"no key {key}", file=str(file)) from None
        pending = state.rotation.get("pending")
        if pending and not (resume or abandon):
            raise UsageError(f"a rotation of {key} is in progress (last step: "
                             f"{pending.get('step')})", file=str(file),
                             hint=_resume_hint(file, key))
        if (resume or abandon) and not pending:
            raise UsageError(f"no rotation of {key} is in progress", file=str(file))
        if abandon:
            return _abandon(state)
        return _run(state, progress or (lambda _: None))


def _resume_hint(file: Path, key: str) -> str:
    return (f"run `sealer rotate {file} {key} --resume` to retry, or "
            f"`sealer rotate {file} {key} --abandon` to drop the pending version")


def _settings(state: _State) -> dict[str, Any]:
    """The rotator's settings, with `admin: "KEYPATH"` / `"FILE#KEYPATH"` resolved."""
    settings = dict(state.rotation.get("settings") or {})
    admin = settings.get("admin")
    if isinstance(admin, str):
        settings["admin"] = _resolve_ref(state, admin)
    return settings


def _resolve_ref(state: _State, ref: str) -> Any:
    if "#" not in ref:
        try:
            return state.opened.value(paths.parse_path(ref))
        except KeyError:
            raise UsageError(f"settings.admin names {ref!r}, which is not a key",
                             file=str(state.file)) from None
    from ..files import get_value

    other, key = ref.split("#", 1)
    target = Path(other) if Path(other).is_absolute() else state.file.parent / other
    return get_value(target, key, [state.opened.identity] if state.opened.identity else None)


TRUST_UNSIGNED_ROTATORS = "SEALER_TRUST_UNSIGNED_ROTATORS"


def _rotator(state: _State) -> Rotator | None:
    """The rotator the file's metadata names, once its settings are authenticated.

    A rotator runs a command or connects to a database with settings from the file's metadata,
    which anyone holding the recipients' public keys can write (the MAC proves knowledge of
    the data key, not authorship). So it runs only when readers of this file require a
    signature by an accepted signer (the read gate has then verified one), or when the rotation
    host itself says to trust unsigned settings ($SEALER_TRUST_UNSIGNED_ROTATORS=1, from the
    host's environment, never from the repository).
    """
    import os

    from ..access import signer_rule
    from ..errors import PolicyError

    name = state.rotation.get("rotator")
    if not name:
        return None
    if signer_rule(state.file) is None and os.environ.get(TRUST_UNSIGNED_ROTATORS) != "1":
        raise PolicyError(
            f"{state.key}: rotator {name!r} and its settings come from metadata that no "
            "accepted signer vouches for (anyone with the public keys can write it); nothing "
            "was run", file=str(state.file),
            hint="require signatures for this environment (require_signature and signers in "
                 "sealer.yaml) or set SEALER_TRUSTED_SIGNERS on this host; to trust unsigned "
                 f"rotation settings on this host, set {TRUST_UNSIGNED_ROTATORS}=1")
    return get_rotator(name)


def _run(state: _State, progress: Callable[[str], None]) -> Outcome:
    rotator = _rotator(state)
    settings = _settings(state) if rotator else {}
    pending = state.rotation.get("pending")
    if not pending:
        _create(state, rotator, settings)
        progress("create")
    for step in ORDER[ORDER.index(state.rotation["pending"]["step"]) + 1:]:
        if step == "finish":
            _finish(state, rotator, settings)
        else:
            _step(state, rotator, settings, step)
        progress(step)
    rot = state.rotation
    return Outcome(state.file, state.key, int(rot["version"]), "rotated", [])


def _create(state: _State, rotator: Rotator | None, settings: dict[str, Any]) -> None:
    current = state.opened.value(state.path)
    if rotator is not None:
        value = rotator.create(current, settings)
    else:
        from .generators import generate

        gen = dict(state.rotation.get("generator") or {"kind": "password"})
        value = generate(str(gen.pop("kind", "password")), gen)
    rot = dict(state.rotation)
    vid = next_id(state.opened.versions(), state.key, rot)
    created = timestamp(state.now)
    rot["pending"] = {"version": vid, "step": "create", "started": created}
    versions = add_pending(state.opened.versions(), state.key, vid, value, created)
    state.write(state.opened.plaintext(), versions, rot)


def _pending_value(state: _State) -> Any:
    found = stage_value(state.opened.versions(), state.key, "PENDING")
    if found is None:
        raise SealerError(f"{state.key}: the rotation in progress has no PENDING version",
                          file=str(state.file), hint=f"run `sealer rotate {state.file} "
                                                     f"{state.key} --abandon`")
    return found[1]


def _step(state: _State, rotator: Rotator | None, settings: dict[str, Any], step: str) -> None:
    current, pending = state.opened.value(state.path), _pending_value(state)
    try:
        if rotator is not None and step == "set":
            rotator.set_secret(current, pending, settings)
        elif rotator is not None and step == "test":
            rotator.test_secret(pending, settings)
    except SealerError as exc:
        _record_failure(state, step, exc)
    rot = _copy_tree(state.rotation)
    rot["pending"]["step"] = step
    rot["pending"].pop("error", None)
    state.write(state.opened.plaintext(), state.opened.versions(), rot)


def _record_failure(state: _State, step: str, exc: SealerError) -> None:
    reason = exc.reason if isinstance(exc, RotationError) else exc.message
    target = exc.target if isinstance(exc, RotationError) else "the target"
    rot = _copy_tree(state.rotation)
    rot["pending"]["error"] = f"{step}: {reason}"
    state.write(state.opened.plaintext(), state.opened.versions(), rot)
    raise RotationFailed(f"rotation of {state.key} failed at step {step} for {target}: "
                         f"{reason}; CURRENT is unchanged", file=str(state.file),
                         hint=_resume_hint(state.file, state.key)) from None


def _finish(state: _State, rotator: Rotator | None, settings: dict[str, Any]) -> None:
    current, pending = state.opened.value(state.path), _pending_value(state)
    if rotator is not None:
        try:
            rotator.finish_secret(current, pending, settings)
        except SealerError as exc:
            _record_failure(state, "finish", exc)
    rot = dict(state.rotation)
    vid = int(rot.pop("pending")["version"])
    old_id = int(rot.get("version", 1))
    old_created = str(rot.get("rotated_at") or state.opened.document.header.created)
    versions = promote(state.opened.versions(), state.key, current, old_id, old_created,
                       int(rot.get("keep", DEFAULT_KEEP)))
    plain = state.opened.plaintext()
    paths.set_value(plain, state.path, pending)
    rot.update(version=vid, rotated_at=timestamp(state.now))
    state.write(plain, versions, rot)


def _abandon(state: _State) -> Outcome:
    """Drop PENDING; first make sure CURRENT works on the target again."""
    notes = []
    rotator = _rotator(state)
    if rotator is not None:
        current, pending = state.opened.value(state.path), _pending_value(state)
        settings = _settings(state)
        try:
            rotator.test_secret(current, settings)
        except SealerError:
            try:
                rotator.set_secret(pending, current, settings)
                rotator.test_secret(current, settings)
            except SealerError as exc:
                _record_failure(state, "set", exc)
            notes.append("the target had the PENDING credential; CURRENT was set back on it")
    rot = dict(state.rotation)
    rot.pop("pending")
    state.write(state.opened.plaintext(), drop_pending(state.opened.versions(), state.key), rot)
    return Outcome(state.file, state.key, int(rot.get("version", 1)), "abandoned", notes)


class DueResult(NamedTuple):
    file: Path
    key: str
    error: str | None


def rotate_due(files: Sequence[Path], identities: Identities = None, *,
               now: datetime | None = None,
               progress: Callable[[str], None] | None = None) -> list[DueResult]:
    """Rotate every due secret, one after another; a failure is reported, not fatal."""
    from ..document import read_sealed
    from ..sealedfiles import sealed_files

    now = now or datetime.now(UTC).replace(microsecond=0)
    say = progress or (lambda _: None)
    results = []
    for file in sealed_files(files):
        for key, rot in rotation_entries(read_sealed(file).metadata):
            if not key or (not is_due(rot, now) and not rot.get("pending")):
                continue  # key "" is the file's own entry: an expiry date, nothing to rotate
            say(f"{file}: rotating {key}")
            try:
                rotate(file, key, identities, now=now, resume=bool(rot.get("pending")))
            except SealerError as exc:
                say(f"{file}: {key} failed: {exc.message}")
                results.append(DueResult(file, key, exc.message))
                continue
            say(f"{file}: {key} rotated")
            results.append(DueResult(file, key, None))
    return results


def configure_rotation(file: Path, key: str, identities: Identities = None, *, every: str,
                       rotator: str | None = None, settings: dict[str, Any] | None = None,
                       generator: dict[str, Any] | None = None,
                       keep: int | None = None) -> None:
    """Write `metadata.keys[KEY].rotation`, keeping its progress fields (rotated_at, …)."""
    parse_interval(every, what="--every")
    key = paths.format_path(paths.parse_path(key))
    if rotator is not None and rotator not in ROTATORS:
        raise UsageError(f"unknown rotator {rotator!r}", hint=f"use one of: {', '.join(ROTATORS)}")
    with locked(file):
        gate = authorize_write(file)
        opened = open_sealed(file, identities, action="rotation-configure", keys=[key])
        try:
            paths.get(opened.document.data, paths.parse_path(key))
        except KeyError:
            raise UsageError(f"no key {key}; nothing was written", file=str(file),
                             hint=f"`sealer show {file}` lists the keys") from None
        metadata = _copy_tree(opened.document.metadata)
        entry = metadata.setdefault("keys", {}).setdefault(key, {})
        rot = {k: v for k, v in (entry.get("rotation") or {}).items()
               if k in ("rotated_at", "version", "pending", "expires")}
        new = {"every": every, "rotator": rotator, "generator": generator,
               "settings": settings or None, "keep": keep}
        entry["rotation"] = {**{k: v for k, v in new.items() if v is not None}, **rot}
        doc = seal(opened.plaintext(), previous=opened, metadata=metadata, source=str(file))
        gate.commit(opened.document, doc)


def rollback(file: Path, key: str, identities: Identities = None, *,
             now: datetime | None = None) -> Outcome:
    """PREVIOUS becomes CURRENT and CURRENT becomes PREVIOUS. For a rotator-backed secret the
    old value is set on the target first (and tested), so the file never names a credential
    the target refuses."""
    with locked(file):
        gate = authorize_write(file)  # before the target is touched
        opened = open_sealed(file, identities, action="rollback", keys=[key])
        state = _State(file, opened, key, now or datetime.now(UTC).replace(microsecond=0), gate)
        rot = dict(state.rotation)
        if rot.get("pending"):
            raise UsageError(f"a rotation of {key} is in progress", file=str(file),
                             hint=_resume_hint(file, key))
        current = opened.value(state.path)
        old_created = str(rot.get("rotated_at") or opened.document.header.created)
        versions, prev_id, previous = swap_previous(opened.versions(), key, current,
                                                    int(rot.get("version", 1)), old_created)
        rotator = _rotator(state)
        notes = []
        if rotator is not None:
            settings = _settings(state)
            rotator.set_secret(current, previous, settings)
            rotator.test_secret(previous, settings)
            notes.append(f"PREVIOUS was set back on the {rot['rotator']} target")
        plain = opened.plaintext()
        paths.set_value(plain, state.path, previous)
        rot["version"] = prev_id
        state.write(plain, versions, rot)
        return Outcome(file, key, prev_id, "rolled back", notes)
