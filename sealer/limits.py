"""The limits a reader applies to a sealed file (docs/LIMITS.md), and the checks writers make
against them, so that sealer never writes a file it then refuses to read.

Readers (`yamlio.load`, `document.from_tree`, `core.open_document`) enforce these; writers check
them on the way in (`core.seal`, `SealedDocument.to_yaml`, stdin and `--from-file` reading) and
refuse before anything is written. The walks here are iterative: no depth of nesting can make
them, or anything that calls them first, raise RecursionError.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .errors import UsageError, YamlError

__all__ = [
    "DATA_DEPTH",
    "MAX_CLEAR_REGEX",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_GROUPS",
    "MAX_KEY_PATH_PARTS",
    "MAX_KMS_RECIPIENTS",
    "MAX_LABELS",
    "MAX_NODES",
    "MAX_RECIPIENTS",
    "MAX_RECIPIENT_CHARS",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_CHARS",
    "MAX_STANZAS",
    "MAX_VALUE_BYTES",
    "MAX_WRAPPED_KEY_CHARS",
    "VERSION_VALUE_DEPTH",
    "Shape",
    "check_file_size",
    "check_key_path",
    "check_nodes",
    "check_tree",
    "mib",
    "shape",
    "too_deep",
]

MIB = 1024 * 1024

# -- what a reader accepts (FORMAT.md §1.4, §7, §11) --------------------------------------------
MAX_FILE_BYTES = 32 * MIB  # one YAML document: sealed files and plaintext input
MAX_DEPTH = 100  # levels of nesting; the top-level mapping is level 1
MAX_NODES = 1_000_000  # values, mappings, lists and mapping keys, all counted
MAX_RECIPIENTS = 256  # entries in `recipients`: a reader tries at most this many unwraps
MAX_KMS_RECIPIENTS = 16  # AWS KMS entries among them: a reader makes at most this many calls
MAX_GROUPS = 16  # key groups in a format 2 file (FORMAT.md §1.6); threshold 1..groups
MAX_RECIPIENT_CHARS = 4096  # one recipient's text (an RSA-16384 SSH key is about 2,800)
MAX_WRAPPED_KEY_CHARS = 16 * 1024  # one armored age file for one recipient (PQ: ~2.5 KiB)
MAX_STANZAS = 4  # stanzas in one wrapped key: one, and grease some implementations add
MAX_SIGNATURES = 16  # entries in `signatures`
MAX_SIGNATURE_CHARS = 16 * 1024  # an armored SSHSIG (RSA-8192: ~1.5 KiB); the signer at most 4096
MAX_LABELS = 20  # staging labels on one version of a rotated key (AWS's limit, FORMAT.md §10)
MAX_CLEAR_REGEX = 500  # characters of metadata.clear.regex (FORMAT.md §5)

# -- derived: where the user's keys sit in a sealed file ----------------------------------------
DATA_DEPTH = 2  # `data` (and `metadata`) is a mapping at level 2
VERSION_VALUE_DEPTH = 5  # versions -> key path -> list -> version -> value (FORMAT.md §10)
MAX_KEY_PATH_PARTS = MAX_DEPTH - DATA_DEPTH  # a value at a key path of n parts is at level 2+n

# -- what a writer takes in one value (stdin, --from-file) -------------------------------------
# A value of V bytes takes about 4V/3 in the file (base64, FORMAT.md §3.2); 16 MiB leaves room
# for the rest of the file under MAX_FILE_BYTES, which is checked on the whole file as well.
MAX_VALUE_BYTES = 16 * MIB


def mib(size: int) -> str:
    """`size` bytes for a message: "42.7 MiB", "16 MiB"."""
    value = size / MIB
    return f"{value:.0f} MiB" if value == int(value) else f"{value:.1f} MiB"


class Shape(NamedTuple):
    nodes: int  # counted as the loader counts them (every node and every mapping key)
    too_deep: tuple[Any, ...] | None  # the path of the first node deeper than MAX_DEPTH


def shape(tree: Any, *, depth: int = 1, max_nodes: int = MAX_NODES) -> Shape:
    """Count the nodes of `tree` (whose root is at level `depth`) and find the first one deeper
    than MAX_DEPTH, in document order. Stops early past `max_nodes` or at the first too-deep
    node, so a cyclic or huge tree costs bounded work. Iterative: no RecursionError."""
    nodes = 0
    stack: list[tuple[Any, int, Any]] = [(tree, depth, None)]  # (node, level, linked path)
    while stack:
        node, level, link = stack.pop()
        nodes += 1
        if level > MAX_DEPTH:
            return Shape(nodes, _unlink(link))
        if isinstance(node, dict):
            nodes += len(node)
            stack.extend((v, level + 1, (link, k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((node[i], level + 1, (link, i)) for i in range(len(node) - 1, -1, -1))
        if nodes > max_nodes:
            break
    return Shape(nodes, None)


def _unlink(link: Any) -> tuple[Any, ...]:
    parts = []
    while link is not None:
        link, part = link
        parts.append(part)
    return tuple(reversed(parts))


def check_tree(tree: Any, *, depth: int, source: str, prefix: tuple[Any, ...] = (),
               where: str = "") -> int:
    """The nodes of `tree` (root at level `depth`); YamlError naming the key path when a node is
    deeper than a reader accepts. `prefix` is the key path of the root, `where` what it is."""
    found = shape(tree, depth=depth)
    if found.too_deep is not None:
        raise too_deep(source, (*prefix, *found.too_deep), where)
    return found.nodes


def too_deep(source: str | None, path: tuple[Any, ...], where: str = "") -> YamlError:
    """The error for a node deeper than MAX_DEPTH at `path`: in the sealed file `source`, or
    (without a source) in YAML being written."""
    from .paths import format_path

    named = _shorten(format_path(path)) if path else "the document"
    hint = "flatten the structure, e.g. join key names with _"
    if source is None:
        return YamlError(f"{named} is nested more than {MAX_DEPTH} levels deep, more than sealer "
                         "reads back", hint=hint)
    return YamlError(
        f"{where}{named} is nested more than {MAX_DEPTH} levels deep in the sealed file (at "
        f"most {MAX_KEY_PATH_PARTS} below data), more than a reader accepts; nothing was written",
        file=source, hint=hint)


def check_nodes(nodes: int, source: str) -> None:
    if nodes > MAX_NODES:
        raise YamlError(f"more than {MAX_NODES:,} keys and values, more than a reader accepts in "
                        "one sealed file; nothing was written", file=source,
                        hint="split the secrets into several files")


def check_file_size(size: int, source: str, largest: list[tuple[str, int]]) -> None:
    """`size`: the bytes of the serialised sealed file; `largest`: (key path, token length) of
    its largest values, named in the hint."""
    if size <= MAX_FILE_BYTES:
        return
    biggest = ", ".join(f"{_shorten(key)} ({mib(length)})" for key, length in largest[:3]
                        if length * 100 > MAX_FILE_BYTES)  # only values that matter here
    raise YamlError(
        f"the sealed file would be {mib(size)}, more than the {mib(MAX_FILE_BYTES)} a reader "
        "accepts; nothing was written", file=source,
        hint=(f"its largest values: {biggest}; " if biggest else "")
        + "sealed files hold secrets, not bulk data: keep large values elsewhere or split "
          "the file")


def check_key_path(parts: int, text: str) -> None:
    """A key path of `parts` components (from an argument): no sealed file can hold more."""
    if parts > MAX_KEY_PATH_PARTS:
        raise UsageError(f"invalid key path {_shorten(text)!r}: more than the "
                         f"{MAX_KEY_PATH_PARTS} parts a sealed file can hold",
                         hint="flatten the structure, e.g. join key names with _")


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
