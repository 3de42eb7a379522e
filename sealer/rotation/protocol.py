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
from ..times import timestamp
from .rotators.base import ROTATORS, RotationError, Rotator, get_rotator
from .schedule import check_settings
from .versions import (
    VersionId,
    add_pending,
    current_of,
    drop_pending,
    find_version,
    is_due,
    keep_versions,
    make_current,
    new_version_id,
    rotation_entries,
    stage_value,
    with_current,
)

__all__ = ["DueResult", "Outcome", "RotationFailed", "RotationInterrupted", "configure_rotation",
           "move_stage", "put_pending", "rollback", "rotate", "rotate_due", "rotate_keys"]

ORDER = ("create", "set", "test", "finish")


class Outcome(NamedTuple):
    file: Path
    key: str
    version: VersionId
    action: str  # rotated, abandoned, rolled back
    notes: list[str]


class RotationFailed(SealerError):
    """A step failed; the file records it and CURRENT is untouched."""


class RotationInterrupted(KeyboardInterrupt):
    """Ctrl-C or a termination signal during a rotation. `args[0]` is a SealerError saying
    what the file records now (and the target, when it may already have PENDING), with the
    `--resume` hint; the CLI shows it and exits 130."""


class _State:
    """The file being rotated: its opened form, kept current after every write."""

    def __init__(self, file: Path, opened: Opened, key: str, now: datetime,
                 gate: WriteGate) -> None:
        self.path = paths.parse_path(key)
        self.file, self.opened, self.now, self.gate = file, opened, now, gate
        self.key = paths.format_path(self.path)
        # What the target holds that the file may not record yet (None: nothing), and the
        # command that finishes the job: said when a write fails or a signal interrupts.
        self.target: tuple[str, str] | None = None
        self.wrote = False  # this run has written the file

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
        try:
            self.gate.commit(doc, new)
        except SealerError as exc:
            if self.target is None:
                raise
            raise self.unrecorded(exc) from None
        self.opened = Opened(new, self.opened.keys, self.opened.identity)
        self.wrote = True

    def target_has(self, what: str, then: str) -> None:
        """Say that the target has (or may have) `what`; `then` is the flag that continues."""
        name = self.rotation.get("rotator") or "rotator"
        self.target = (f"the {name} target {what}", then)

    def recorded(self) -> str:
        """What the file on disk records of this rotation, in words."""
        pending = self.rotation.get("pending")
        if not pending:
            return "no rotation is recorded"
        return (f"the file records step {pending.get('step')} with version "
                f"{pending.get('version')} as PENDING; CURRENT is unchanged")

    def unrecorded(self, exc: SealerError) -> RotationFailed:
        """A write failed after the target changed (a full disk): say what each side has."""
        assert self.target is not None
        what, then = self.target
        reason = exc.message.removesuffix("; the previous version is unchanged")
        first = f"{exc.hint}, then run" if exc.hint else "run"
        return RotationFailed(
            f"rotation of {self.key}: {what}, but the file could not be written ({reason}); "
            f"{self.recorded()}", file=str(self.file),
            hint=f"{first} `sealer rotate {self.file} {self.key} {then}` to bring the file "
                 "up to date (each step is safe to repeat)")


def _copy_tree(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy_tree(v) for v in node]
    return node


def rotate(file: Path, key: str, identities: Identities = None, *, resume: bool = False,
           abandon: bool = False, now: datetime | None = None,
           progress: Callable[[str], None] | None = None,
           wait_for: Sequence[str] | None = None) -> Outcome:
    """Rotate one secret, or resume / abandon its rotation in progress.

    `wait_for`: a command (argv, from the operator, never from the repository) run after test
    and before finish; finish waits until it exits 0, so a deploy hook can roll PENDING out to
    the applications first (the single-user window, docs/ROTATION.md). It gets
    $SEALER_ROTATION_FILE, $SEALER_ROTATION_KEY and $SEALER_ROTATION_VERSION, never a value
    (`sealer get FILE KEY --stage pending` reads it). A failure leaves the rotation at test,
    resumable."""
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
        try:
            if abandon:
                return _abandon(state)
            return _run(state, progress or (lambda _: None), wait_for)
        except KeyboardInterrupt:
            raise RotationInterrupted(_interrupted(state, pending)) from None


def _interrupted(state: _State, started: Any) -> SealerError:
    """What an interrupted rotation leaves, from the file on disk (a signal can land between
    the write and the note of it)."""
    from ..document import read_sealed

    try:
        entry = read_sealed(state.file).metadata.get("keys", {}).get(state.key, {})
        rot = entry.get("rotation") if isinstance(entry, dict) else None
    except SealerError:
        rot = None
    rot = rot if isinstance(rot, dict) else state.rotation
    pending = rot.get("pending")
    if pending:
        target = f"; {state.target[0]}" if state.target else ""
        return SealerError(
            f"interrupted; the rotation of {state.key} is recorded up to step "
            f"{pending.get('step')}: version {pending.get('version')} is PENDING and CURRENT "
            f"is unchanged{target}", file=str(state.file),
            hint=_resume_hint(state.file, state.key))
    if started or state.wrote:
        return SealerError(f"interrupted, but the rotation of {state.key} had ended: version "
                           f"{rot.get('version', 1)} is CURRENT", file=str(state.file))
    return SealerError(f"interrupted before the rotation of {state.key} was recorded; nothing "
                       "was written", file=str(state.file))


def _resume_hint(file: Path, key: str) -> str:
    return (f"run `sealer rotate {file} {key} --resume` to retry, or "
            f"`sealer rotate {file} {key} --abandon` to drop the pending version")


def _settings(state: _State) -> dict[str, Any]:
    """The rotator's settings, with `admin: "KEYPATH"` / `"FILE#KEYPATH"` resolved. Without an
    admin setting, the secret's own `masterarn` (AWS's admin reference for alternating users)
    names it, in the same form."""
    settings = dict(state.rotation.get("settings") or {})
    admin = settings.get("admin")
    if admin is None:
        current = state.opened.value(state.path)
        master = current.get("masterarn") if isinstance(current, dict) else None
        if isinstance(master, str) and master:
            if master.startswith("arn:"):
                raise UsageError(f"{state.key}: masterarn is an AWS secret ARN; sealer reads "
                                 "the admin credential from a sealed file", file=str(state.file),
                                 hint='set masterarn (or settings.admin) to "KEYPATH" or '
                                      '"OTHERFILE.sealed.yaml#KEYPATH"')
            admin = master
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
    target = _inside_repository(state, other)
    return get_value(target, key, [state.opened.identity] if state.opened.identity else None)


def _inside_repository(state: _State, other: str) -> Path:
    """`other` (relative to the file's directory) as a sealed file in the same work tree (or
    directory, outside git): a repository's settings never name a file elsewhere."""
    from ..git import work_tree_of

    root = (work_tree_of(state.file) or state.file.parent).resolve()
    candidate = (state.file.parent / other).resolve()
    if Path(other).is_absolute() or not candidate.is_relative_to(root):
        raise UsageError(f"{state.key}: the admin reference {other!r} leads outside the "
                         "repository", file=str(state.file),
                         hint="name a sealed file in the same repository, relative to this one")
    return candidate


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


def _run(state: _State, progress: Callable[[str], None],
         wait_for: Sequence[str] | None = None) -> Outcome:
    rotator = _rotator(state)
    settings = _settings(state) if rotator else {}
    pending = state.rotation.get("pending")
    if not pending:
        _create(state, rotator, settings)
        progress("create")
    elif rotator is not None and pending.get("step") in ("set", "test"):
        state.target_has("already has the new credential (PENDING)", "--resume")
    for step in ORDER[ORDER.index(state.rotation["pending"]["step"]) + 1:]:
        if step == "finish":
            if wait_for:
                _wait_for(state, wait_for)
                progress("wait-for")
            _finish(state, rotator, settings)
        else:
            _step(state, rotator, settings, step)
        progress(step)
    rot = state.rotation
    return Outcome(state.file, state.key, rot["version"], "rotated", [])


def _create(state: _State, rotator: Rotator | None, settings: dict[str, Any]) -> None:
    current = state.opened.value(state.path)
    if rotator is not None:
        value = rotator.create(current, settings)
    else:
        from .generators import generate

        gen = dict(state.rotation.get("generator") or {"kind": "password"})
        value = generate(str(gen.pop("kind", "password")), gen)
    rot = dict(state.rotation)
    vid = new_version_id()
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
            state.target_has("may already have the new credential (PENDING)", "--resume")
            rotator.set_secret(current, pending, settings)
            state.target_has("already has the new credential (PENDING)", "--resume")
        elif rotator is not None and step == "test":
            rotator.test_secret(pending, settings)
    except SealerError as exc:
        _record_failure(state, step, exc)
    rot = _copy_tree(state.rotation)
    rot["pending"]["step"] = step
    rot["pending"].pop("error", None)
    state.write(state.opened.plaintext(), state.opened.versions(), rot)


def _wait_for(state: _State, command: Sequence[str]) -> None:
    import subprocess

    from ..environ import child_environment

    pending = state.rotation["pending"]
    env = {**child_environment(), "SEALER_ROTATION_FILE": str(state.file),
           "SEALER_ROTATION_KEY": state.key, "SEALER_ROTATION_VERSION": str(pending["version"])}
    try:
        status = subprocess.call(list(command), env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        reason = f"the --wait-for command cannot run ({exc.strerror})"
    else:
        if status == 0:
            return
        reason = (f"the --wait-for command exited with status {status}" if status > 0
                  else f"the --wait-for command was killed by signal {-status}")
    rot = _copy_tree(state.rotation)
    rot["pending"]["error"] = f"finish: {reason}"
    state.write(state.opened.plaintext(), state.opened.versions(), rot)
    raise RotationFailed(f"rotation of {state.key} is tested but not finished: {reason}; "
                         "CURRENT is unchanged", file=str(state.file),
                         hint=f"run `sealer rotate {state.file} {state.key} --resume "
                              "--wait-for …` once it can succeed, or `--abandon`")


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
    vid = rot.pop("pending")["version"]
    entry = find_version(state.opened.versions(), state.key, vid)
    created = str(entry["created"]) if entry else timestamp(state.now)
    versions, rot = make_current(state.opened.versions(), state.key, rot,
                                 state.opened.document.header.created, old_value=current,
                                 new_id=vid, new_created=created, keep=_keep(state))
    plain = state.opened.plaintext()
    paths.set_value(plain, state.path, pending)
    rot["rotated_at"] = timestamp(state.now)
    state.write(plain, versions, rot)


def _keep(state: _State) -> int:
    return keep_versions(state.rotation, state.file)


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
                state.target_has("may have CURRENT back", "--abandon")
                rotator.set_secret(pending, current, settings)
                rotator.test_secret(current, settings)
            except SealerError as exc:
                _record_failure(state, "set", exc)
            state.target_has("has CURRENT back", "--abandon")
            notes.append("the target had the PENDING credential; CURRENT was set back on it")
    rot = dict(state.rotation)
    rot.pop("pending")
    state.write(state.opened.plaintext(), drop_pending(state.opened.versions(), state.key), rot)
    return Outcome(state.file, state.key, rot.get("version", 1), "abandoned", notes)


class DueResult(NamedTuple):
    file: Path
    key: str
    error: str | None
    version: VersionId | None = None
    commit: str | None = None  # with commit=True: the commit holding the rotation


def rotate_due(files: Sequence[Path], identities: Identities = None, *,
               now: datetime | None = None,
               progress: Callable[[str], None] | None = None, commit: bool = False,
               wait_for: Sequence[str] | None = None) -> list[DueResult]:
    """Rotate every due secret, one after another; a failure is reported, not fatal. With
    `commit`, each finished rotation is committed on its own (rotation/publish.py)."""
    from ..document import read_sealed
    from ..sealedfiles import sealed_files

    now = now or datetime.now(UTC).replace(microsecond=0)
    say = progress or (lambda _: None)
    results = []
    for file in sealed_files(files):
        for key, rot in rotation_entries(read_sealed(file).metadata):
            try:
                due = bool(key) and (bool(rot.get("pending")) or is_due(rot, now))
            except SealerError as exc:  # a malformed schedule: this secret fails, not the run
                say(f"{file}: {key} failed: {exc.message}")
                results.append(DueResult(file, key, exc.message))
                continue
            if due:  # key "" is the file's own entry: an expiry date, nothing to rotate
                results.append(_rotate_one(file, key, bool(rot.get("pending")), identities,
                                           now=now, say=say, commit=commit, wait_for=wait_for))
    return results


def rotate_keys(targets: Sequence[tuple[Path, str]], identities: Identities = None, *,
                now: datetime | None = None, progress: Callable[[str], None] | None = None,
                commit: bool = False, wait_for: Sequence[str] | None = None
                ) -> list[DueResult]:
    """Rotate each (file, key) as `rotate_due` rotates due ones (e.g. what `sealer exposure`
    found); a rotation in progress is resumed."""
    from ..document import read_sealed

    now = now or datetime.now(UTC).replace(microsecond=0)
    say = progress or (lambda _: None)
    results = []
    for file, key in targets:
        try:
            rot = dict(rotation_entries(read_sealed(file).metadata)).get(key) or {}
        except SealerError as exc:
            results.append(DueResult(file, key, exc.message))
            continue
        results.append(_rotate_one(file, key, bool(rot.get("pending")), identities, now=now,
                                   say=say, commit=commit, wait_for=wait_for))
    return results


def _rotate_one(file: Path, key: str, pending: bool, identities: Identities, *,
                now: datetime, say: Callable[[str], None], commit: bool,
                wait_for: Sequence[str] | None) -> DueResult:
    say(f"{file}: rotating {key}")
    try:
        outcome = rotate(file, key, identities, now=now, wait_for=wait_for, resume=pending)
    except SealerError as exc:
        say(f"{file}: {key} failed: {exc.message}")
        return DueResult(file, key, exc.message)
    done = None
    if commit:
        from .publish import commit_rotation

        try:
            done = commit_rotation(file, key, outcome.version)
        except SealerError as exc:
            say(f"{file}: {key} rotated but not committed: {exc.message}")
            return DueResult(file, key, f"rotated but not committed: {exc.message}",
                             outcome.version)
    say(f"{file}: {key} rotated" + (f", committed {done}" if done else ""))
    return DueResult(file, key, None, outcome.version, done)


def configure_rotation(file: Path, key: str, identities: Identities = None, *,
                       every: str | None = None, schedule: str | None = None,
                       duration: str | None = None,
                       rotator: str | None = None, settings: dict[str, Any] | None = None,
                       generator: dict[str, Any] | None = None,
                       keep: int | None = None) -> None:
    """Write `metadata.keys[KEY].rotation`, keeping its progress fields (rotated_at, …). The
    schedule is `every` or `schedule` (AWS's rate()/cron()), with an optional `duration`."""
    check_settings(every=every, schedule=schedule, duration=duration)
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
               if k in ("rotated_at", "version", "created", "labels", "pending", "expires")}
        new = {"every": every, "schedule": schedule, "duration": duration,
               "rotator": rotator, "generator": generator,
               "settings": settings or None, "keep": keep}
        entry["rotation"] = {**{k: v for k, v in new.items() if v is not None}, **rot}
        doc = seal(opened.plaintext(), previous=opened, metadata=metadata, source=str(file))
        gate.commit(opened.document, doc)


def rollback(file: Path, key: str, identities: Identities = None, *,
             now: datetime | None = None) -> Outcome:
    """PREVIOUS becomes CURRENT and CURRENT becomes PREVIOUS (AWS: moving AWSCURRENT to the
    AWSPREVIOUS version). For a rotator-backed secret the old value is set on the target first
    (and tested), so the file never names a credential the target refuses."""
    return move_stage(file, key, "CURRENT", to_version="PREVIOUS", identities=identities,
                      now=now)


def move_stage(file: Path, key: str, label: str, *, to_version: VersionId | None = None,
               from_version: VersionId | None = None, identities: Identities = None,
               now: datetime | None = None, external: bool = False) -> Outcome:
    """AWS's UpdateSecretVersionStage: attach `label` to `to_version` (removing it from the
    version that had it) and/or remove it from `from_version`. Moving CURRENT makes that
    version's value the one in `data` (the old CURRENT becomes PREVIOUS), with the target set
    and tested first for a rotator-backed secret. `to_version` may also name a label
    ("PREVIOUS"). PENDING belongs to rotation and is refused; versions never change.

    `external`: the rotation in progress is driven by an API client (`sealer serve`, a
    rotation function written for AWS) that set and tested the PENDING version on the target
    itself; moving CURRENT to that version finishes the rotation, as AWS's finishSecret
    step does, without sealer's rotator touching the target."""
    from ..document import STAGE_LABEL

    if label == "PENDING":
        raise UsageError("PENDING is moved only by rotation", hint="use `sealer rotate` "
                         "(--resume or --abandon for a rotation in progress)")
    if not STAGE_LABEL.match(label):
        raise UsageError(f"{label!r} is not a staging label (1-256 letters, digits and "
                         "_.@+=,:/-)")
    if to_version is None and from_version is None:
        raise UsageError("say where the label goes (--to VERSION) or where it is removed "
                         "(--from VERSION)")
    with locked(file):
        gate = authorize_write(file)  # before the target is touched
        opened = open_sealed(file, identities, action="stage", keys=[key])
        state = _State(file, opened, key, now or datetime.now(UTC).replace(microsecond=0), gate)
        rot = dict(state.rotation)
        pending = rot.get("pending")
        if (external and label == "CURRENT" and isinstance(pending, dict) and to_version
                is not None and str(to_version) == str(pending.get("version"))):
            return _finish_external(state, from_version)
        if pending:
            raise UsageError(f"a rotation of {state.key} is in progress", file=str(file),
                             hint=_resume_hint(file, state.key))
        versions = opened.versions()
        current = current_of(rot, opened.document.header.created)
        target = _version_named(state, versions, current, to_version) if to_version else None
        source = _version_named(state, versions, current, from_version) \
            if from_version is not None else None
        if label == "CURRENT":
            if target is None or (source is not None and source != current.id):
                raise UsageError("CURRENT cannot be removed, only moved to another version "
                                 "(--to VERSION)", file=str(file))
            return _move_current(state, versions, current, target)
        holder = next((str(e["id"]) for e in versions.get(state.key, [])
                       if label in e["stages"]), str(current.id) if label in current.labels
                      else None)
        if source is not None and str(source) != holder:
            raise UsageError(f"version {source} of {state.key} does not have the label "
                             f"{label}", file=str(file))
        entries = [{**e, "stages": [s for s in e["stages"] if s != label]}
                   for e in versions.get(state.key, [])]
        labels = [s for s in current.labels if s != label]
        if target is not None and str(target) == str(current.id):
            labels.append(label)
        elif target is not None:
            for entry in entries:
                if str(entry["id"]) == str(target):
                    entry["stages"].append(label)
        from .versions import prune

        versions = {**versions, state.key: prune(entries, _keep(state))}
        if not versions[state.key]:
            del versions[state.key]
        rot = with_current(rot, current.id, current.created, labels)
        state.write(opened.plaintext(), versions, rot)
        return Outcome(file, state.key, target if target is not None else current.id,
                       "labelled", [])


def _version_named(state: _State, versions: dict[str, Any], current: Any,
                   name: VersionId) -> VersionId:
    """The id of the version `name` (an id, or a label it carries), or a UsageError."""
    text = str(name)
    if text == str(current.id) or text == "CURRENT" or text in current.labels:
        return current.id  # type: ignore[no-any-return]
    for entry in versions.get(state.key, []):
        if str(entry["id"]) == text or text in entry["stages"]:
            return entry["id"]  # type: ignore[no-any-return]
    raise UsageError(f"{state.key} has no version {text}", file=str(state.file),
                     hint=f"`sealer versions {state.file} {state.key}` lists its versions")


def _move_current(state: _State, versions: dict[str, Any], current: Any,
                  target: VersionId) -> Outcome:
    if str(target) == str(current.id):
        return Outcome(state.file, state.key, current.id, "unchanged", [])
    entry = find_version(versions, state.key, target)
    assert entry is not None  # _version_named found it
    old_value = state.opened.value(state.path)
    rotator = _rotator(state)
    notes = []
    if rotator is not None:
        settings = _settings(state)
        rotator.set_secret(old_value, entry["value"], settings)
        rotator.test_secret(entry["value"], settings)
        notes.append(f"version {target} was set on the {state.rotation['rotator']} target")
    labels = [s for s in entry["stages"] if s != "PREVIOUS"]
    new_versions, rot = make_current(versions, state.key, dict(state.rotation),
                                     state.opened.document.header.created, old_value=old_value,
                                     new_id=target, new_created=str(entry["created"]),
                                     new_labels=labels, keep=_keep(state))
    plain = state.opened.plaintext()
    paths.set_value(plain, state.path, entry["value"])
    state.write(plain, new_versions, rot)
    return Outcome(state.file, state.key, target, "rolled back", notes)


# -- rotation driven by an API client (sealer serve: AWS's rotation-function protocol) -------


def put_pending(file: Path, key: str, value: Any, *, token: str | None = None,
                identities: Identities = None, now: datetime | None = None) -> VersionId:
    """AWS's PutSecretValue with VersionStages [AWSPENDING] (a rotation function's
    createSecret): record `value` as the PENDING version of `key` and a rotation in progress
    at step create. The same token and value again is a no-op; a PENDING version under another
    id is replaced (AWS moves the label). Returns the version id."""
    from ..document import VERSION_ID
    from .versions import same_value

    if token is not None and not VERSION_ID.match(token):
        raise UsageError("ClientRequestToken must be 32-64 letters, digits, - or _ (a UUID "
                         "works)", file=str(file))
    with locked(file):
        gate = authorize_write(file)
        opened = open_sealed(file, identities, action="put-pending", keys=[key])
        state = _State(file, opened, key, now or datetime.now(UTC).replace(microsecond=0), gate)
        rot = _copy_tree(state.rotation)
        versions = opened.versions()
        pending = rot.get("pending")
        if isinstance(pending, dict) and token is not None \
                and str(pending.get("version")) == token:
            found = stage_value(versions, state.key, "PENDING")
            if found is not None and same_value(found[1], value):
                return token
        vid = token or new_version_id()
        if str(vid) == str(rot.get("version", 1)) or (
                find_version(versions, state.key, vid) is not None
                and not (isinstance(pending, dict) and str(pending.get("version")) == vid)):
            raise UsageError(f"{state.key}: version {vid} already exists with another value "
                             "(AWS: ResourceExistsException); nothing was written",
                             file=str(file), hint="use a new ClientRequestToken")
        created = timestamp(state.now)
        rot["pending"] = {"version": vid, "step": "create", "started": created}
        versions = add_pending(drop_pending(versions, state.key), state.key, vid, value, created)
        state.write(opened.plaintext(), versions, rot)
        return vid


def _finish_external(state: _State, from_version: VersionId | None) -> Outcome:
    """Make the PENDING version CURRENT without touching the target (the API client did)."""
    rot = dict(state.rotation)
    current = current_of(rot, state.opened.document.header.created)
    if from_version is not None and str(from_version) != str(current.id):
        raise UsageError(f"version {from_version} of {state.key} is not CURRENT (it is "
                         f"{current.id})", file=str(state.file))
    pending = rot.pop("pending")
    vid = pending["version"]
    versions = state.opened.versions()
    entry = find_version(versions, state.key, vid)
    if entry is None:
        raise SealerError(f"{state.key}: the rotation in progress has no PENDING version",
                          file=str(state.file), hint=f"run `sealer rotate {state.file} "
                                                     f"{state.key} --abandon`")
    old_value = state.opened.value(state.path)
    labels = [s for s in entry["stages"] if s not in ("PENDING", "PREVIOUS")]
    new_versions, rot = make_current(versions, state.key, rot,
                                     state.opened.document.header.created, old_value=old_value,
                                     new_id=vid, new_created=str(entry["created"]),
                                     new_labels=labels, keep=_keep(state))
    rot["rotated_at"] = timestamp(state.now)
    plain = state.opened.plaintext()
    paths.set_value(plain, state.path, entry["value"])
    state.write(plain, new_versions, rot)
    return Outcome(state.file, state.key, vid, "rotated", [])
