"""git integration: a diff driver (textconv) and a key-level three-way merge driver.

`sealer git setup` registers both for *.sealed.yaml. The diff view shows values when one of
your identities opens the file, and otherwise a redacted view in which every encrypted value is
shown by its type and a short fingerprint of its ciphertext — which changes exactly when the
value changes. The merge driver decrypts base, ours and theirs, merges per key, and seals once;
a real conflict leaves our version in place, lists the key paths, and exits 1. It never writes
conflict markers and never writes plaintext.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import yamlio
from ..access import authorize_write, open_sealed
from ..core import Opened, seal
from ..document import SealedDocument, parse_sealed, read_sealed
from ..envelope import is_token, token_type
from ..errors import NoIdentityError, SealerError
from ..fsio import read_bytes
from ..keys import Identity, parse_recipient
from ..paths import Path as KeyPath
from ..paths import format_path, leaves, set_value
from ..sealedfiles import SEALED_SUFFIXES
from . import run_git

__all__ = ["Conflict", "merge_files", "merge_trees", "setup", "textconv"]

ATTRIBUTES = "".join(f"*{suffix} diff=sealer merge=sealer\n" for suffix in SEALED_SUFFIXES)
# git runs both through `sh -c`. Each is a small shell function, so that a machine without
# sealer on PATH (a CI job, a colleague's laptop) still gets a whole `git diff` — the sealed
# file as stored, with a note on stderr saying why — instead of git aborting the diff of every file,
# and a merge stops at a conflict that says what is missing.
TEXTCONV = ('sealer_textconv() { if command -v sealer >/dev/null 2>&1; then '
            'exec sealer git textconv "$1"; fi; '
            'echo "sealer: not on PATH; git diff shows sealed files as stored (install '
            'sealer to see keys)" >&2; cat "$1"; }; sealer_textconv')
MERGE_DRIVER = ('sealer_merge() { if command -v sealer >/dev/null 2>&1; then '
                'exec sealer git merge-driver "$@"; fi; '
                'echo "sealer: $4: sealer is not on PATH; install it to merge sealed files key '
                'by key" >&2; exit 1; }; sealer_merge %O %A %B %P')
GIT_CONFIG = {
    "diff.sealer.textconv": TEXTCONV,
    "diff.sealer.cachetextconv": "false",
    "merge.sealer.name": "sealer key-level merge of sealed files",
    "merge.sealer.driver": MERGE_DRIVER,
}


def setup(repository: Path) -> list[str]:
    """Add the attributes and the local git config; return what was changed."""
    changes = []
    attributes = repository / ".gitattributes"
    existing = attributes.read_text(encoding="utf-8") if attributes.exists() else ""
    missing = [line for line in ATTRIBUTES.splitlines() if line not in existing.splitlines()]
    if missing:
        prefix = "" if not existing or existing.endswith("\n") else "\n"
        attributes.write_text(existing + prefix + "\n".join(missing) + "\n", encoding="utf-8")
        changes.append(f"{attributes}: {len(missing)} line(s) added")
    for key, value in GIT_CONFIG.items():
        run_git(["config", "--local", key, value], repository)
        changes.append(f"git config {key}")
    return changes


def textconv(path: Path, identities: Sequence[Identity]) -> str:
    """What `git diff` shows for a sealed file. Values pass the read gate (audit, trust); when
    it refuses, or no identity opens the file, the redacted view is shown instead."""
    try:
        document = read_sealed(path)
    except SealerError as exc:
        return f"# not a valid sealed file: {exc.message}\n" + read_bytes(path).decode(
            "utf-8", "replace")
    opened, why = None, "no key"
    if identities:
        try:
            opened = open_sealed(policy_path(path), identities, action="diff", document=document)
        except NoIdentityError:
            pass
        except SealerError as exc:
            why = f"not decrypted: {exc.message}"
    head = (f"# sealed file {document.header.id[:8]} serial {document.header.serial}, "
            f"modified {document.header.modified}\n")
    if opened is not None:
        body: dict[str, Any] = {"data": opened.plaintext()}
        head += "# values decrypted with your key\n"
    else:
        body = {"data": _redacted(document)}
        head += f"# values redacted ({why}): a changed fingerprint means a changed value\n"
    body["recipients"] = [w.recipient for w in document.recipients]
    if document.metadata:
        body["metadata"] = document.metadata
    return head + yamlio.dump(body)


def policy_path(path: Path) -> Path:
    """The path sealer.yaml and the audit log are looked up for. git runs its drivers at the top
    of the work tree and hands textconv a temporary copy for other revisions: such a copy is
    governed by the repository's sealer.yaml under its own name."""
    absolute = path.absolute()
    cwd = Path.cwd()
    if cwd == absolute.parent or cwd in absolute.parents:
        return path
    name = path.name
    return cwd / (name[7:] if len(name) > 7 and name[6] == "_" else name)  # git's XXXXXX_NAME


def _redacted(document: SealedDocument) -> Any:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if is_token(node):
            digest = hashlib.sha256(node.encode()).hexdigest()[:10]
            return f"<{token_type(node)} {digest}>"
        return node
    return walk(document.data)


class Conflict(SealerError):
    """Both sides changed the same keys differently. Lists key paths, never values."""

    def __init__(self, file: str, paths: list[str]) -> None:
        super().__init__(f"merge conflict on {', '.join(paths)}; the file was left as it is on "
                         "this branch", file=file,
                         hint="resolve it with `sealer edit FILE` (or `sealer set`), then "
                              "`git add FILE`")
        self.paths = paths


_MISSING = object()


def merge_trees(base: Any, ours: Any, theirs: Any, file: str) -> Any:
    """Key-level three-way merge of decrypted documents. Empty mappings and lists are values
    of their own, so a merge keeps them (and a side that fills one merges key by key)."""
    b, o, t = (dict(leaves(x, empty=True)) for x in (base, ours, theirs))
    merged: dict[KeyPath, Any] = {}
    clashes = []
    for path in list(dict.fromkeys([*o, *t, *b])):
        bv, ov, tv = (x.get(path, _MISSING) for x in (b, o, t))
        if _same(ov, tv) or _same(tv, bv):
            value = ov
        elif _same(ov, bv):
            value = tv
        else:
            clashes.append(format_path(path))
            continue
        if value is not _MISSING:
            merged[path] = value
    if clashes:
        raise Conflict(file, clashes)
    return _build(merged, ours, theirs)


def _same(a: Any, b: Any) -> bool:
    return a is b or (a is not _MISSING and b is not _MISSING and type(a) is type(b) and a == b)


def _build(merged: dict[KeyPath, Any], ours: Any, theirs: Any) -> Any:
    """Rebuild a tree from leaves (keeping ours' order, then theirs' new keys)."""
    result: dict[str, Any] = {}
    for path in sorted(merged, key=lambda p: _order(p, ours, theirs)):
        value = merged[path]
        if isinstance(value, dict | list) and not value and _present(result, path):
            continue  # emptied on one side, filled on the other: the keys merged decide
        try:
            set_value(result, path, value)
        except KeyError:
            raise Conflict("", [format_path(path)]) from None
    return result


def _present(tree: Any, path: KeyPath) -> bool:
    from ..paths import get

    try:
        get(tree, path)
    except KeyError:
        return False
    return True


def _order(path: KeyPath, ours: Any, theirs: Any) -> tuple[int, ...]:
    keys: list[int] = []
    node_o, node_t = ours, theirs
    for part in path:
        if isinstance(part, int):
            keys.append(part)
        else:
            names = list(node_o) if isinstance(node_o, dict) else []
            names += [k for k in (node_t if isinstance(node_t, dict) else []) if k not in names]
            keys.append(names.index(part) if part in names else len(names))
        node_o = _child(node_o, part)
        node_t = _child(node_t, part)
    return tuple(keys)


def _child(node: Any, part: Any) -> Any:
    try:
        return node[part]
    except (KeyError, IndexError, TypeError):
        return None


def _three_way(base: Any, ours: Any, theirs: Any, what: str, file: str) -> Any:
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    raise Conflict(file, [what])


def merge_files(base: Path, ours: Path, theirs: Path, name: str,
                identities: Sequence[Identity]) -> SealedDocument:
    """Merge three versions of a sealed file into `ours` (the git merge-driver contract).

    `name` (git's %P) is the file as sealer.yaml sees it: all three sides pass the read gate,
    and the result passes the write gate (signed where its environment requires it) before
    `ours` is replaced.
    """
    where = Path(name) if name else ours
    opened = [_open(p, where, identities) for p in (base, ours, theirs)]
    b, o, t = opened
    if len({x.document.header.id for x in opened}) != 1:
        raise Conflict(name, ["the file id (one side replaced the file)"])
    data = merge_trees(b.plaintext(), o.plaintext(), t.plaintext(), name)
    metadata = _three_way(b.document.metadata, o.document.metadata, t.document.metadata,
                          "metadata", name)
    base_r, ours_r, theirs_r = ([w.recipient for w in x.document.recipients] for x in opened)
    recipients = _three_way(base_r, ours_r, theirs_r, "recipients", name)
    gate = authorize_write(where, recipients, keeps_data_key=False)  # its own rule, below
    newest = max(o.document.header.serial, t.document.header.serial)
    o.document.header = o.document.header._replace(serial=newest)
    foreign = _foreign_recipients(recipients, o, t)
    if foreign:
        raise Conflict(name, [f"recipients {', '.join(foreign)} (added on their side, which is "
                              "sealed under another data key: add them after review with "
                              "`sealer recipients add`)"])
    merged = seal(data, previous=o, metadata=metadata, source=name,
                  recipients=[parse_recipient(r) for r in recipients])
    gate.commit(None, merged, target=ours)
    return merged


def _foreign_recipients(recipients: list[str], ours: Opened, theirs: Opened) -> list[str]:
    """Recipients the merge would add that came from a side sealed under another data key.

    Our data key opens every earlier version of the file in git. Wrapping it — or any key of
    the merged values — for a recipient that only their side introduced, a side whose MAC
    verifies under *their* key (which anyone with the public keys can make), would hand that
    recipient our secrets and the file's history. Such a merge stops as a conflict instead.
    """
    import hmac

    if hmac.compare_digest(ours.keys.data_key, theirs.keys.data_key):
        return []  # their side knew our data key: it could already read everything
    present = {w.recipient for w in ours.document.recipients}
    return sorted(r[:20] + "…" if len(r) > 21 else r for r in recipients if r not in present)


def _open(path: Path, where: Path, identities: Sequence[Identity]) -> Opened:
    document = parse_sealed(read_bytes(path, limit=yamlio.MAX_BYTES), source=str(where))
    return open_sealed(where, identities, action="merge", document=document)
