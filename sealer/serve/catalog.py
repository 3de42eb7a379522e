"""What `sealer serve` serves: secret names mapped to sealed files and key paths, opened once
through the read gate and kept decrypted in memory only.

Names (docs/SERVE.md): the file `ROOT/prod/db.sealed.yaml` is the secret `prod/db`, its
SecretString the whole document as JSON; `prod/db#password` is the value at that key path
(a string as itself, a mapping or list as JSON, a binary value as SecretBinary). The ARN is
`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`, the six characters taken from the
file's id, so they stay the same for the life of the file.

A snapshot is immutable; a reload builds a new one (reusing files whose stat did not change)
and swaps it in whole, or keeps the old one when any file fails.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import paths
from ..access import Identities, open_sealed
from ..document import SealedDocument, read_sealed
from ..errors import NoIdentityError, SealerError
from ..rotation.versions import current_of, due_date, rotation_entries
from ..sealedfiles import SEALED_SUFFIXES, sealed_files
from ..times import parse_time

__all__ = ["AWS_STAGES", "Catalog", "LoadedFile", "NotFound", "Resolved", "Snapshot", "Version",
           "aws_version_id", "load_snapshot", "sealer_version_id", "secret_string"]

# sealer's staging labels <-> AWS's; other labels are the same on both sides
AWS_STAGES = {"CURRENT": "AWSCURRENT", "PENDING": "AWSPENDING", "PREVIOUS": "AWSPREVIOUS"}
SEALER_STAGES = {v: k for k, v in AWS_STAGES.items()}
MAX_FILES = 100_000


class NotFound(SealerError):
    """No such secret, version or stage (ResourceNotFoundException)."""


_INT_ID = "00000000-0000-0000-0000-"


def aws_version_id(vid: object) -> str:
    """A version id as AWS clients see it. Integer ids (files from before versions had UUIDs,
    and a key's first value, version 1) are shown UUID-shaped, `00000000-…-000000000001`:
    SDKs refuse a VersionId under 32 characters."""
    text = str(vid)
    return f"{_INT_ID}{int(text):012d}" if text.isdigit() and len(text) <= 12 else text


def sealer_version_id(text: str) -> str:
    """The id sealer's files use for a VersionId a client sent."""
    if text.startswith(_INT_ID) and text[len(_INT_ID):].isdigit():
        return str(int(text[len(_INT_ID):]))
    return text


def aws_stage(label: str) -> str:
    return AWS_STAGES.get(label, label)


def sealer_stage(label: str) -> str:
    return SEALER_STAGES.get(label, label)


@dataclass(frozen=True)
class Version:
    id: str
    stages: tuple[str, ...]  # AWS names
    created: str
    value: Any


@dataclass(frozen=True)
class LoadedFile:
    """One sealed file as the server holds it: parsed, opened and decrypted once."""

    name: str
    path: Path
    stat: tuple[int, int, int, int]  # device, inode, size, mtime_ns: a change means reload
    document: SealedDocument | None  # None: no identity of the server opens it
    plain: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    recipient: str | None = None

    @property
    def suffix(self) -> str:
        if self.document is None:
            return "000000"
        return base64.b32encode(bytes.fromhex(self.document.header.id)).decode()[:6].lower()


class Resolved:
    """A SecretId resolved: the file, the key path inside it (empty: the whole file)."""

    def __init__(self, loaded: LoadedFile, key: paths.Path, catalog: Catalog) -> None:
        self.loaded, self.key, self.catalog = loaded, key, catalog
        self.key_text = paths.format_path(key) if key else ""
        self.name = loaded.name + (f"#{self.key_text}" if key else "")

    @property
    def arn(self) -> str:
        return self.catalog.arn(self.name, self.loaded.suffix)

    @property
    def document(self) -> SealedDocument:
        if self.loaded.document is None:
            raise NoIdentityError("no identity of the server opens this file",
                                  file=self.name)
        return self.loaded.document

    def rotated_key(self) -> str | None:
        """The rotated key whose versions are this secret's: the key itself or the nearest one
        above it; for a whole file, its only rotated key (none when it has several)."""
        settings = dict(rotation_entries(self.document.metadata))
        known = {k for k in settings if k} | set(self.loaded.versions)
        if not self.key:
            return next(iter(known)) if len(known) == 1 else None
        for cut in range(len(self.key), 0, -1):
            text = paths.format_path(self.key[:cut])
            if text in known:
                return text
        return None

    def versioned_key(self) -> str | None:
        """The rotated key whose versions this secret's writes move: the key itself, or for a
        whole file its one rotated key; None for a key path inside a rotated key or without
        one (those versions are read-only views)."""
        rotated = self.rotated_key()
        return rotated if rotated is not None and (not self.key or rotated == self.key_text) \
            else None

    def rotation(self) -> dict[str, Any]:
        key = self.rotated_key()
        if key is None:
            return {}
        rot = dict(rotation_entries(self.document.metadata)).get(key)
        return rot if isinstance(rot, dict) else {}

    def current_value(self) -> Any:
        return paths.get(self.loaded.plain, self.key)

    def versions(self) -> list[Version]:
        """Every version of this secret, CURRENT first; AWS's stage names."""
        doc = self.document
        rotated = self.rotated_key()
        if rotated is None:
            return [self._file_version()]
        cur = current_of(self.rotation(), doc.header.created)
        out = [Version(aws_version_id(cur.id), ("AWSCURRENT", *cur.labels), cur.created,
                       self.current_value())]
        base = paths.parse_path(rotated)
        for entry in reversed(self.loaded.versions.get(rotated, [])):
            out.append(Version(aws_version_id(entry["id"]),
                               tuple(aws_stage(s) for s in entry["stages"]),
                               str(entry["created"]), self._within(base, entry["value"])))
        return out

    def _file_version(self) -> Version:
        """A key without rotation has one version per write of its file: the file's id and
        serial (no earlier value is kept)."""
        doc = self.document
        return Version(f"{doc.header.id}-{doc.header.serial:010d}", ("AWSCURRENT",),
                       doc.header.modified, self.current_value())

    def _within(self, base: paths.Path, value: Any) -> Any:
        """The secret's value in a version whose value for the rotated key `base` is `value`."""
        if len(self.key) >= len(base):
            return paths.get(value, self.key[len(base):])
        whole = json.loads(json.dumps(self.loaded.plain, default=_b64))  # a private copy
        paths.set_value(whole, base, value)
        return paths.get(whole, self.key)

    def version(self, version_id: str | None, stage: str | None) -> Version:
        """The version with that id and/or stage (AWSCURRENT when neither is given)."""
        wanted = stage if stage is not None else (None if version_id else "AWSCURRENT")
        if wanted == "AWSCURRENT" and version_id is None and self.rotated_key() is None:
            return self._file_version()  # the common case, without the version list
        for version in self.versions():
            if version_id is not None and version.id != version_id:
                continue
            if wanted is not None and wanted not in version.stages:
                continue
            return version
        what = (f"version {version_id}" if version_id else "no version") + (
            f" labelled {wanted}" if wanted else "")
        raise NotFound(f"Secrets Manager can't find the specified secret value for {what}",
                       file=self.name)

    def description(self) -> str | None:
        meta = self.document.metadata
        if self.key:
            keys = meta.get("keys")
            entry = keys.get(self.key_text) if isinstance(keys, dict) else None
            text = entry.get("description") if isinstance(entry, dict) else None
        else:
            text = meta.get("description")
        return text if isinstance(text, str) else None

    def tags(self) -> list[dict[str, str]]:
        """`metadata.tags` as AWS's Key/Value pairs: `team=payments` -> team / payments."""
        tags = self.document.metadata.get("tags")
        out = []
        for tag in tags if isinstance(tags, list) else []:
            if isinstance(tag, str):
                key, _, value = tag.partition("=")
                out.append({"Key": key, "Value": value})
        return out

    def rotation_rules(self) -> dict[str, Any] | None:
        rot = self.rotation()
        rules: dict[str, Any] = {}
        every, schedule = rot.get("every"), rot.get("schedule")
        if isinstance(schedule, str):
            rules["ScheduleExpression"] = schedule
        elif isinstance(every, str) and every[:-1].isdigit():
            number, unit = int(every[:-1]), every[-1]
            days = {"d": number, "w": 7 * number}.get(unit)
            if days is not None:
                rules["AutomaticallyAfterDays"] = days
                rules["ScheduleExpression"] = f"rate({days} day{'s' if days != 1 else ''})"
            elif unit == "h":
                rules["ScheduleExpression"] = f"rate({number} hour{'s' if number != 1 else ''})"
        if isinstance(rot.get("duration"), str):
            rules["Duration"] = rot["duration"]
        return rules or None

    def describe(self) -> dict[str, Any]:
        doc = self.document
        out: dict[str, Any] = {"ARN": self.arn, "Name": self.name,
                               "CreatedDate": epoch(doc.header.created),
                               "LastChangedDate": epoch(doc.header.modified)}
        description = self.description()
        if description is not None:
            out["Description"] = description
        rot = self.rotation()
        rules = self.rotation_rules()
        out["RotationEnabled"] = rules is not None
        if rules is not None:
            out["RotationRules"] = rules
        if isinstance(rot.get("rotated_at"), str):
            out["LastRotatedDate"] = epoch(rot["rotated_at"])
        if rules is not None:
            try:
                due = due_date(rot)
            except SealerError:
                due = None
            if due is not None:
                out["NextRotationDate"] = due.timestamp()
        out["Tags"] = self.tags()
        out["VersionIdsToStages"] = {v.id: list(v.stages) for v in self.versions()}
        return out


def epoch(stamp: str) -> float:
    when = parse_time(stamp)
    return when.timestamp() if when is not None else 0.0


def _b64(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(type(value).__name__)


def secret_string(value: Any) -> dict[str, str]:
    """The value as GetSecretValue gives it: SecretString, or SecretBinary for bytes."""
    if isinstance(value, bytes):
        return {"SecretBinary": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return {"SecretString": value}
    return {"SecretString": json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                       default=_b64)}


@dataclass(frozen=True)
class Snapshot:
    """Every served file by name, as of one load."""

    root: Path
    files: dict[str, LoadedFile]
    loaded_at: datetime

    def names(self) -> list[str]:
        return sorted(self.files)


def _name(root: Path, file: Path) -> str:
    rel = file.relative_to(root).as_posix()
    for suffix in SEALED_SUFFIXES:
        if rel.endswith(suffix):
            return rel[: -len(suffix)]
    return rel


def file_stat(file: Path) -> tuple[int, int, int, int]:
    st = os.stat(file)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _open(name: str, file: Path, stat: tuple[int, int, int, int],
          identities: Identities) -> LoadedFile:
    document = read_sealed(file)
    try:
        opened = open_sealed(file, identities, action="serve", document=document)
    except NoIdentityError:
        return LoadedFile(name, file, stat, None)
    return LoadedFile(name, file, stat, opened.document, opened.plaintext(), opened.versions(),
                      opened.identity.recipient if opened.identity else None)


def scan(root: Path) -> Iterator[tuple[str, Path]]:
    files = sealed_files([root])
    if len(files) > MAX_FILES:
        raise SealerError(f"more than {MAX_FILES} sealed files to serve", file=str(root),
                          hint="serve a smaller directory")
    for file in files:
        yield _name(root, file), file


def load_snapshot(root: Path, identities: Identities, previous: Snapshot | None = None,
                  *, now: datetime) -> Snapshot:
    """Open every sealed file under `root` (files unchanged since `previous` are kept as they
    were). Raises the first file's error: the caller keeps its previous snapshot."""
    files: dict[str, LoadedFile] = {}
    for name, file in scan(root):
        try:
            stat = file_stat(file)
        except OSError as exc:  # removed or replaced while the tree was being read
            raise SealerError(f"cannot read: {exc.strerror}", file=str(file)) from None
        old = previous.files.get(name) if previous is not None else None
        if old is not None and old.stat == stat and old.path == file:
            files[name] = old
            continue
        if name in files:
            raise SealerError(f"two sealed files give the secret name {name!r}", file=str(file),
                              hint="rename one of them (.sealed.yaml and .sealed.yml)")
        files[name] = _open(name, file, stat, identities)
    return Snapshot(root, files, now)


class Catalog:
    """Resolves SecretIds (names, `NAME#KEY`, full and partial ARNs) in a snapshot."""

    def __init__(self, snapshot: Snapshot, *, region: str, account: str) -> None:
        self.snapshot, self.region, self.account = snapshot, region, account
        self._prefix = f"arn:aws:secretsmanager:{region}:{account}:secret:"

    def arn(self, name: str, suffix: str) -> str:
        return f"{self._prefix}{name}-{suffix}"

    def resolve(self, secret_id: str) -> Resolved:
        text = secret_id
        if text.startswith("arn:"):
            if not text.startswith(self._prefix):
                raise NotFound("Secrets Manager can't find the specified secret: the ARN is "
                               f"not of this server's region and account ({self.region}, "
                               f"{self.account})", file=secret_id)
            text = text[len(self._prefix):]
            # a full ARN ends in -XXXXXX; a partial one is just the name
            head, dash, suffix = text.rpartition("-")
            if dash and len(suffix) == 6:
                file_name = head.partition("#")[0]
                loaded = self.snapshot.files.get(file_name)
                if loaded is not None and loaded.suffix == suffix:
                    text = head
        file_name, hash_, key_text = text.partition("#")
        loaded = self.snapshot.files.get(file_name)
        if loaded is None:
            raise NotFound("Secrets Manager can't find the specified secret.", file=secret_id)
        key: paths.Path = ()
        if hash_:
            try:
                key = paths.parse_path(key_text)
            except SealerError:
                raise NotFound("Secrets Manager can't find the specified secret: "
                               f"{key_text!r} is not a key path", file=secret_id) from None
        resolved = Resolved(loaded, key, self)
        if loaded.document is not None and key:
            try:
                paths.get(loaded.plain, key)
            except KeyError:
                raise NotFound("Secrets Manager can't find the specified secret.",
                               file=secret_id) from None
        return resolved

    def listed(self) -> Sequence[Resolved]:
        """Every openable file as a secret, by name."""
        return [Resolved(self.snapshot.files[n], (), self) for n in self.snapshot.names()
                if self.snapshot.files[n].document is not None]
