"""Operations on sealed files: each public function is what one CLI command does.

Writers take the file's lock, read the current file, change it in memory and replace it
atomically, so two concurrent writers never lose each other's update. The `*_many` functions
(rekey, recipients add and remove over many files) make the same writes in a batch
(`fsio.batched_writes`): each file is still replaced atomically, and the fsyncs are paid together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths, yamlio
from .access import Identities, WriteGate, Written, authorize_write, open_sealed
from .config import Config, project_for
from .core import Opened, seal
from .document import SealedDocument, from_tree, looks_sealed, read_sealed
from .envelope import Seam, encode_plaintext, is_token, token_type
from .errors import NoIdentityError, SealerError, UsageError
from .fsio import StrPath, as_path, batched_writes, locked, read_bytes
from .keys import Recipient, parse_recipient
from .plaintext import METADATA_KEY, parse_input
from .sealedfiles import sealed_name

if TYPE_CHECKING:
    from .rotation.versions import WriteIntent

__all__ = [
    "Written",
    "get_value",
    "open_file",
    "recipient_groups",
    "recipients_add",
    "recipients_add_many",
    "recipients_list",
    "recipients_remove",
    "recipients_remove_many",
    "rekey_file",
    "rekey_many",
    "seal_file",
    "set_value",
    "show_file",
    "sign_file",
    "stored_type",
    "unseal_file",
    "unset_values",
]



def open_file(path: StrPath, identities: Identities = None, *, action: str = "open",
              keys: Sequence[str] = ()) -> Opened:
    """Read, unwrap and verify a sealed file through the read gate (trust, audit first)."""
    path = as_path(path)
    return open_sealed(path, identities, action=action, keys=keys)


@contextmanager
def _editing(path: Path, identities: Identities, action: str, keys: Sequence[str] = (), *,
             resign: bool = False, new_key: bool = False
             ) -> Iterator[tuple[Opened, WriteGate]]:
    """Lock `path`, pass the write gate, and open the current version of the file.
    `new_key`: the write makes a new data key (rekey, recipients remove)."""
    with locked(path):
        gate = authorize_write(path, keeps_data_key=not new_key)
        yield open_sealed(path, identities, action=action, keys=keys,
                          resign_with=gate if resign else None), gate


# -- seal ------------------------------------------------------------------------------------


def default_output(source: Path) -> Path:
    """`app.yaml` -> `app.sealed.yaml` (and `app.yml`, `app` alike)."""
    return sealed_name(source)


def seal_file(
    text: bytes,
    output: StrPath,
    *,
    source: str,
    recipients: Sequence[Recipient] | None = None,
    identities: Identities = None,
    clear: dict[str, str] | None = None,
    replace: bool = False,
    overwrite_plaintext: bool = False,
    force: bool = False,
    input_type: str = "yaml",
    seam: Seam | None = None,
    intent: WriteIntent | None = None,
    groups: Sequence[Sequence[Recipient]] | None = None,
    threshold: int | None = None,
) -> Written:
    """Seal plaintext `text` (YAML, or dotenv) into `output`, updating it if it is already a
    sealed file. `groups` and `threshold`: key groups (docs/KEY-GROUPS.md) instead of
    `recipients`.

    Updating keeps the data key, the recipients (unless given) and every unchanged token, and
    needs an identity; new `recipients` must keep the key that opened it unless `force`.
    `replace=True` starts a new file (new id and data key) instead.
    """
    output = as_path(output)
    data, metadata = parse_input(text, source=source, input_type=input_type)
    if groups is not None:
        recipients = [r for group in groups for r in group]
    with locked(output):
        previous = _previous(output, identities, replace, overwrite_plaintext)
        if previous is not None and recipients is not None and not force:
            _keeps_own_key(previous, recipients, output)
        project = project_for(output)
        if previous is None and project is not None:
            if recipients is None:
                groups, threshold = _project_groups(project, output, groups, threshold)
                recipients = [r for g in groups for r in g] if groups is not None else None
            recipients, metadata = _project_defaults(project, output, recipients, metadata)
        metadata = _with_clear(metadata, previous, clear)
        effective = metadata if metadata is not None else (
            previous.document.metadata if previous else {})
        gate = authorize_write(output, [r.text for r in recipients] if recipients else None,
                               keeps_data_key=previous is not None, threshold=threshold,
                               groups=[[r.text for r in g] for g in groups] if groups else None)
        check_values(data, effective, project, output)
        stamped = stamp_expiry(data, effective, project, output)
        metadata = stamped if stamped != effective else metadata
        from .rotation.versions import versioned_write  # writes only: reads skip its imports

        versioned = versioned_write(previous, data, stamped, file=output, intent=intent) \
            if previous is not None else None
        if versioned is not None:  # a rotated key changed: a new version (FORMAT.md §10)
            metadata = versioned[0]
        new = seal(data, previous=previous, recipients=recipients if groups is None else None,
                   metadata=metadata, seam=seam, versions=versioned[1] if versioned else None,
                   source=str(output), groups=groups, threshold=threshold)
        return gate.commit(previous.document if previous else None, new)


def _project_groups(project: Config, output: Path, groups: Sequence[Sequence[Recipient]] | None,
                    threshold: int | None
                    ) -> tuple[Sequence[Sequence[Recipient]] | None, int | None]:
    """A new file's key groups from its environment's `key_groups`, when it has them."""
    env = project.environment_for(output)
    if groups is not None or env is None or env.threshold is None:
        return groups, threshold
    return ([[parse_recipient(project.principals[n], source=str(project.path)) for n in group]
             for group in env.key_groups], env.threshold)


def _project_defaults(project: Config, output: Path, recipients: Sequence[Recipient] | None,
                      metadata: dict[str, Any] | None
                      ) -> tuple[Sequence[Recipient] | None, dict[str, Any] | None]:
    """A new file's recipients and clear rule from the creation rule that matches it."""
    rule = project.rule_for(output)
    if rule is None:
        return recipients, metadata
    if recipients is None:
        env = project.environments[rule.environment]
        recipients = [parse_recipient(project.principals[n], source=str(project.path))
                      for n in env.recipients]
    if rule.clear and not (metadata or {}).get("clear"):
        metadata = {**(metadata or {}), "clear": dict(rule.clear)}
    return recipients, metadata


def stamp_expiry(data: dict[str, Any], metadata: dict[str, Any], project: Config | None,
                 output: Path) -> dict[str, Any]:
    """Record each TLS certificate's end of validity as rotation.expires (FORMAT.md §10), so
    `rotation status` and check can warn before it lapses; metadata is returned unchanged
    when there is nothing to record."""
    from .check import schema_targets
    from .schemas import certificate_expiry

    rule = project.rule_for(output) if project else None
    out = metadata
    for path, name in schema_targets(metadata, rule.schema if rule else None):
        if name != "tls-certificate":
            continue
        try:
            expires = certificate_expiry(paths.get(data, path) if path else data)
        except KeyError:
            continue
        if expires is not None:
            out = _set_expires(out, paths.format_path(path) if path else None, expires)
    return out


def _set_expires(metadata: dict[str, Any], key: str | None, expires: str) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(metadata)
    holder = out if key is None else out.setdefault("keys", {}).setdefault(key, {})
    rotation = holder.setdefault("rotation", {})
    if rotation.get("expires") != expires:
        rotation["expires"] = expires
    return out


def check_values(data: dict[str, Any], metadata: dict[str, Any], project: Config | None,
                 output: Path) -> None:
    """Refuse to seal values that break their schemas (the file's, each key's)."""
    from .check import schema_targets
    from .schemas import resolve_schema, validate_values

    rule = project.rule_for(output) if project else None
    for path, name in schema_targets(metadata, rule.schema if rule else None):
        schema = resolve_schema(name, project.schemas if project else None,
                                project.root if project else None)
        if schema is None:
            raise SealerError(f"unknown schema {name!r}", file=str(output),
                              hint="`sealer check --list-schemas` lists the built-in ones")
        try:
            node = paths.get(data, path) if path else data
        except KeyError:
            continue
        issues = validate_values(node, schema)
        if issues:
            where = paths.format_path((*path, *issues[0].path)) or "top level"
            more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
            raise SealerError(f"{where}: {name}: {issues[0].message}{more}; nothing was sealed",
                              file=str(output), hint="fix the value, or change the schema in "
                                                     "the metadata or sealer.yaml")


def _previous(output: Path, identities: Identities, replace: bool,
              overwrite_plaintext: bool) -> Opened | None:
    if not output.exists():
        return None
    try:
        tree = yamlio.load(read_bytes(output, limit=yamlio.MAX_BYTES), source=str(output))
    except SealerError:
        tree = None
    if not looks_sealed(tree):
        if overwrite_plaintext:
            return None
        raise UsageError("exists and is not a sealed file; refusing to overwrite it",
                         file=str(output),
                         hint="pass --in-place to replace a plaintext file with its sealed form, "
                              "or -o to write elsewhere")
    if replace:
        return None
    try:
        return open_sealed(output, identities, action="seal", document=from_tree(tree, str(output)))
    except NoIdentityError as exc:
        exc.hint = ("updating a sealed file needs one of its identities (-i KEYFILE); "
                    "--replace starts over with a new data key")
        raise


def _keeps_own_key(previous: Opened, recipients: Sequence[Recipient], output: Path) -> None:
    """Refuse new recipients that leave out the identity that opened the previous version."""
    own = previous.identity
    if own is None or own.recipient in {r.text for r in recipients}:
        return
    raise UsageError(f"the new recipients leave out your own key ({own.source}), which opened "
                     "this file: you could not read it any more; nothing was written",
                     file=str(output), hint="add your key with -r too, or pass --force to drop "
                                            "it; `sealer recipients add|remove` change one key "
                                            "at a time")


def _with_clear(metadata: dict[str, Any] | None, previous: Opened | None,
                clear: dict[str, str] | None) -> dict[str, Any] | None:
    if not clear:
        return metadata
    base = metadata if metadata is not None else (
        dict(previous.document.metadata) if previous else {})
    return {**base, "clear": {**base.get("clear", {}), **clear}}


# -- read ------------------------------------------------------------------------------------


def unseal_file(path: StrPath, identities: Identities = None, *,
                with_metadata: bool = False) -> dict[str, Any]:
    """The decrypted document; with its metadata under `sealer:` when asked."""
    path = as_path(path)
    opened = open_file(path, identities, action="unseal")
    plain = opened.plaintext()
    if with_metadata and opened.document.metadata:
        plain[METADATA_KEY] = opened.document.metadata
    return plain


def get_value(path: StrPath, key: str, identities: Identities = None, *,
              stage: str = "current", version_id: str | None = None) -> Any:
    """One decrypted value (or subtree) by key path; `stage` (previous, pending or any
    staging label) or `version_id` reads that version of a rotated key (FORMAT.md §10), of the
    key itself or of any path inside it (`db.password` of the rotated `db`)."""
    path = as_path(path)
    key_path = paths.parse_path(key)
    opened = open_file(path, identities, action="get", keys=[key])
    try:
        value = opened.value(key_path)
    except KeyError:
        raise _no_key(path, key, opened.document.data) from None
    label = stage.upper() if stage.lower() in ("current", "previous", "pending") else stage
    if label == "CURRENT" and version_id is None:
        return value
    return _version_value(opened, key_path, path, value, label, version_id)


def _version_value(opened: Opened, key_path: paths.Path, path: Path, current: Any, label: str,
                   version_id: str | None) -> Any:
    from .rotation.versions import current_of, rotation_entries

    key = paths.format_path(key_path)
    what = f"version {version_id}" if version_id is not None else f"{label} version"
    settings = dict(rotation_entries(opened.document.metadata))
    versions = opened.versions()
    for cut in range(len(key_path), 0, -1):
        rotated = paths.format_path(key_path[:cut])
        if rotated not in settings and rotated not in versions:
            continue
        hint = f"`sealer versions {path} {rotated}` lists its versions"
        cur = current_of(settings.get(rotated, {}), opened.document.header.created)
        is_current = (str(cur.id) == version_id if version_id is not None
                      else label == "CURRENT" or label in cur.labels)
        if is_current and (label == "CURRENT" or label in cur.labels):
            return current
        for entry in versions.get(rotated, []):
            if (str(entry["id"]) == version_id if version_id is not None
                    else label in entry["stages"]) and (
                    label == "CURRENT" or label in entry["stages"]):
                try:
                    return paths.get(entry["value"], key_path[cut:])
                except KeyError:
                    raise SealerError(f"{key} has no {what}: the {what} of {rotated} has no "
                                      f"{paths.format_path(key_path[cut:])}",
                                      file=str(path), hint=hint) from None
        raise SealerError(f"{key} has no {what}" + (f" labelled {label}" if version_id
                                                     and label != "CURRENT" else ""),
                          file=str(path), hint=hint)
    raise SealerError(f"{key} has no {what}", file=str(path),
                      hint=f"`sealer versions {path} {key}` lists its versions")


def stored_type(path: StrPath, key: str) -> str | None:
    """The type (str, int, float, bool, null, bytes) the file records for the value at `key`,
    read without a key; None when there is no such value or it is a mapping or list."""
    document = read_sealed(as_path(path))
    key_path = paths.parse_path(key)
    try:
        node = paths.get(document.data, key_path)
    except KeyError:
        return None
    if isinstance(node, dict | list):
        return None
    if is_token(node) and not document.clear_rule.is_clear(key_path):
        return token_type(node)
    return encode_plaintext(node)[0]


def _no_key(path: Path, key: str, data: dict[str, Any]) -> SealerError:
    top = ", ".join(paths.format_path((k,)) for k in list(data)[:8]) or "(none)"
    return SealerError(f"no key {key}", file=str(path),
                       hint=f"top-level keys: {top}; `sealer show {path}` lists them all")


def show_file(path: StrPath) -> dict[str, Any]:
    """Structure, types, metadata and recipients with every encrypted value redacted."""
    path = as_path(path)
    doc = read_sealed(path)
    return {
        "file": str(path),
        "format": doc.header.format,
        "id": doc.header.id,
        "serial": doc.header.serial,
        "created": doc.header.created,
        "modified": doc.header.modified,
        "recipients": [w.recipient for w in doc.recipients],
        **({"key_groups": _key_groups(doc)} if doc.header.threshold is not None else {}),
        "metadata": doc.metadata,
        "data": _redact(doc.data, (), doc),
        **({"versions": {key: [{"id": e["id"], "stages": e["stages"], "created": e["created"]}
                               for e in entries]
                         for key, entries in doc.versions.items()}} if doc.versions else {}),
        **({"signatures": _signatures(doc)} if doc.signatures else {}),
    }


def _signatures(doc: SealedDocument) -> list[dict[str, Any]]:
    """Who signed, and whether each signature verifies over this content (no key needed);
    the signer's principal name when sealer.yaml has one."""
    from .config import project_for
    from .signing import SignatureError, canonical_key, signer_of

    project = project_for(Path(doc.source))
    names = {canonical_key(text): name for name, text in project.principals.items()} \
        if project is not None else {}
    out = []
    for entry in doc.signatures:
        try:
            signer_of(doc, entry)
            valid = True
        except SignatureError:
            valid = False
        out.append({"signer": entry.signer, "principal": names.get(canonical_key(entry.signer)),
                    "valid": valid})
    return out


def _redact(node: Any, path: paths.Path, doc: SealedDocument) -> Any:
    if isinstance(node, dict):
        return {k: _redact(v, (*path, k), doc) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact(v, (*path, i), doc) for i, v in enumerate(node)]
    if doc.clear_rule.is_clear(path):
        return node
    return f"<{token_type(node)}, encrypted>"


def recipients_list(path: StrPath) -> list[str]:
    path = as_path(path)
    return [w.recipient for w in read_sealed(path).recipients]


def recipient_groups(path: StrPath) -> list[tuple[int | None, str]]:
    """(key group, or None in a file without groups; recipient) of each recipient."""
    return [(w.group, w.recipient) for w in read_sealed(as_path(path)).recipients]


def _key_groups(doc: SealedDocument) -> dict[str, Any]:
    """A file's key groups (FORMAT.md §1.6) for `show`: the threshold and each group's
    recipients, group 1 first."""
    from .document import group_count

    return {"threshold": doc.header.threshold,
            "groups": [[w.recipient for w in doc.recipients if w.group == g]
                       for g in range(1, group_count(doc) + 1)]}


# -- write -----------------------------------------------------------------------------------


def _reseal(opened: Opened, gate: WriteGate, plain: dict[str, Any], *,
            intent: WriteIntent | None = None, **kwargs: Any) -> Written:
    doc = opened.document
    path = Path(doc.source)
    metadata = kwargs.get("metadata") or doc.metadata
    from .rotation.versions import versioned_write  # writes only: reads skip its imports

    versioned = versioned_write(opened, plain, metadata, file=path, intent=intent)
    if versioned is not None:  # a rotated key changed: a new version (FORMAT.md §10)
        metadata = kwargs["metadata"] = versioned[0]
        kwargs["versions"] = versioned[1]
    project = project_for(path)
    check_values(plain, metadata, project, path)
    stamped = stamp_expiry(plain, metadata, project, path)
    if stamped != metadata:
        kwargs["metadata"] = stamped
    new = seal(plain, previous=opened, source=doc.source, **kwargs)
    return gate.commit(doc, new)


def set_value(path: StrPath, key: str, value: Any, identities: Identities = None, *,
              seam: Seam | None = None, intent: WriteIntent | None = None) -> Written:
    """Set one key (creating mappings on the way) and re-seal. A rotated key gets a new
    version (FORMAT.md §10; `intent` says what the user allowed)."""
    path = as_path(path)
    key_path = paths.parse_path(key)
    with _editing(path, identities, "set", [key]) as (opened, gate):
        plain = opened.plaintext()
        try:
            paths.set_value(plain, key_path, value)
        except KeyError:
            raise SealerError(f"cannot set {key}: its parent is not a mapping or the list "
                              f"index is past the end", file=str(path)) from None
        return _reseal(opened, gate, plain, seam=seam, intent=intent)


def replace_data(path: StrPath, plain: dict[str, Any], identities: Identities = None, *,
                 seam: Seam | None = None, intent: WriteIntent | None = None) -> Written:
    """Replace the whole document with `plain` and re-seal (AWS's PutSecretValue on a whole
    file): metadata of keys that no longer exist goes, rotated keys get new versions."""
    path = as_path(path)
    if not isinstance(plain, dict):
        raise UsageError("the new document must be a mapping", file=str(path))
    with _editing(path, identities, "replace", list(plain)) as (opened, gate):
        metadata = _drop_key_metadata(opened.document.metadata, plain)
        return _reseal(opened, gate, dict(plain), metadata=metadata, seam=seam, intent=intent)


def create_with_value(path: StrPath, key: str, value: Any, recipients: Sequence[Recipient], *,
                      seam: Seam | None = None) -> Written:
    """A new sealed file holding one key."""
    path = as_path(path)
    key_path = paths.parse_path(key)
    plain: dict[str, Any] = {}
    paths.set_value(plain, key_path, value)
    with locked(path):
        if path.exists():
            raise UsageError("already exists", file=str(path))
        gate = authorize_write(path, [r.text for r in recipients])
        new = seal(plain, recipients=recipients, seam=seam, source=str(path))
        return gate.commit(None, new)


def unset_values(path: StrPath, keys: Sequence[str], identities: Identities = None, *,
                 seam: Seam | None = None, intent: WriteIntent | None = None) -> Written:
    """Remove keys (and their metadata) and re-seal."""
    path = as_path(path)
    key_paths = [paths.parse_path(k) for k in keys]
    with _editing(path, identities, "unset", keys) as (opened, gate):
        plain = opened.plaintext()
        for text, key_path in zip(keys, key_paths, strict=True):
            try:
                paths.delete(plain, key_path)
            except KeyError:
                raise _no_key(path, text, opened.document.data) from None
        metadata = _drop_key_metadata(opened.document.metadata, plain)
        return _reseal(opened, gate, plain, metadata=metadata, seam=seam, intent=intent)


def _drop_key_metadata(metadata: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
    keys = metadata.get("keys")
    if not isinstance(keys, dict):
        return metadata
    kept = {}
    for text, entry in keys.items():
        try:
            paths.get(plain, paths.parse_path(text))
        except (KeyError, SealerError):
            continue
        kept[text] = entry
    return {**metadata, "keys": kept} if kept else {
        k: v for k, v in metadata.items() if k != "keys"}


def recipients_add(path: StrPath, recipients: Sequence[Recipient], identities: Identities = None,
                   *, seam: Seam | None = None) -> Written:
    """Wrap the existing data key for more recipients; values are untouched."""
    path = as_path(path)
    with _editing(path, identities, "recipients-add") as (opened, gate):
        current = _current_recipients(opened)
        return _reseal(opened, gate, opened.plaintext(), recipients=[*current, *recipients],
                       seam=seam)


def recipients_remove(path: StrPath, recipients: Sequence[Recipient],
                      identities: Identities = None, *, seam: Seam | None = None) -> Written:
    """Drop recipients: a new data key and new ciphertext for every value."""
    path = as_path(path)
    with _editing(path, identities, "recipients-remove", new_key=True) as (opened, gate):
        current = _current_recipients(opened)
        gone = {r.text for r in recipients}
        missing = gone - {r.text for r in current}
        if missing:
            raise UsageError(f"{sorted(missing)[0]} is not a recipient", file=str(path),
                             hint=f"`sealer recipients list {path}` shows the recipients")
        remaining = [r for r in current if r.text not in gone]
        if not remaining:
            raise UsageError("cannot remove every recipient", file=str(path),
                             hint="add the new recipient first, then remove the old one")
        return _reseal(opened, gate, opened.plaintext(), recipients=remaining, seam=seam)


def rekey_file(path: StrPath, identities: Identities = None, *,
               seam: Seam | None = None) -> Written:
    """A new data key for the same recipients; every value re-encrypted."""
    path = as_path(path)
    with _editing(path, identities, "rekey", resign=True, new_key=True) as (opened, gate):
        grouped = opened.document.header.threshold is not None  # keeps its groups
        return _reseal(opened, gate, opened.plaintext(),
                       recipients=None if grouped else _current_recipients(opened),
                       rekey=True, seam=seam)


# -- many files at once ----------------------------------------------------------------------

Done = Callable[[StrPath, Written], None]  # told of each file, in order, once it is durable
Changes = Iterable[tuple[StrPath, Sequence[Recipient]]]  # each file with its recipients


def rekey_many(paths: Iterable[StrPath], identities: Identities = None, *,
               seam: Seam | None = None, done: Done | None = None) -> list[Written]:
    """`rekey_file` of each file, in order, with the fsyncs paid in batches (each file is still
    old or new after a crash). `done(path, written)` is called for each file once its new
    version is durable. An error stops at that file: the files before it are written (and
    `done` was called for them), it and those after it are unchanged."""
    return _many([(p, partial(rekey_file, p, identities, seam=seam)) for p in paths], done)


def recipients_add_many(changes: Changes, identities: Identities = None, *,
                        seam: Seam | None = None, done: Done | None = None) -> list[Written]:
    """`recipients_add` of each (file, recipients), batched as `rekey_many`; a file given no
    recipients is left as it is (`changed` False)."""
    return _many([(p, partial(recipients_add, p, r, identities, seam=seam) if r else None)
                  for p, r in changes], done)


def recipients_remove_many(changes: Changes, identities: Identities = None, *,
                           seam: Seam | None = None, done: Done | None = None) -> list[Written]:
    """`recipients_remove` of each (file, recipients), batched as `rekey_many`; a file given
    no recipients is left as it is (`changed` False)."""
    return _many([(p, partial(recipients_remove, p, r, identities, seam=seam) if r else None)
                  for p, r in changes], done)


def _many(writes: Sequence[tuple[StrPath, Callable[[], Written] | None]],
          done: Done | None) -> list[Written]:
    out: list[Written] = []
    with batched_writes() as batch:
        for path, write in writes:
            written = write() if write is not None else _unchanged(path)
            out.append(written)
            batch.then(partial(done, path, written) if done is not None else None)
    return out


def _unchanged(path: StrPath) -> Written:
    target = as_path(path)
    return Written(target, read_sealed(target), changed=False)


def sign_file(path: StrPath, identities: Identities = None) -> Written:
    """Sign a file with $SEALER_SIGNING_KEY, replacing that key's earlier signature. Needs one
    of the file's identities too: a signer vouches only for content its key opens and verifies.
    """
    path = as_path(path)
    from .signing import signing_key_from_env

    if signing_key_from_env() is None:
        raise UsageError("SEALER_SIGNING_KEY is not set", file=str(path),
                         hint="SEALER_SIGNING_KEY=~/.ssh/id_ed25519 sealer sign FILE")
    with _editing(path, identities, "sign", resign=True) as (opened, gate):
        import copy

        new = copy.copy(opened.document)
        new.signatures = list(opened.document.signatures)
        return gate.commit(None, new)


def environment_changes(path: Path, *, adding: bool) -> list[Recipient]:
    """From sealer.yaml: the environment's recipients the file lacks (adding), or the file's
    recipients the environment does not allow (removing)."""
    project = project_for(path)
    env = project.environment_for(path) if project else None
    if project is None or env is None:
        raise UsageError("no recipients given, and no creation rule in sealer.yaml covers "
                         "this file", file=str(path), hint="pass -r age1… (or a principal "
                                                           "name) or -R FILE")
    present = {w.recipient for w in read_sealed(path).recipients}
    if adding:
        wanted = [parse_recipient(project.principals[n]) for n in env.recipients]
        return [r for r in wanted if r.text not in present]
    allowed = {parse_recipient(project.principals[n]).text for n in env.allowed}
    return [parse_recipient(t) for t in present if t not in allowed]


def _current_recipients(opened: Opened) -> list[Recipient]:
    doc = opened.document
    return [parse_recipient(w.recipient, source=doc.source) for w in doc.recipients]
