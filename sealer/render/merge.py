"""Several sealed files -> one plaintext tree.

Files are read and checked first (so a missing second file fails before anything is decrypted),
then opened with one set of identities, then merged in order: mappings merge key by key, and
a key that an earlier file already defines is an error unless overriding is allowed, in which
case the later file wins. Lists and values are never merged, only replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import paths
from ..errors import SealerError
from ..keys import Identity

if TYPE_CHECKING:
    from ..document import SealedDocument

__all__ = ["Merged", "open_and_merge"]

OVERRIDE_HINT = ("a key may be defined in one file only; to let later files override earlier "
                 "ones, pass --allow-override")


class Merged(NamedTuple):
    """The merged plaintext of some sealed files, and what is needed to talk about it."""

    tree: dict[str, Any]  # the merged plaintext (the selected mapping, with `select`)
    files: tuple[Path, ...]
    # each file's data as its structure, for origin(): True where a value is encrypted, False
    # where it is in clear (not the tokens: a big value's would stay in memory while rendering)
    layers: tuple[dict[str, Any], ...]
    base: paths.Path  # where `tree` sits in the files: () unless a mapping was selected
    keys: tuple[tuple[bytes, bytes], ...]  # (data key, file id) of each file, for digest()

    def where(self, path: paths.Path) -> str:
        """The full key path of `path` (a path inside `tree`), as users write it."""
        return paths.format_path((*self.base, *path)) or "(top level)"

    def origin(self, path: paths.Path) -> str:
        """The last file that defines `path`: the one its value came from."""
        full = (*self.base, *path)
        for file, layer in zip(reversed(self.files), reversed(self.layers), strict=True):
            if _defines(layer, full):
                return str(file)
        return str(self.files[-1])

    def error(self, path: paths.Path, problem: str, hint: str | None = None) -> SealerError:
        """An error about one key: names its file and key path, never its value."""
        return SealerError(f"{self.where(path)}: {problem}", file=self.origin(path), hint=hint)

    def digest(self, content: Any) -> str:
        """A keyed digest (hex HMAC-SHA256) of `content`, a plaintext tree.

        It changes whenever `content` does, and without the files' data keys it says nothing
        about it: a plain hash of a short password could be brute-forced by anyone who sees
        the digest. See docs/RENDER.md, "The content digest".
        """
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.hmac import HMAC
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        from ..envelope import canonical_into

        per_file = b"".join(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=file_id,
                 info=b"sealer v1 render digest key").derive(data_key)
            for data_key, file_id in self.keys)
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"sealer v1 render digest").derive(per_file)
        mac = HMAC(key, hashes.SHA256())
        mac.update(b"sealer render digest v1\x00")
        canonical_into(content, mac.update)
        return mac.finalize().hex()


def _defines(tree: Any, path: paths.Path) -> bool:
    try:
        paths.get(tree, path)
    except KeyError:
        return False
    return True


def open_and_merge(files: Sequence[Path], identities: Sequence[Identity] | None = None, *,
                   allow_override: bool = False, select: str | None = None,
                   action: str = "render") -> Merged:
    """Read, verify and decrypt `files`, then merge them in order (see the module doc).

    Each file goes through the same gate as every reader: the audit entry, and the signature
    check when trusted signers are configured.
    """
    from ..access import open_sealed, resolve_identities

    documents = [_read(f) for f in files]  # every file is there and well-formed first
    found = resolve_identities(identities)
    opened = [open_sealed(file, found, action=action, document=doc)
              for file, doc in zip(files, documents, strict=True)]
    tree: dict[str, Any] = {}
    layers: list[dict[str, Any]] = []
    for file, one in zip(files, opened, strict=True):
        _merge(tree, one.plaintext(), (), _Context(file, layers, files, allow_override))
        layers.append(_structure(one.document.data, (), one.document))
    keys = tuple((o.keys.data_key, o.keys.file_id) for o in opened)
    merged = Merged(tree, tuple(files), tuple(layers), (), keys)
    return _select(merged, select) if select is not None else merged


def _structure(node: Any, path: paths.Path, document: SealedDocument) -> Any:
    """`node` (a document's data) with each value replaced by whether it is encrypted."""
    if isinstance(node, dict):
        return {k: _structure(v, (*path, k), document) for k, v in node.items()}
    if isinstance(node, list):
        return [_structure(v, (*path, i), document) for i, v in enumerate(node)]
    return path in document.token_map()


def _read(file: Path) -> SealedDocument:
    """A sealed file; `-` is the one on stdin, governed (sealer.yaml, audit) as `./-`."""
    from ..document import parse_sealed, read_sealed

    if str(file) != "-":
        return read_sealed(file)
    from ..fsio import read_bytes
    from ..yamlio import MAX_BYTES

    return parse_sealed(read_bytes(Path("/dev/stdin"), limit=MAX_BYTES), source="-")


class _Context(NamedTuple):
    file: Path
    earlier: list[dict[str, Any]]  # the layers merged before this file
    files: Sequence[Path]
    allow_override: bool


def _merge(into: dict[str, Any], overlay: dict[str, Any], path: paths.Path, ctx: _Context) -> None:
    for key, value in overlay.items():
        here = (*path, key)
        if key not in into:
            into[key] = value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value, here, ctx)
        elif ctx.allow_override:
            into[key] = value
        else:
            raise _conflict(here, ctx)


def _conflict(path: paths.Path, ctx: _Context) -> SealerError:
    earlier = next((str(f) for f, layer in zip(reversed(ctx.files[:len(ctx.earlier)]),
                                                reversed(ctx.earlier), strict=True)
                    if _defines(layer, path)), "an earlier file")
    return SealerError(f"{paths.format_path(path)} is already defined in {earlier}",
                       file=str(ctx.file), hint=OVERRIDE_HINT)


def _select(merged: Merged, select: str) -> Merged:
    path = paths.parse_path(select)
    try:
        node = paths.get(merged.tree, path)
    except KeyError:
        names = ", ".join(str(f) for f in merged.files)
        raise SealerError(f"no key {select} in {names}", hint="--select takes the key path of a "
                          "mapping; `sealer show FILE` lists the keys") from None
    if not isinstance(node, dict):
        raise merged.error(path, "not a mapping of keys", hint="--select takes the key path "
                                                                  "of a mapping")
    return merged._replace(tree=node, base=path)
