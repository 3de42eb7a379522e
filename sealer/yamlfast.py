"""A reader for the plain subset of YAML that sealer itself writes, without PyYAML.

Sealed files (and most hand-written sealer.yaml files) are block mappings and sequences of
plain and single-quoted scalars, `|` literal blocks and `{}`/`[]`. Parsing them here saves
importing PyYAML and its C parser on every read (a large part of a `get`'s start-up, issue 17).

The rule is: anything this reader is not sure of makes it give up (`None`), and the strict
loader (sealer.yamlio) reads the text instead, with all its refusals and error messages. What
it does return must be exactly what the strict loader returns: tests/test_yamlfast.py holds
the two to each other over generated documents, mutated documents and the project's vectors.
"""

from __future__ import annotations

import re
from typing import Any

from .yamlio import resolve_plain  # yamlio imports this module only when it parses

__all__ = ["load"]

# Characters that cannot start a plain scalar (or key) in block context, or that this reader
# leaves to the strict loader.
_BAD_START = frozenset("-?:,[]{}#&*!|>'\"%@` ")
# Text the strict reader treats specially anywhere: tabs, other line breaks, a BOM, and
# anything YAML does not allow in a stream.
_ODD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
_FLOW_ITEM = re.compile(r"[^\s,\[\]{}#'\"!&*|>%@`?:-][^,\[\]{}#'\"]*\Z")
_SPACES = re.compile(" *")  # matched in place: neither lstrip nor strip copies a long line
_MAX_KEY = 1000  # PyYAML refuses implicit keys over 1024 characters


class _GiveUp(Exception):
    pass


def load(text: str, *, max_depth: int, max_nodes: int) -> Any:
    """The document, or None when the strict loader must read it (which also covers an empty
    document: the strict loader's answer for it is None as well)."""
    if not text.endswith("\n") or _ODD.search(text) or text.startswith(("---", "%")):
        return None
    reader = _Reader(text.split("\n")[:-1], max_depth, max_nodes)
    try:
        return reader.document()
    except (_GiveUp, RecursionError, IndexError, ValueError):
        return None


def _indent(line: str) -> int:
    if len(line) < _SHORT:  # a copy of a short line is cheaper than a match
        return len(line) - len(line.lstrip(" "))
    return _skip_spaces(line, 0)




class _Reader:
    def __init__(self, lines: list[str], max_depth: int, max_nodes: int) -> None:
        self.lines, self.i = lines, 0
        self.max_depth, self.max_nodes, self.nodes = max_depth, max_nodes, 0
        self._peeked: tuple[int, str] | None = None  # peek's answer for line `_at`
        self._at = -1

    def count(self, depth: int) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes or depth > self.max_depth:
            raise _GiveUp

    def peek(self) -> tuple[int, str] | None:
        """(indent, line) of the next content line: its content is `line[indent:]`, read in
        place (a sealed value's line is most of the file; every copy of it counts)."""
        if self.i == self._at:  # asked again before the line was consumed
            return self._peeked
        lines, i = self.lines, self.i
        while i < len(lines):  # past blank and comment lines, each line's indent found once
            line = lines[i]
            width = _indent(line)
            if width < len(line) and line[width] != "#":
                self.i = self._at = i
                self._peeked = (width, line)
                return self._peeked
            i += 1
        self.i = i
        return None

    def consume(self) -> None:
        """Past the current line, which is let go: its value is a slice of it by now."""
        self.lines[self.i] = ""
        self.i += 1
        self._at, self._peeked = -1, None

    def document(self) -> Any:
        first = self.peek()
        if first is None or first[0] != 0:
            raise _GiveUp
        del first  # no line is held while it is read: each is let go once its value is out
        value = self.block(0, 1)
        if self.peek() is not None:
            raise _GiveUp
        return value

    def block(self, indent: int, depth: int) -> Any:
        found = self.peek()
        assert found is not None
        item = _is_item(found[1], found[0])
        del found  # the line is the collection's to read, and to let go
        return self.sequence(indent, depth) if item else self.mapping(indent, depth, None)

    # -- collections ------------------------------------------------------------------------

    def mapping(self, indent: int, depth: int, first: str | None) -> dict[str, Any]:
        """Entries at `indent`; `first`: the first entry's text when it follows `- `."""
        self.count(depth)
        out: dict[str, Any] = {}
        while True:
            if first is not None:  # its line is consumed already (by `sequence`)
                key, rest = _entry(first, 0)
                first = None
            else:
                found = self.peek()
                if found is None or found[0] != indent or _is_item(found[1], indent):
                    if found is not None and found[0] > indent:
                        raise _GiveUp
                    return out
                key, rest = _entry(found[1], indent)
                found = None
                self.consume()
            if key in out:
                raise _GiveUp  # the strict loader names the duplicate
            self.count(depth + 1)
            out[key] = self.value(rest, indent, depth + 1, in_mapping=True)

    def sequence(self, indent: int, depth: int) -> list[Any]:
        self.count(depth)
        out: list[Any] = []
        while True:
            found = self.peek()
            if found is None or found[0] != indent or not _is_item(found[1], indent):
                if found is not None and found[0] > indent:
                    raise _GiveUp
                return out
            line, found = found[1], None
            self.consume()
            column = _skip_spaces(line, indent + 2)
            rest = line[column:]
            del line
            if rest.startswith(("- ", "-\n")) or rest == "-":
                raise _GiveUp  # a sequence in a sequence: rare in what sealer writes
            if rest and _is_entry(rest):
                out.append(self.mapping(column, depth + 1, rest))
            else:
                out.append(self.value(rest, indent, depth + 1, in_mapping=False))

    # -- values -----------------------------------------------------------------------------

    def value(self, rest: str, indent: int, depth: int, *, in_mapping: bool) -> Any:
        if not rest:
            found = self.peek()
            width = found[0] if found is not None else -1
            item = found is not None and _is_item(found[1], width)
            del found  # the next line is the block's to read, and to let go
            if width > indent:
                return self.block(width, depth)
            if in_mapping and width == indent and item:
                return self.sequence(indent, depth)  # `key:` then `- item` at its indent
            self.count(depth)
            return None
        self.count(depth)
        if rest[0] == "|":
            return self.literal(rest, indent)
        value = _scalar(rest)
        for _item in value if isinstance(value, list) else ():  # a flow list's items count
            self.count(depth + 1)
        found = self.peek()
        if found is not None and found[0] > indent:
            raise _GiveUp  # a continuation line: the strict loader decides
        return value

    def literal(self, header: str, indent: int) -> str:
        if header not in ("|", "|-", "|+"):
            raise _GiveUp
        lines, start = self.lines, self.i
        if start >= len(lines) or not lines[start].strip(" "):
            raise _GiveUp  # leading blank lines: left to the strict loader
        width = _indent(lines[start])
        if width <= indent:
            raise _GiveUp
        body: list[str] = []
        i = start
        while i < len(lines):
            line = lines[i]
            if line.strip(" "):
                if _indent(line) < width:
                    if _indent(line) > indent:
                        raise _GiveUp
                    break
                body.append(line[width:])
            else:
                body.append(line[width:] if len(line) > width else "")
            i += 1
        while body and not body[-1] and header != "|+":  # trailing blank lines end the block
            body.pop()
            i -= 1
        if header == "|+":
            raise _GiveUp  # keep-chomping's trailing lines: left to the strict loader
        self.i, self._at, self._peeked = i, -1, None
        text = "\n".join(body)
        return text if header == "|-" else text + "\n"


def _is_item(line: str, start: int) -> bool:
    """Whether the content `line[start:]` is a sequence item."""
    return line.startswith("- ", start) or (len(line) == start + 1 and line[start] == "-")


def _is_entry(text: str) -> bool:
    try:
        _entry(text, 0)
    except _GiveUp:
        return False
    return True


def _skip_spaces(text: str, i: int) -> int:
    """The index of the first character at or after `i` that is not a space."""
    if i >= len(text) or text[i] != " ":
        return i
    if len(text) < _SHORT:  # a copy of a short line is cheaper than a match
        return len(text) - len(text[i:].lstrip(" ")) if i else len(text) - len(text.lstrip(" "))
    found = _SPACES.match(text, i)
    return found.end() if found is not None else i


_SHORT = 512


def _entry(line: str, start: int) -> tuple[str, str]:
    """(key, rest of the line) of `key: rest`, the content `line[start:]`; `rest` is the one
    copy made of the line's value."""
    if line.startswith("'", start):
        key, after = _single(line, start)
        if not (line.startswith(": ", after) or (len(line) == after + 1 and line[after] == ":")):
            raise _GiveUp
        cut = after
    else:
        if line[start] in _BAD_START:
            raise _GiveUp
        cut = line.find(": ", start)
        if cut < 0:
            if not line.endswith(":"):
                raise _GiveUp
            cut = len(line) - 1
        key = line[start:cut]
        if not key or key != key.rstrip(" ") or " #" in key or key == "<<":
            raise _GiveUp
    if len(key) > _MAX_KEY:
        raise _GiveUp
    return key, line[_skip_spaces(line, cut + 1):]


def _single(text: str, start: int = 0) -> tuple[str, int]:
    """A single-quoted scalar at `start` in `text`, and where what follows it begins."""
    i, out = start + 1, []
    while True:
        j = text.find("'", i)
        if j < 0:
            raise _GiveUp  # it goes on to the next line
        out.append(text[i:j])
        if text.startswith("''", j):
            out.append("'")
            i = j + 2
            continue
        return "".join(out), j + 1


def _scalar(rest: str) -> Any:
    if rest in ("{}", "[]"):
        return {} if rest == "{}" else []
    if rest[0] == "'":
        value, after = _single(rest)
        if rest[after:].strip(" "):
            raise _GiveUp
        return value
    if rest[0] == '"':
        end = rest.find('"', 1)
        if end < 0 or rest.find("\\", 1, end) >= 0 or rest[end + 1:].strip(" "):
            raise _GiveUp
        return rest[1:end]
    if rest[0] == "[" and rest.endswith("]"):
        items = [p.strip(" ") for p in rest[1:-1].split(",")]
        if not all(_FLOW_ITEM.match(p) and ": " not in p and p == p.strip() for p in items):
            raise _GiveUp
        return [resolve_plain(p) for p in items]
    if rest[0] in _BAD_START or " #" in rest or ": " in rest or rest.endswith(":"):
        raise _GiveUp
    return resolve_plain(rest.rstrip(" "))
