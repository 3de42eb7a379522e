"""Opening and sealing documents in memory: unwrap, verify, decrypt; encrypt, wrap, MAC.

No file I/O here (see `sealer.files`); everything takes and returns `SealedDocument`s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from . import agefile, kms, limits
from .document import (
    RESERVED_KEY,
    ClearRule,
    Header,
    SealedDocument,
    WrappedKey,
    check_metadata,
)
from .envelope import (
    DATA_KEY_BYTES,
    FORMAT_VERSION,
    NONCE_BYTES,
    Keys,
    Seam,
    SystemSeam,
    constant_time_equal,
    decode_plaintext,
    encode_plaintext,
    is_token,
)
from .errors import IntegrityError, NoIdentityError, SealerError, UsageError
from .keys import Identity, Recipient, check_recipient_mix
from .paths import Path, get, parse_path

__all__ = ["Opened", "Plan", "check_limits", "open_document", "seal", "tampered", "wrap_key"]

Wrapper = Callable[[bytes, Recipient], str]
Namer = Callable[[str], "str | None"]  # a recipient's principal name in sealer.yaml, if any
# A wrapped data key is an age file for one recipient: one stanza, and a grease stanza that
# some age implementations add. More is a hostile file making every reader try each one.
MAX_STANZAS = limits.MAX_STANZAS


def wrap_key(data_key: bytes, recipient: Recipient) -> str:
    """The data key as an armored age file for one recipient."""
    return agefile.encrypt(data_key, [recipient.native], armored=True).decode("ascii")


def _wrap(wrap: Wrapper, data_key: bytes, recipient: Recipient, header: Header,
          source: str, group: int | None = None) -> str:
    """`wrap` for age and SSH recipients; KMS Encrypt bound to the file for a KMS key."""
    if isinstance(recipient.native, kms.KmsKey):
        return kms.wrap(data_key, recipient.native, header.id, source, group)
    return wrap(data_key, recipient)


class Opened:
    """A sealed document whose data key is known and whose MAC has been verified."""

    def __init__(self, document: SealedDocument, keys: Keys, identity: Identity | None) -> None:
        self.document = document
        self.keys = keys
        self.identity = identity
        self._plain: dict[str, Any] | None = None

    def plaintext(self) -> dict[str, Any]:
        """The whole decrypted tree (a fresh copy each call)."""
        if self._plain is None:
            self._plain = self._decrypt_node(self.document.data, ())
        copied: dict[str, Any] = _copy(self._plain)
        return copied

    def value(self, path: Path) -> Any:
        """The decrypted value (or subtree) at `path`; KeyError if there is none."""
        return self._decrypt_node(get(self.document.data, path), path)

    def _decrypt_node(self, node: Any, path: Path) -> Any:
        if isinstance(node, dict):
            return {k: self._decrypt_node(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self._decrypt_node(v, (*path, i)) for i, v in enumerate(node)]
        matched = self.document.token_map().get(path) is node  # matched when it was parsed
        if (matched or is_token(node)) and not self.document.clear_rule.is_clear(path):
            try:
                return decode_plaintext(*self.keys.decrypt(path, node, matched=True))
            except IntegrityError:
                raise tampered(self.document.source) from None
        return node

    def sealed_plaintexts(self) -> dict[Path, tuple[str, bytes, str]]:
        """path -> (type, plaintext, token) of every encrypted value, for token reuse."""
        out: dict[Path, tuple[str, bytes, str]] = {}
        rule = self.document.clear_rule
        for path, token in self.document.tokens():
            if not rule.is_clear(path):
                try:
                    type_name, plain = self.keys.decrypt(path, token, matched=True)
                except IntegrityError:
                    raise tampered(self.document.source) from None
                out[path] = (type_name, plain, token)
        return out

    def versions(self) -> dict[str, list[dict[str, Any]]]:
        """`versions` (FORMAT.md §10) with every value decrypted (a fresh copy each call)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for text, entries in self.document.versions.items():
            base = parse_path(text)
            out[text] = [{**e, "stages": list(e["stages"]),
                          "value": self._decrypt_version(e["value"], base, (), e["id"])}
                         for e in entries]
        return out

    def _decrypt_version(self, node: Any, base: Path, path: Path, vid: int | str) -> Any:
        if isinstance(node, dict):
            return {k: self._decrypt_version(v, base, (*path, k), vid) for k, v in node.items()}
        if isinstance(node, list):
            return [self._decrypt_version(v, base, (*path, i), vid) for i, v in enumerate(node)]
        try:
            return decode_plaintext(*self.keys.decrypt((*base, *path), node, vid))
        except IntegrityError:
            raise tampered(self.document.source) from None

    def version_plaintexts(self) -> dict[tuple[int | str, Path], tuple[str, bytes, str]]:
        """(version id, full path) -> (type, plaintext, token) of every version token."""
        out: dict[tuple[int | str, Path], tuple[str, bytes, str]] = {}
        for _text, vid, path, token in self.document.version_tokens():
            try:
                type_name, plain = self.keys.decrypt(path, token, vid)
            except IntegrityError:
                raise tampered(self.document.source) from None
            out[(vid, path)] = (type_name, plain, token)
        return out


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def open_document(document: SealedDocument, identities: Sequence[Identity], *,
                  names: Namer | None = None) -> Opened:
    """Unwrap the data key with one of `identities` (in a file with key groups: the shares of
    enough groups, FORMAT.md §1.6) and verify the MAC (FORMAT.md §6). `names` names the
    recipients of missing groups in the error when too few groups open."""
    if document.header.threshold is not None:
        from .groups import unwrap_groups

        keys, identity = unwrap_groups(document, identities, names)
    else:
        keys, identity = _unwrap(document, identities)
    try:
        keys.verify_mac(document.authenticated_tree(), document.mac)
    except IntegrityError:
        raise tampered(document.source) from None
    committed = document.header.commitment
    if committed is not None and not constant_time_equal(committed, keys.commitment()):
        raise tampered(document.source)
    return Opened(document, keys, identity)


def tampered(source: str) -> IntegrityError:
    """The one message for every authentication failure: it does not say which check failed."""
    return IntegrityError("authentication failed: the file is corrupt or was modified without "
                          "its key", file=source,
                          hint="restore it from git (`git checkout -- FILE`) or ask its owner")


def _unwrap(document: SealedDocument, identities: Sequence[Identity]) -> tuple[Keys, Identity]:
    """Local identities first; KMS (a network call) only when none of them opens the file."""
    local = [i for i in identities if i.kind != kms.KIND]
    entries = [w for w in document.recipients if not kms.is_arn(w.recipient)]
    for wrapped, identity in local_pairs(entries, local):
        data_key = _try_unwrap(wrapped, identity, document.source)
        if data_key is not None:
            return Keys(data_key, document.header.id_bytes), identity
    remote = [w for w in document.recipients if kms.is_arn(w.recipient)]
    if remote:
        return _kms_unwrap(document, remote)
    raise _no_identity(document, identities)


def local_pairs(entries: Sequence[WrappedKey], local: Sequence[Identity]
                ) -> list[tuple[WrappedKey, Identity]]:
    """The (entry, identity) pairs to try: those whose recipient labels match, else every
    identity on every entry (labels are not authenticated before the MAC is checked)."""
    by_label = {i.recipient: i for i in local}
    pairs = [(w, by_label[w.recipient]) for w in entries if w.recipient in by_label]
    return pairs or [(w, i) for w in entries for i in local]


def _kms_unwrap(document: SealedDocument, remote: list[WrappedKey]) -> tuple[Keys, Identity]:
    """Try each KMS entry (this host's region first); the first failure's error if all fail.

    `document.from_tree` has checked every ARN and blob, and their number, before this."""
    recorded = {w.recipient: w.key for w in remote}
    failures: list[SealerError] = []
    keys = [kms.parse_arn(w.recipient) for w in remote]
    usable = [k for k in keys if kms.allowed(k)]  # the host's say-so ($SEALER_KMS_KEYS)
    if not usable:
        raise kms.not_allowed(keys, document.source)
    for key in kms.preferred_first(usable):
        try:
            data_key = kms.unwrap(key, recorded[key.arn], document.header.id, document.source)
        except (NoIdentityError, IntegrityError, UsageError) as exc:
            if isinstance(exc, UsageError):  # the extra is missing: no other KMS key works
                raise
            failures.append(exc)
            continue
        if len(data_key) != DATA_KEY_BYTES:
            raise tampered(document.source)
        return (Keys(data_key, document.header.id_bytes),
                Identity(key.arn, kms.KIND, None, "AWS KMS"))
    first = failures[0]
    if len(failures) > 1:
        first.message += f" (and {len(failures) - 1} more KMS keys failed)"
    raise first


def _try_unwrap(wrapped: WrappedKey, identity: Identity, source: str) -> bytes | None:
    try:
        data_key = agefile.decrypt(wrapped.key.encode("utf-8"), [identity.native],
                                   max_stanzas=MAX_STANZAS)
    except agefile.AgeError as exc:
        if exc.kind == "no match":
            return None
        raise tampered(source) from None
    if len(data_key) != DATA_KEY_BYTES:
        raise tampered(source)
    return data_key


def _no_identity(document: SealedDocument, identities: Sequence[Identity]) -> NoIdentityError:
    sealed_for = ", ".join(_short(w.recipient) for w in document.recipients[:3])
    more = len(document.recipients) - 3
    if more > 0:
        sealed_for += f" and {more} more"
    if not identities:
        from .discovery import identity_search_hint

        return NoIdentityError("no identity found to decrypt with", file=document.source,
                               hint=f"it is sealed for {sealed_for}; {identity_search_hint()}")
    from .discovery import untried_note

    sources = ", ".join(sorted({i.source for i in identities}))
    untried = untried_note()
    return NoIdentityError(
        f"not sealed for any of your identities (from {sources})", file=document.source,
        hint=f"the file is sealed for {sealed_for}; "
             + (f"{untried}; otherwise " if untried else "")
             + "ask one of them to run `sealer recipients add`",
    )


def _short(recipient: str) -> str:
    head = recipient.split(" ")
    text = head[1] if len(head) > 1 else head[0]
    prefix = head[0] + " " if len(head) > 1 else ""
    return prefix + (text[:16] + "…" if len(text) > 20 else text)


class Plan(NamedTuple):
    keys: Keys
    header: Header
    wrapped: list[WrappedKey]
    reuse: dict[Path, tuple[str, bytes, str]]
    version_reuse: dict[tuple[int | str, Path], tuple[str, bytes, str]]


def seal(
    plaintext: dict[str, Any],
    *,
    previous: Opened | None = None,
    recipients: Sequence[Recipient] | None = None,
    metadata: dict[str, Any] | None = None,
    rekey: bool = False,
    seam: Seam | None = None,
    wrap: Wrapper = wrap_key,
    source: str = "<input>",
    versions: dict[str, list[dict[str, Any]]] | None = None,
    groups: Sequence[Sequence[Recipient]] | None = None,
    threshold: int | None = None,
) -> SealedDocument:
    """Seal `plaintext`, as a new file or as the next version of `previous`.

    Unchanged values of `previous` keep their tokens. Removing a recipient or `rekey=True`
    generates a new data key. When nothing changes, `previous.document` itself is returned.
    `versions` are earlier/pending versions in plaintext (as `Opened.versions()` returns them);
    None carries `previous`'s through, re-encrypted only when the data key changes.
    `groups` and `threshold`: key groups (FORMAT.md §1.6) instead of `recipients`; a file with
    groups keeps them (and its data key) while neither is given.
    """
    seam = seam or SystemSeam()
    if groups is not None:
        from .groups import check_groups

        recipients = check_groups(groups, threshold, source)
    if metadata is None:
        metadata = previous.document.metadata if previous is not None else {}
    check_limits(plaintext, metadata, versions, recipients, source)
    check_metadata(metadata, plaintext, source)
    if RESERVED_KEY in plaintext:
        raise UsageError(f"a top-level key named {RESERVED_KEY!r} is reserved for metadata; "
                         "nothing was sealed", file=source,
                         hint=f"rename the key, or nest it (e.g. app.{RESERVED_KEY})")
    if groups is not None or (previous is not None
                              and previous.document.header.threshold is not None):
        from .groups import plan_groups

        plan = plan_groups(previous, recipients if groups is None else None, groups, threshold,
                           rekey, seam, wrap, source)
    else:
        plan = _plan(previous, recipients, rekey, seam, wrap, source)
    plan = plan._replace(header=plan.header._replace(commitment=plan.keys.commitment()))
    data = _encrypt_tree(plaintext, (), plan, ClearRule.from_metadata(metadata, source), seam)
    if versions is None:
        versions = previous.versions() if previous is not None else {}
    sealed_versions = _encrypt_versions(_present(versions, plaintext), plan, seam)
    if previous is not None and _same(previous.document, data, metadata, plan.wrapped) \
            and previous.document.versions == sealed_versions:
        return previous.document
    document = SealedDocument(plan.header, data, _copy(metadata), plan.wrapped, b"", source)
    document.versions = sealed_versions
    document.mac = plan.keys.mac(document.authenticated_tree())
    return document


def check_limits(plaintext: dict[str, Any], metadata: dict[str, Any],
                  versions: dict[str, list[dict[str, Any]]] | None,
                  recipients: Sequence[Recipient] | None, source: str) -> None:
    """What a reader would refuse, refused before any work (docs/LIMITS.md): nesting and nodes
    of the user's data, metadata and versions where they will sit in the file, and the number
    of recipients. `SealedDocument.to_yaml` checks the whole file again, with its size."""
    nodes = limits.check_tree(plaintext, depth=limits.DATA_DEPTH, source=source)
    nodes += limits.check_tree(metadata, depth=limits.DATA_DEPTH, source=source,
                               prefix=("metadata",))
    for text, entries in (versions or {}).items():
        for entry in entries:
            nodes += limits.check_tree(entry.get("value"), depth=limits.VERSION_VALUE_DEPTH,
                                       source=source, prefix=parse_path(text),
                                       where="a version of ")
    limits.check_nodes(nodes, source)
    count = len({r.text for r in recipients or ()})
    if count > limits.MAX_RECIPIENTS:
        raise UsageError(f"{count} recipients, more than the {limits.MAX_RECIPIENTS} a reader "
                         "accepts; nothing was sealed", file=source,
                         hint="give a team one shared key instead of a key per person")
    remote = len({r.text for r in recipients or () if r.kind == kms.KIND})
    if remote > limits.MAX_KMS_RECIPIENTS:
        raise UsageError(f"{remote} AWS KMS recipients, more than the "
                         f"{limits.MAX_KMS_RECIPIENTS} a reader accepts; nothing was sealed",
                         file=source, hint="one KMS key per region is enough")


def _same(old: SealedDocument, data: Any, metadata: Any, wrapped: list[WrappedKey]) -> bool:
    return old.data == data and old.metadata == metadata and old.recipients == wrapped


def _plan(previous: Opened | None, recipients: Sequence[Recipient] | None, rekey: bool,
          seam: Seam, wrap: Wrapper, source: str) -> Plan:
    check_recipient_mix(recipients, source=source)
    now = seam.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    if previous is None:
        if not recipients:
            raise UsageError("no recipients to seal for", file=source,
                             hint="pass -r age1… or -R FILE with the public keys of the readers")
        file_id = seam.random(16)
        header = Header(FORMAT_VERSION, file_id.hex(), 1, now, now)
        return _fresh(header, recipients, seam, wrap, source)
    old = previous.document
    header = Header(FORMAT_VERSION, old.header.id, old.header.serial + 1, old.header.created, now)
    if recipients is None:
        return Plan(previous.keys, header, list(old.recipients), previous.sealed_plaintexts(),
                     previous.version_plaintexts())
    if not recipients:
        raise UsageError("a sealed file needs at least one recipient", file=source)
    kept = {w.recipient: w for w in old.recipients}
    wanted = {r.text: r for r in recipients}
    if rekey or set(kept) - set(wanted):
        return _fresh(header, list(wanted.values()), seam, wrap, source)
    wrapped = [kept[t] if t in kept
               else WrappedKey(t, _wrap(wrap, previous.keys.data_key, r, header, source))
               for t, r in sorted(wanted.items())]
    return Plan(previous.keys, header, wrapped, previous.sealed_plaintexts(),
                 previous.version_plaintexts())


def _fresh(header: Header, recipients: Sequence[Recipient], seam: Seam, wrap: Wrapper,
           source: str) -> Plan:
    data_key = seam.random(DATA_KEY_BYTES)
    unique = {r.text: r for r in recipients}
    wrapped = [WrappedKey(text, _wrap(wrap, data_key, r, header, source))
               for text, r in sorted(unique.items())]
    return Plan(Keys(data_key, header.id_bytes), header, wrapped, {}, {})


def _encrypt_tree(node: Any, path: Path, plan: Plan, rule: ClearRule, seam: Seam) -> Any:
    if isinstance(node, dict):
        return {k: _encrypt_tree(v, (*path, k), plan, rule, seam) for k, v in node.items()}
    if isinstance(node, list):
        return [_encrypt_tree(v, (*path, i), plan, rule, seam) for i, v in enumerate(node)]
    if rule.is_clear(path):
        return node
    type_name, plain = encode_plaintext(node)
    old = plan.reuse.get(path)
    if old is not None and old[0] == type_name and old[1] == plain:
        return old[2]
    return plan.keys.encrypt(path, type_name, plain, seam.random(NONCE_BYTES))


def _present(versions: dict[str, list[dict[str, Any]]],
             plaintext: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Versions of keys that still exist (unsetting a key drops its versions)."""
    out = {}
    for text, entries in versions.items():
        try:
            get(plaintext, parse_path(text))
        except KeyError:
            continue
        out[text] = entries
    return out


def _encrypt_versions(versions: dict[str, list[dict[str, Any]]], plan: Plan,
                      seam: Seam) -> dict[str, list[dict[str, Any]]]:
    """Plaintext versions -> version tokens (FORMAT.md §10), reusing unchanged tokens."""
    out: dict[str, list[dict[str, Any]]] = {}
    for text, entries in versions.items():
        if entries:
            base = parse_path(text)
            out[text] = [{"id": e["id"], "stages": list(e["stages"]), "created": e["created"],
                          "value": _encrypt_version(e["value"], base, (), e["id"], plan, seam)}
                         for e in entries]
    return out


def _encrypt_version(node: Any, base: Path, path: Path, vid: int | str, plan: Plan,
                     seam: Seam) -> Any:
    if isinstance(node, dict):
        return {k: _encrypt_version(v, base, (*path, k), vid, plan, seam)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_encrypt_version(v, base, (*path, i), vid, plan, seam)
                for i, v in enumerate(node)]
    type_name, plain = encode_plaintext(node)
    full = (*base, *path)
    old = plan.version_reuse.get((vid, full))
    if old is not None and old[0] == type_name and old[1] == plain:
        return old[2]
    return plan.keys.encrypt(full, type_name, plain, seam.random(NONCE_BYTES), vid)
