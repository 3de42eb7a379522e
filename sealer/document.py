"""The sealed document (docs/FORMAT.md §1): parsing with structural checks, and writing.

Nothing here needs a key: this is what `show`, `check` and the pre-commit hooks read.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from . import limits, yamlio
from .envelope import FORMAT_VERSION, is_token, strict_b64decode
from .errors import FormatError, SealerError, UsageError, YamlError
from .paths import Path, format_path, get, leaves, parse_path
from .regex import Pattern, compile_pattern

if TYPE_CHECKING:
    from pathlib import Path as FilePath

    from .fsio import StrPath
    from .signing import Signature

__all__ = [
    "ClearRule",
    "Header",
    "SealedDocument",
    "WrappedKey",
    "check_metadata",
    "from_tree",
    "group_count",
    "looks_sealed",
    "parse_sealed",
    "read_sealed",
]

TOP_LEVEL = ("sealer", "data", "metadata", "recipients", "mac")
# In a plaintext document (seal's input, unseal --with-metadata and edit's output) the top-level
# key `sealer` holds metadata, so no data key may have that name: a value under it would turn
# into (unencrypted, unreviewed) metadata on `unseal | seal` or `edit` (FORMAT.md §1.2).
RESERVED_KEY = "sealer"
VERSIONS = "versions"  # FORMAT.md §10: optional, between `data` and `metadata`, when non-empty
VERSION_FIELDS = ("id", "stages", "created", "value")
STAGES = ("PENDING", "PREVIOUS")  # the labels sealer's rotation moves; CURRENT is `data`
# FORMAT.md §10.2: a version id is a positive int (earlier files) or, as AWS Secrets Manager's
# VersionId / ClientRequestToken, 32-64 characters; a staging label as AWS's (1-256 characters,
# at most 20 per version).
VERSION_ID = re.compile(r"[A-Za-z0-9_-]{32,64}\Z")
STAGE_LABEL = re.compile(r"[A-Za-z0-9_.@+=,:/-]{1,256}\Z")
MAX_LABELS = limits.MAX_LABELS
OPTIONAL_LAST = "signatures"  # FORMAT.md §11: optional, after `mac`, not under the MAC
HEADER_FIELDS = ("format", "id", "serial", "created", "modified")
GROUPS_FORMAT = 2  # FORMAT.md §1.6: a file with key groups; every other file is format 1
GROUPS_HEADER = (*HEADER_FIELDS, "commitment", "threshold")
MAX_GROUPS = limits.MAX_GROUPS
_FILE_ID = re.compile(r"[0-9a-f]{32}\Z")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
_MAX_REGEX = limits.MAX_CLEAR_REGEX


class Header(NamedTuple):
    format: int
    id: str
    serial: int
    created: str
    modified: str
    commitment: str | None = None  # FORMAT.md §1.1: which data key; None in older files
    threshold: int | None = None  # FORMAT.md §1.6: groups needed; format 2 (key groups) only

    @property
    def id_bytes(self) -> bytes:
        return bytes.fromhex(self.id)

    def as_tree(self) -> dict[str, Any]:
        tree = {name: getattr(self, name) for name in HEADER_FIELDS}
        if self.commitment is not None:
            tree["commitment"] = self.commitment
        if self.threshold is not None:
            tree["threshold"] = self.threshold
        return tree


class WrappedKey(NamedTuple):
    recipient: str
    key: str  # an armored age file holding the data key (a group's share in format 2)
    group: int | None = None  # FORMAT.md §1.6: the key group (1..), in files with key groups

    def as_tree(self) -> dict[str, Any]:
        if self.group is None:
            return {"recipient": self.recipient, "key": self.key}
        return {"recipient": self.recipient, "group": self.group, "key": self.key}


class ClearRule(NamedTuple):
    """Which values stay in clear (FORMAT.md §5): any key on the path matches."""

    suffix: str | None = None
    regex: str | None = None

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], source: str) -> ClearRule:
        rule = metadata.get("clear")
        if rule is None:
            return cls()
        if not isinstance(rule, dict) or set(rule) - {"suffix", "regex"}:
            raise FormatError("metadata.clear must be a mapping with suffix and/or regex",
                              file=source)
        suffix, regex = rule.get("suffix"), rule.get("regex")
        for name, value in (("suffix", suffix), ("regex", regex)):
            if value is not None and (not isinstance(value, str) or not value):
                raise FormatError(f"metadata.clear.{name} must be a non-empty string", file=source)
        if regex is not None:
            _compile_regex(regex, source)
        return cls(suffix, regex)

    @property
    def active(self) -> bool:
        return self.suffix is not None or self.regex is not None

    def as_tree(self) -> dict[str, str]:
        return {k: v for k, v in (("suffix", self.suffix), ("regex", self.regex)) if v is not None}

    def is_clear(self, path: Path) -> bool:
        if not self.active:
            return False
        compiled = _compile_regex(self.regex) if self.regex is not None else None
        for part in path:
            if not isinstance(part, str):
                continue
            if self.suffix is not None and part.endswith(self.suffix):
                return True
            if compiled is not None and compiled.search(part):
                return True
        return False


def _compile_regex(regex: str, source: str | None = None) -> Pattern:
    """RE2, searched (FORMAT.md §5): the regex comes from the file, so it runs in linear time."""
    return compile_pattern(regex, what="metadata.clear.regex", file=source, error=FormatError,
                           limit=_MAX_REGEX)


class SealedDocument:
    """A parsed sealed file: header, data (tokens and clear values), metadata, recipients, MAC."""

    def __init__(self, header: Header, data: dict[str, Any], metadata: dict[str, Any],
                 recipients: list[WrappedKey], mac: bytes, source: str) -> None:
        self.header = header
        self.data = data
        self.metadata = metadata
        self.recipients = recipients
        self.mac = mac
        self.source = source
        self.signatures: list[Signature] = []
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self._rule: ClearRule | None = None
        self._tokens: dict[Path, str] | None = None  # found once; `data` does not change

    @property
    def clear_rule(self) -> ClearRule:
        """The rule in `metadata.clear` (metadata is not changed after parsing or sealing)."""
        if self._rule is None:
            self._rule = ClearRule.from_metadata(self.metadata, self.source)
        return self._rule

    def authenticated_tree(self) -> dict[str, Any]:
        """Everything the MAC covers: the document without its `mac` entry."""
        tree: dict[str, Any] = {"sealer": self.header.as_tree(), "data": self.data}
        if self.versions:
            tree[VERSIONS] = self.versions
        tree["metadata"] = self.metadata
        tree["recipients"] = [w.as_tree() for w in self.recipients]
        return tree

    def to_yaml(self) -> str:
        """The file's text. Refuses what a reader would refuse (docs/LIMITS.md: nesting, nodes,
        recipients, signatures, the file's size), so nothing unreadable is ever written."""
        import base64

        tree = self.authenticated_tree()
        tree["mac"] = base64.b64encode(self.mac).decode("ascii")
        if self.signatures:
            tree[OPTIONAL_LAST] = [s.as_tree() for s in self.signatures]
        limits.check_nodes(limits.check_tree(tree, depth=1, source=self.source), self.source)
        _check_entries(self)
        text = yamlio.dump(tree)
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        limits.check_file_size(size, self.source, self.largest_values())
        return text

    def largest_values(self, count: int = 3) -> list[tuple[str, int]]:
        """(key path, token length) of the `count` largest encrypted values, largest first."""
        sized = [(len(token), format_path(path)) for path, token in self.tokens()]
        sized += [(len(token), f"{text} (version {vid})")
                  for text, vid, _path, token in self.version_tokens()]
        return [(key, length) for length, key in sorted(sized, reverse=True)[:count]]

    def tokens(self) -> list[tuple[Path, str]]:
        """(path, token) of every encrypted value, in document order."""
        return list(self.token_map().items())

    def token_map(self) -> dict[Path, str]:
        """path -> token of every encrypted value in `data`, each matched once (by `from_tree`'s
        check, or on first use): readers look a value up here instead of matching it again."""
        if self._tokens is None:
            self._tokens = {p: v for p, v in leaves(self.data) if is_token(v)}
        return self._tokens

    def version_tokens(self) -> list[tuple[str, int | str, Path, str]]:
        """(key text, version id, full path, token) of every version token (FORMAT.md §10)."""
        out = []
        for text, entries in self.versions.items():
            base = parse_path(text)
            for entry in entries:
                out += [(text, entry["id"], (*base, *p), v)
                        for p, v in _value_leaves(entry["value"])]
        return out


def _check_entries(doc: SealedDocument) -> None:
    """The writer's side of `_recipients` and `_signatures`: what their bounds refuse."""
    if len(doc.recipients) > MAX_RECIPIENTS:
        raise UsageError(f"{len(doc.recipients)} recipients, more than the {MAX_RECIPIENTS} a "
                         "reader accepts; nothing was written", file=doc.source,
                         hint="give a team one shared key instead of a key per person")
    for wrapped in doc.recipients:
        if (len(wrapped.recipient) > MAX_RECIPIENT_CHARS
                or len(wrapped.key) > MAX_WRAPPED_KEY_CHARS):
            raise UsageError(f"the recipient {wrapped.recipient[:40]}… is longer than a reader "
                             "accepts; nothing was written", file=doc.source)
    if len(doc.signatures) > MAX_SIGNATURES or any(
            len(s.signature) > MAX_SIGNATURE_CHARS or len(s.signer) > MAX_RECIPIENT_CHARS
            for s in doc.signatures):
        raise UsageError(f"more than {MAX_SIGNATURES} signatures, or one longer than a reader "
                         "accepts; nothing was written", file=doc.source)


def _value_leaves(value: Any) -> list[tuple[Path, Any]]:
    return list(leaves(value)) if isinstance(value, dict | list) else [((), value)]


def looks_sealed(tree: Any) -> bool:
    """Whether a parsed YAML document is (meant to be) a sealed file."""
    return isinstance(tree, dict) and isinstance(tree.get("sealer"), dict) and "data" in tree


_RESTORE = "restore the file from git; if a merge left conflict markers, redo the merge"


def read_sealed(path: StrPath) -> SealedDocument:
    from .fsio import as_path

    path = as_path(path)
    return parse_sealed(_read_text(path), source=str(path))


def _read_text(path: FilePath) -> str:
    """The file as text; its bytes are let go before it is parsed (a big value is then in
    memory as text and as its parsed token, not as bytes too)."""
    from .fsio import read_bytes

    try:
        return yamlio.text_of(read_bytes(path, limit=yamlio.MAX_BYTES), source=str(path))
    except YamlError as exc:
        raise _bad(str(path), exc.message, hint=_RESTORE) from None


def parse_sealed(text: bytes | str, *, source: str) -> SealedDocument:
    try:
        tree = yamlio.load(text, source=source)
    except YamlError as exc:
        raise _bad(source, exc.message, hint=_RESTORE) from None
    if not looks_sealed(tree):
        raise SealerError("not a sealed file (no sealer header)", file=source,
                          hint="seal it first with `sealer seal`")
    return from_tree(tree, source)


def _bad(source: str, problem: str, hint: str | None = None) -> FormatError:
    return FormatError(f"malformed sealed file: {problem}", file=source, hint=hint)


def from_tree(tree: dict[str, Any], source: str) -> SealedDocument:
    """A sealed document from its parsed YAML, with every structural check (FORMAT.md §1)."""
    keys = tuple(tree)
    if keys[-1:] == (OPTIONAL_LAST,):
        keys = keys[:-1]
    if keys[2:3] == (VERSIONS,):
        keys = keys[:2] + keys[3:]
    if keys != TOP_LEVEL:
        raise _bad(source, f"top-level keys must be {', '.join(TOP_LEVEL)} in this order")
    header = _header(tree["sealer"], source)
    data, metadata = tree["data"], tree["metadata"]
    if not isinstance(data, dict):
        raise _bad(source, "data must be a mapping")
    if RESERVED_KEY in data:
        raise _bad(source, f"data has a top-level key named {RESERVED_KEY!r}, which is reserved "
                           "for metadata in plaintext documents (sealer never writes it)")
    if not isinstance(metadata, dict):
        raise _bad(source, "metadata must be a mapping")
    recipients = _recipients(tree["recipients"], source, header.threshold)
    mac = strict_b64decode(tree["mac"]) if isinstance(tree["mac"], str) else None
    if mac is None or len(mac) != 32:
        raise _bad(source, "mac must be the base64 of 32 bytes")
    doc = SealedDocument(header, data, metadata, recipients, mac, source)
    if OPTIONAL_LAST in tree:
        doc.signatures = _signatures(tree[OPTIONAL_LAST], source)
    if VERSIONS in tree:
        doc.versions = _versions(tree[VERSIONS], data, source)
    _check_values(doc)
    check_metadata(metadata, data, source)
    return doc


def _header(raw: Any, source: str) -> Header:
    if isinstance(raw, dict) and raw.get("format") == GROUPS_FORMAT \
            and not isinstance(raw["format"], bool):
        _groups_header(raw, source)
    elif not isinstance(raw, dict) or tuple(raw) not in (HEADER_FIELDS,
                                                         (*HEADER_FIELDS, "commitment")):
        raise _bad(source, f"the sealer header must hold {', '.join(HEADER_FIELDS)} (and "
                           "commitment) in this order")
    elif raw["format"] != FORMAT_VERSION or isinstance(raw["format"], bool):
        raise FormatError(f"unsupported sealed format {raw['format']!r}", file=source,
                          hint="upgrade sealer to read this file")
    if "commitment" in raw and (not isinstance(raw["commitment"], str)
                                or not _FILE_ID.match(raw["commitment"])):
        raise _bad(source, "sealer.commitment must be 32 lowercase hex digits")
    if not isinstance(raw["id"], str) or not _FILE_ID.match(raw["id"]):
        raise _bad(source, "sealer.id must be 32 lowercase hex digits")
    serial = raw["serial"]
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 1:
        raise _bad(source, "sealer.serial must be a positive integer")
    for name in ("created", "modified"):
        if not isinstance(raw[name], str) or not _TIME.match(raw[name]):
            raise _bad(source, f"sealer.{name} must be a time like 2026-01-31T12:00:00Z")
    return Header(**raw)


def _groups_header(raw: dict[str, Any], source: str) -> None:
    """Format 2 (FORMAT.md §1.6): the format 1 fields, commitment, and threshold."""
    if tuple(raw) != GROUPS_HEADER:
        raise _bad(source, f"the header of a file with key groups must hold "
                           f"{', '.join(GROUPS_HEADER)} in this order")
    threshold = raw["threshold"]
    if not isinstance(threshold, int) or isinstance(threshold, bool) \
            or not 1 <= threshold <= MAX_GROUPS:
        raise _bad(source, f"sealer.threshold must be an integer from 1 to {MAX_GROUPS}")


# Bounds a reader enforces before any cryptography (FORMAT.md §1.4, §11): a hostile file cannot
# make a reader try thousands of unwraps or signature checks. Their home: sealer.limits.
MAX_RECIPIENTS = limits.MAX_RECIPIENTS
MAX_RECIPIENT_CHARS = limits.MAX_RECIPIENT_CHARS
MAX_WRAPPED_KEY_CHARS = limits.MAX_WRAPPED_KEY_CHARS
MAX_SIGNATURES = limits.MAX_SIGNATURES
MAX_SIGNATURE_CHARS = limits.MAX_SIGNATURE_CHARS


def _recipients(raw: Any, source: str, threshold: int | None) -> list[WrappedKey]:
    if not isinstance(raw, list) or not raw:
        raise _bad(source, "recipients must be a non-empty list")
    if len(raw) > MAX_RECIPIENTS:
        raise _bad(source, f"more than {MAX_RECIPIENTS} recipients")
    out = [_recipient(entry, source, threshold is not None) for entry in raw]
    _check_kms(out, source)
    names = [w.recipient for w in out]
    if len(names) != len(set(names)):
        raise _bad(source, "recipients must be sorted and unique")
    if [(w.group or 0, w.recipient) for w in out] != sorted((w.group or 0, w.recipient)
                                                            for w in out):
        raise _bad(source, "recipients must be sorted" + (" by group, then recipient"
                                                          if threshold is not None else ""))
    if threshold is not None:
        _check_groups(out, threshold, source)
    return out


def _recipient(entry: Any, source: str, grouped: bool) -> WrappedKey:
    fields = ("recipient", "group", "key") if grouped else ("recipient", "key")
    if (not isinstance(entry, dict) or tuple(entry) != fields
            or not all(isinstance(entry[f], str) and entry[f] for f in ("recipient", "key"))):
        raise _bad(source, f"each recipient must be a mapping with {', '.join(fields)}")
    group = entry.get("group")
    if grouped and (not isinstance(group, int) or isinstance(group, bool)
                    or not 1 <= group <= MAX_GROUPS):
        raise _bad(source, f"each recipient's group must be an integer from 1 to {MAX_GROUPS}")
    if (len(entry["key"]) > MAX_WRAPPED_KEY_CHARS
            or len(entry["recipient"]) > MAX_RECIPIENT_CHARS):
        raise _bad(source, "a recipient entry is larger than any wrapped data key")
    return WrappedKey(entry["recipient"], entry["key"], group)


def _check_groups(entries: list[WrappedKey], threshold: int, source: str) -> None:
    """Groups numbered 1..M, each with a recipient; 1 <= threshold <= M (FORMAT.md §1.6)."""
    count = max(w.group or 0 for w in entries)
    if {w.group for w in entries} != set(range(1, count + 1)):
        raise _bad(source, f"key groups must be numbered 1 to {count}, each with a recipient")
    if threshold > count:
        raise _bad(source, f"sealer.threshold {threshold} is more than the {count} key groups")


def group_count(doc: SealedDocument) -> int:
    """How many key groups the file has: 0 for a file without groups (format 1)."""
    if doc.header.threshold is None:
        return 0
    return max(w.group or 0 for w in doc.recipients)


def _check_kms(entries: list[WrappedKey], source: str) -> None:
    """AWS KMS entries (FORMAT.md §1.4.1), refused before any network call when malformed."""
    from . import kms

    remote = [w for w in entries if kms.is_arn(w.recipient)]
    if len(remote) > limits.MAX_KMS_RECIPIENTS:
        raise _bad(source, f"more than {limits.MAX_KMS_RECIPIENTS} AWS KMS recipients")
    for wrapped in remote:
        if not kms.ARN.match(wrapped.recipient):
            raise _bad(source, f"recipient {wrapped.recipient[:80]!r} is not an AWS KMS key ARN")
        if kms.decode_blob(wrapped.key) is None:
            raise _bad(source, f"the key of {wrapped.recipient} must be the base64 of a KMS "
                               "CiphertextBlob")


def _signatures(raw: Any, source: str) -> list[Signature]:
    from .signing import Signature

    fields = ("signer", "format", "signature")
    if not isinstance(raw, list) or not raw or not all(
            isinstance(e, dict) and tuple(e) == fields
            and all(isinstance(v, str) and v for v in e.values()) for e in raw):
        raise _bad(source, "signatures must be a non-empty list of mappings with signer, "
                           "format and signature")
    if len(raw) > MAX_SIGNATURES or any(len(e["signature"]) > MAX_SIGNATURE_CHARS
                                        or len(e["signer"]) > MAX_RECIPIENT_CHARS for e in raw):
        raise _bad(source, f"more than {MAX_SIGNATURES} signatures, or one larger than any "
                           "SSH signature")
    return [Signature(**entry) for entry in raw]


def _versions(raw: Any, data: dict[str, Any], source: str) -> dict[str, list[dict[str, Any]]]:
    """`versions` (FORMAT.md §10): key path -> list of {id, stages, created, value of tokens}."""
    if not isinstance(raw, dict) or not raw:
        raise _bad(source, "versions must be a non-empty mapping of key path to versions")
    for text, entries in raw.items():
        try:
            get(data, parse_path(text))
        except (KeyError, SealerError):
            raise _bad(source, f"versions names {text!r}, which is not a key in data") from None
        if not isinstance(entries, list) or not entries:
            raise _bad(source, f"versions.{text} must be a non-empty list")
        for entry in entries:
            _version_entry(entry, text, source)
        ids = [str(e["id"]) for e in entries]
        if len(ids) != len(set(ids)):
            raise _bad(source, f"versions.{text}: version ids must be unique")
        labels = [label for e in entries for label in e["stages"]]
        if len(labels) != len(set(labels)):
            raise _bad(source, f"versions.{text}: a staging label is on two versions")
    return raw


def valid_version_id(vid: Any) -> bool:
    """A version id as FORMAT.md §10.2 allows it: a positive int (older files) or a token."""
    if isinstance(vid, bool):
        return False
    if isinstance(vid, int):
        return vid >= 1
    return isinstance(vid, str) and VERSION_ID.match(vid) is not None


def valid_labels(stages: Any) -> bool:
    """Staging labels of one version: unique, AWS's characters, not CURRENT (that is `data`)."""
    return (isinstance(stages, list) and len(stages) <= MAX_LABELS
            and len(set(map(str, stages))) == len(stages)
            and all(isinstance(s, str) and STAGE_LABEL.match(s) and s != "CURRENT"
                    for s in stages))


def _version_entry(entry: Any, text: str, source: str) -> None:
    if not isinstance(entry, dict) or tuple(entry) != VERSION_FIELDS:
        raise _bad(source, f"each version of {text} must hold {', '.join(VERSION_FIELDS)}")
    vid, stages = entry["id"], entry["stages"]
    if not valid_version_id(vid):
        raise _bad(source, f"versions.{text}: id must be a positive integer or 32-64 letters, "
                           "digits, - or _")
    if not valid_labels(stages):
        raise _bad(source, f"versions.{text}: stages must be a list of at most {MAX_LABELS} "
                           "distinct staging labels (not CURRENT)")
    if not isinstance(entry["created"], str) or not _TIME.match(entry["created"]):
        raise _bad(source, f"versions.{text}: created must be a time like 2026-01-31T12:00:00Z")
    if not all(is_token(v) for _, v in _value_leaves(entry["value"])):
        raise _bad(source, f"versions.{text}: every value of version {vid} must be encrypted")


def _check_values(doc: SealedDocument) -> None:
    rule = doc.clear_rule
    tokens: dict[Path, str] = {}
    for path, value in leaves(doc.data):
        if is_token(value):
            tokens[path] = value
            continue
        if rule.is_clear(path):
            continue
        raise _bad(
            doc.source, f"{format_path(path)} is not encrypted",
            hint="a value was edited by hand; restore the file from git and use `sealer set`",
        )
    doc._tokens = tokens


def check_metadata(metadata: dict[str, Any], data: dict[str, Any], source: str) -> None:
    """Metadata is JSON-like, `clear` is valid and every `keys` path exists in `data`."""
    for path, value in leaves(metadata):
        if isinstance(value, bytes):
            raise _bad(source, f"metadata.{format_path(path)} must not be binary")
    ClearRule.from_metadata(metadata, source)
    keys = metadata.get("keys", {})
    if not isinstance(keys, dict):
        raise _bad(source, "metadata.keys must be a mapping of key path to metadata")
    for text, entry in keys.items():
        if not isinstance(entry, dict):
            raise _bad(source, f"metadata.keys.{text} must be a mapping")
        try:
            get(data, parse_path(text))
        except (KeyError, SealerError):
            raise _bad(source, f"metadata.keys names {text!r}, which is not a key in data",
                       hint="remove the entry or fix its key path") from None
