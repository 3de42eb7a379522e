"""Key paths (docs/FORMAT.md §4): parsing, printing, and walking a document tree by path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from .errors import UsageError
from .limits import check_key_path

__all__ = [
    "Path",
    "delete",
    "format_path",
    "get",
    "leaves",
    "parse_path",
    "set_value",
]

Component = str | int  # a mapping key or a list index
Path = tuple[Component, ...]

_BARE = re.compile(r'[^.\[\]"]+')
_INDEX = re.compile(r"\[(0|[1-9][0-9]*)\]")


def parse_path(text: str) -> Path:
    """`db.password`, `users[0].name`, `"a.b".c` -> a tuple of keys (str) and indexes (int)."""
    parts: list[Component] = []
    pos, expect_key = 0, True
    while pos < len(text) or expect_key:
        pos, part = _component(text, pos, first=not parts, expect_key=expect_key)
        parts.append(part)
        check_key_path(len(parts), text)  # no sealed file holds a longer one (LIMITS.md)
        expect_key = False
        if pos < len(text) and text[pos] == ".":
            pos, expect_key = pos + 1, True
    return tuple(parts)


def _component(text: str, pos: int, *, first: bool, expect_key: bool) -> tuple[int, Component]:
    if (m := _INDEX.match(text, pos)) is not None:
        if expect_key and not first:
            raise _bad(text, "a key is missing after '.'")
        return m.end(), int(m.group(1))
    if not expect_key:
        if text[pos] == "[":
            raise _bad(text, f"invalid list index at position {pos + 1}; use [0], [1], …")
        raise _bad(text, f"unexpected {text[pos]!r} at position {pos + 1}")
    if text.startswith('"', pos):
        return _quoted(text, pos)
    if (m := _BARE.match(text, pos)) is None:
        raise _bad(text, "a key is missing" if pos >= len(text) else f"unexpected {text[pos]!r}")
    key = m.group(0)
    if key != key.strip():
        raise _bad(text, 'a key with leading or trailing spaces must be quoted: " key "')
    return m.end(), key


def _quoted(text: str, pos: int) -> tuple[int, str]:
    import json

    try:
        key, end = json.JSONDecoder().raw_decode(text, pos)
    except ValueError:  # json.JSONDecodeError
        raise _bad(text, "unterminated or invalid quoted key") from None
    if not isinstance(key, str):
        raise _bad(text, "invalid quoted key")
    return end, key


def _bad(text: str, why: str) -> UsageError:
    return UsageError(
        f"invalid key path {text!r}: {why}",
        hint='write paths like db.password, users[0].name or "key.with.dots".field',
    )


def _format_key(key: str) -> str:
    if key and _BARE.fullmatch(key) and key == key.strip():
        return key
    import json

    return json.dumps(key, ensure_ascii=False)


def format_path(path: Path) -> str:
    """The canonical text of a path; `parse_path(format_path(p)) == p`."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(("." if out else "") + _format_key(part))
    return "".join(out)


def leaves(tree: Any, prefix: Path = (), *, empty: bool = False) -> Iterator[tuple[Path, Any]]:
    """Every non-collection value with its path, in document order; with `empty`, empty
    mappings and lists below the root too (as values), so a rebuild keeps them."""
    if empty and prefix and isinstance(tree, dict | list) and not tree:
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, (*prefix, key), empty=empty)
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from leaves(value, (*prefix, index), empty=empty)
    else:
        yield prefix, tree


def _step(node: Any, part: Component) -> Any:
    if isinstance(part, int) and isinstance(node, list) and part < len(node):
        return node[part]
    if isinstance(part, str) and isinstance(node, dict) and part in node:
        return node[part]
    raise KeyError(part)


def get(tree: Any, path: Path) -> Any:
    """The value at `path`; KeyError if any step is missing."""
    node = tree
    for part in path:
        node = _step(node, part)
    return node


def set_value(tree: dict[str, Any], path: Path, value: Any) -> None:
    """Set `path` to `value`, creating mappings on the way; a list index may append one item."""
    if not path:
        raise UsageError("an empty key path cannot be set")
    node: Any = tree
    for part, following in pairwise(path):
        node = _descend(node, part, following)
    _assign(node, path[-1], value)


def _descend(node: Any, part: Component, following: Component) -> Any:
    try:
        return _step(node, part)
    except KeyError:
        pass
    child: Any = [] if isinstance(following, int) else {}
    _assign(node, part, child)
    return child


def _assign(node: Any, part: Component, value: Any) -> None:
    if isinstance(part, str) and isinstance(node, dict):
        node[part] = value
    elif isinstance(part, int) and isinstance(node, list) and part <= len(node):
        if part == len(node):
            node.append(value)
        else:
            node[part] = value
    else:
        raise KeyError(part)


def delete(tree: Any, path: Path) -> None:
    """Remove the value at `path`; KeyError if it does not exist."""
    parent = get(tree, path[:-1])
    last = path[-1]
    _step(parent, last)
    del parent[last]
