"""Strict YAML in, deterministic YAML out (docs/FORMAT.md §7 and §8).

The loader builds Python values straight from the parser's events (libyaml's C parser when
available), so it can refuse what a secrets file must never contain — duplicate keys, anchors,
aliases, merge keys, unknown tags — and enforce size, depth and node limits before any of it
turns into objects. Plain scalars follow the YAML 1.2 core schema except that `0123` is a string.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import sys
from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from . import limits
from .errors import YamlError

__all__ = [
    "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Value", "dump", "load", "load_with_lines",
    "misread", "resolve_plain",
]

# The reader's limits (docs/LIMITS.md), named here as well for the loader and its callers.
MAX_BYTES = limits.MAX_FILE_BYTES
MAX_DEPTH = limits.MAX_DEPTH
MAX_NODES = limits.MAX_NODES

Value = Any  # str | int | float | bool | None | bytes | list[Value] | dict[str, Value]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_BINARY, _MAP, _SEQ = _TAG + "binary", _TAG + "map", _TAG + "seq"

_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_DEC = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_INT_OCT = re.compile(r"0o[0-7]+\Z")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")

try:
    from yaml._yaml import CParser as _CParser

    def _parser(text: str) -> Any:
        return _CParser(text)
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _PyParser(Reader, Scanner, Parser):
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)

    def _parser(text: str) -> Any:
        return _PyParser(text)


_MAYBE_NOT_STR = frozenset("-+.0123456789~nNtTfF")


def resolve_plain(text: str) -> Value:
    """The value of an untagged plain scalar under sealer's rules."""
    if text and text[0] not in _MAYBE_NOT_STR:
        return text  # fast path: no null, bool or number starts with anything else
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if _INT_DEC.match(text):
        return int(text)
    if _INT_OCT.match(text):
        return int(text[2:], 8)
    if _INT_HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT_RE.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def _line(event: Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 0


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


class _Builder:
    def __init__(self, text: str, source: str, lines: dict[tuple[Any, ...], int] | None) -> None:
        self.parser = _parser(text)
        self.source = source
        self.nodes = 0
        self.lines = lines  # key path -> 1-based line, when asked for
        self.next: Callable[[], Event] = self.parser.get_event  # hot: one call per event

    def fail(self, event: Event | None, problem: str, hint: str | None = None) -> YamlError:
        mark = getattr(event, "start_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return YamlError(where + problem, file=self.source, hint=hint)

    def document(self) -> Value:
        self.expect(StreamStartEvent)
        event = self.next()
        if isinstance(event, StreamEndEvent):
            return None
        if not isinstance(event, DocumentStartEvent):
            raise self.fail(event, "expected a YAML document")
        value = self.node(self.next(), 1, ())
        self.expect(DocumentEndEvent)
        event = self.next()
        if not isinstance(event, StreamEndEvent):
            raise self.fail(event, "more than one YAML document in the file",
                            hint="put each secrets document in its own file")
        return value

    def expect(self, kind: type[Event]) -> Event:
        event = self.next()
        if not isinstance(event, kind):
            raise self.fail(event, f"unexpected {type(event).__name__}")
        return event

    def node(self, event: Event, depth: int, path: tuple[Any, ...]) -> Value:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(event, f"more than {MAX_NODES} values", hint="split the file")
        if depth > MAX_DEPTH:
            raise self.fail(event, f"nested deeper than {MAX_DEPTH} levels")
        kind = type(event)
        if kind is AliasEvent:
            raise self.fail(event, "aliases (*name) are not allowed", hint="write the value out")
        if event.anchor is not None:  # type: ignore[attr-defined]
            raise self.fail(event, "anchors (&name) are not allowed", hint="remove the anchor")
        if self.lines is not None:
            self.lines.setdefault(path, _line(event))
        if kind is ScalarEvent:
            return self.scalar(event)  # type: ignore[arg-type]
        if isinstance(event, SequenceStartEvent):
            return self.sequence(event, depth, path)
        if isinstance(event, MappingStartEvent):
            return self.mapping(event, depth, path)
        raise self.fail(event, f"unexpected {type(event).__name__}")

    def check_tag(self, event: Event, allowed: str) -> None:
        tag = getattr(event, "tag", None)
        if tag not in (None, "!", allowed):
            raise self.fail(event, f"the tag {_short(tag)} is not allowed", hint="remove the tag")

    def sequence(self, start: Event, depth: int, path: tuple[Any, ...]) -> list[Value]:
        self.check_tag(start, _SEQ)
        items: list[Value] = []
        while not isinstance(event := self.next(), SequenceEndEvent):
            items.append(self.node(event, depth + 1, (*path, len(items))))
        return items

    def mapping(self, start: Event, depth: int, path: tuple[Any, ...]) -> dict[str, Value]:
        self.check_tag(start, _MAP)
        result: dict[str, Value] = {}
        while not isinstance(event := self.next(), MappingEndEvent):
            key = self.key(event)
            if key in result:
                raise self.fail(event, f"duplicate key {key!r}", hint="each key may appear once")
            if self.lines is not None:
                self.lines[(*path, key)] = _line(event)
            result[key] = self.node(self.next(), depth + 1, (*path, key))
        return result

    def key(self, event: Event) -> str:
        if not isinstance(event, ScalarEvent):
            raise self.fail(event, "mapping keys must be plain strings, not collections")
        self.nodes += 1
        if event.anchor is not None:
            raise self.fail(event, "anchors (&name) are not allowed", hint="remove the anchor")
        self.check_tag(event, _STR)
        if event.value == "<<" and event.implicit[0] and event.tag is None:
            raise self.fail(event, "merge keys (<<) are not allowed", hint="write the keys out")
        return str(event.value)

    def scalar(self, event: ScalarEvent) -> Value:
        tag, text = event.tag, event.value
        if tag is None:
            return resolve_plain(text) if event.implicit[0] and not event.style else text
        if tag in ("!", _STR):
            return text
        if tag == _BINARY:
            return self.binary(event)
        value = resolve_plain(text)
        wanted = {_INT: int, _FLOAT: float, _BOOL: bool, _NULL: type(None)}.get(tag)
        if wanted is None:
            raise self.fail(event, f"the tag {_short(tag)} is not allowed", hint="remove the tag")
        if wanted is float and type(value) is int:
            return float(value)
        if type(value) is not wanted:
            raise self.fail(event, f"the value is not a valid {_short(tag)}")
        return value

    def binary(self, event: ScalarEvent) -> bytes:
        compact = "".join(event.value.split())
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(event, "invalid base64 in !!binary value") from None


def load(data: bytes | str, *, source: str) -> Value:
    """Parse one YAML document under sealer's rules; errors name `source` and a line."""
    return _load(data, source, None)


def load_with_lines(data: bytes | str, *, source: str) -> tuple[Value, dict[tuple[Any, ...], int]]:
    """`load`, plus the 1-based line of every key path (for findings that point at a line)."""
    lines: dict[tuple[Any, ...], int] = {}
    return _load(data, source, lines), lines


def _load(data: bytes | str, source: str, lines: dict[tuple[Any, ...], int] | None) -> Value:
    if len(data) > MAX_BYTES:
        raise YamlError(f"larger than the {MAX_BYTES // (1024 * 1024)} MiB limit", file=source,
                        hint="sealer files hold secrets, not bulk data; split the file")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlError(f"not UTF-8 text (byte {exc.start})", file=source) from None
    builder = _Builder(data, source, lines)
    try:
        return builder.document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is not None and ("tab" in str(exc.problem) or _tab_indented(data, mark.line)):
            raise YamlError(f"line {mark.line + 1}: invalid YAML: tabs are not allowed for "
                            "indentation", file=source, hint="indent with spaces") from None
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise YamlError(f"{line}invalid YAML: {exc.problem or exc.context}", file=source) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", file=source) from None
    except (ValueError, RecursionError) as exc:
        raise YamlError(f"invalid YAML: {exc}", file=source) from None


def _tab_indented(text: str, line: int) -> bool:
    """Whether the 0-based `line` of `text` has a tab in its indentation (YAML forbids it)."""
    lines = text.split("\n", line + 1)
    if line >= len(lines):
        return False
    content = lines[line]
    return "\t" in content[:len(content) - len(content.lstrip(" \t"))]


_Base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# Plain scalars that a YAML 1.1 reader resolves to something other than a string: every form of
# the YAML 1.1 spec's implicit types (yaml.org/type: bool, null, int, float, timestamp, merge,
# value). Its readers: go-yaml v2 (kubectl, Helm), PyYAML's default loaders.
_YAML11_NOT_STR = re.compile(r"""(?x)
    (?: y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
      | ~|null|Null|NULL
      | [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(?:0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
      | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
      | [-+]?(?:[0-9][0-9_]*)?\.[0-9.]*(?:[eE][-+][0-9]+)?
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+).*)?
      | <<|=
    )\Z""")
# go-yaml v2 goes further: it drops every `_`, then takes what Go's strconv parses as a number
# (`0X1F`, `0o17`, `0B1`, `1e3`, `08`, `.5`) and dates with one-digit months (above).
_MAYBE_MISREAD = _MAYBE_NOT_STR | frozenset("yYoO<=")
_GO_NUMBER = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+"
                        r"|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)\Z")


def misread(text: str) -> bool:
    """Whether `text`, written as a plain scalar, would not be read back as that string by
    sealer (YAML 1.2 core, `0123` a string) or by a YAML 1.1 reader. The writer quotes it."""
    if not text:
        return True  # null
    if text[0] not in _MAYBE_MISREAD:
        return False  # fast path: nothing that is not a string starts with anything else
    if not isinstance(resolve_plain(text), str) or _YAML11_NOT_STR.match(text):
        return True
    return text[0] in "-+.0123456789" and _GO_NUMBER.match(text.replace("_", "")) is not None


class _Dumper(_Base):  # type: ignore[misc]
    """SafeDumper that quotes every string a YAML 1.1 or 1.2 reader would read as something else
    (`misread`); multi-line strings are literal blocks."""

    def represent_str(self, data: str) -> Any:
        style = "|" if "\n" in data.rstrip("\n") else "'" if misread(data) else None
        return self.represent_scalar(_STR, data, style=style)


_Dumper.add_representer(str, _Dumper.represent_str)

_WIDTH = -1 if _Base is not yaml.SafeDumper else 1 << 30


def dump(value: Value) -> str:
    """Deterministic block-style YAML: input key order, no folding, LF, final newline.

    Refuses (YamlError) a value nested deeper than `load` reads back, before any recursion."""
    too_deep = limits.shape(value, max_nodes=sys.maxsize).too_deep
    if too_deep is not None:
        raise limits.too_deep(None, too_deep)
    text: str = yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
        allow_unicode=True, width=_WIDTH, indent=2,
    )
    return text
