"""The strict YAML loader and the writer, on PyYAML (libyaml's C parser when available):
everything sealer.yamlio does that needs PyYAML, imported only when it is needed. Reads of what
sealer writes go through sealer.yamlfast first.

The loader builds Python values straight from the parser's events, so it can refuse what a
secrets file must never contain — duplicate keys, anchors, aliases, merge keys, unknown tags —
and enforce size, depth and node limits before any of it turns into objects.
"""

from __future__ import annotations

import base64
import binascii
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

from . import yamlio
from .errors import YamlError
from .yamlio import (
    _BINARY,
    _BOOL,
    _FLOAT,
    _INT,
    _MAP,
    _NULL,
    _SEQ,
    _STR,
    _TAG,
    Value,
    misread,
    resolve_plain,
)

__all__ = ["dump_text", "strict_load"]

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
        if self.nodes > yamlio.MAX_NODES:  # read at run time: tests lower them
            raise self.fail(event, f"more than {yamlio.MAX_NODES} values", hint="split the file")
        if depth > yamlio.MAX_DEPTH:
            raise self.fail(event, f"nested deeper than {yamlio.MAX_DEPTH} levels")
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


def strict_load(data: str, source: str, lines: dict[tuple[Any, ...], int] | None) -> Value:
    """The document in `data` (already bounded and decoded by yamlio), or a YamlError."""
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


class _Dumper(_Base):  # type: ignore[misc]
    """SafeDumper that quotes every string a YAML 1.1 or 1.2 reader would read as something else
    (`misread`); multi-line strings are literal blocks."""

    def represent_str(self, data: str) -> Any:
        style = "|" if "\n" in data.rstrip("\n") else "'" if misread(data) else None
        return self.represent_scalar(_STR, data, style=style)


_Dumper.add_representer(str, _Dumper.represent_str)

_WIDTH = -1 if _Base is not yaml.SafeDumper else 1 << 30




def dump_text(value: Value) -> str:
    text: str = yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
        allow_unicode=True, width=_WIDTH, indent=2,
    )
    return text
