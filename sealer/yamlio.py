"""Strict YAML in, deterministic YAML out (docs/FORMAT.md §7 and §8).

Two readers, one result. The subset sealer itself writes is read by sealer.yamlfast, without
importing PyYAML (most of a read's start-up); anything else, and every error, goes to the
strict loader (sealer.yamlstrict), which builds values straight from the parser's events
(libyaml's C parser when available) so it can refuse what a secrets file must never contain —
duplicate keys, anchors, aliases, merge keys, unknown tags — and enforce size, depth and node
limits before any of it turns into objects. tests/test_yamlfast.py holds the two readers to
each other. Plain scalars follow the YAML 1.2 core schema except that `0123` is a string.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

from . import limits
from .errors import YamlError

__all__ = [
    "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Value", "dump", "load", "load_with_lines",
    "misread", "resolve_plain", "text_of",
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


def load(data: bytes | str, *, source: str) -> Value:
    """Parse one YAML document under sealer's rules; errors name `source` and a line."""
    return _load(data, source, None)


def load_with_lines(data: bytes | str, *, source: str) -> tuple[Value, dict[tuple[Any, ...], int]]:
    """`load`, plus the 1-based line of every key path (for findings that point at a line)."""
    lines: dict[tuple[Any, ...], int] = {}
    return _load(data, source, lines), lines


def text_of(data: bytes | str, *, source: str) -> str:
    """The text `load` parses: the size limit, then UTF-8. A caller that reads a big file
    passes its bytes here, not to `load`, so they are let go before parsing starts."""
    if len(data) > MAX_BYTES:
        raise YamlError(f"larger than the {MAX_BYTES // (1024 * 1024)} MiB limit", file=source,
                        hint="sealer files hold secrets, not bulk data; split the file")
    if len(data) > _BIG:
        _give_back_big_buffers()
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text (byte {exc.start})", file=source) from None


_BIG = 4 * limits.MIB
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_threshold_fixed = False


def _give_back_big_buffers() -> None:
    """Before a big document's copies are made: glibc raises its mmap threshold each time a
    big buffer is freed (up to 32 MiB), so the next ones come from the heap and stay in the
    process's memory after they are freed; a 24 MB value's transient copies then add up
    instead of coming and going. A fixed threshold keeps every buffer over 128 KiB its own
    mapping, returned when freed. Elsewhere (no glibc) nothing changes."""
    global _threshold_fixed
    if _threshold_fixed:
        return
    _threshold_fixed = True
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass


def _load(data: bytes | str, source: str, lines: dict[tuple[Any, ...], int] | None) -> Value:
    data = text_of(data, source=source)
    if lines is None:  # the subset sealer writes, without importing PyYAML (sealer.yamlfast)
        from .yamlfast import load as fast_load

        found = fast_load(data, max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
        if found is not None:
            return found
    from .yamlstrict import strict_load

    return strict_load(data, source, lines)


# Plain scalars that a YAML 1.1 reader resolves to something other than a string: every form of
# the YAML 1.1 spec's implicit types (yaml.org/type: bool, null, int, float, timestamp, merge,
# value). Its readers: go-yaml v2 (kubectl, Helm), PyYAML's default loaders.
_YAML11_NOT_STR = r"""(?x)
    (?: y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
      | ~|null|Null|NULL
      | [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(?:0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
      | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
      | [-+]?(?:[0-9][0-9_]*)?\.[0-9.]*(?:[eE][-+][0-9]+)?
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+).*)?
      | <<|=
    )\Z"""
# go-yaml v2 goes further: it drops every `_`, then takes what Go's strconv parses as a number
# (`0X1F`, `0o17`, `0B1`, `1e3`, `08`, `.5`) and dates with one-digit months (above).
_MAYBE_MISREAD = _MAYBE_NOT_STR | frozenset("yYoO<=")
_GO_NUMBER = (r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+"
              r"|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)\Z")
# (both compiled on first use, by `re`'s own cache: only writers ask, and a read's start-up
# would pay ~1 ms to compile them)


def misread(text: str) -> bool:
    """Whether `text`, written as a plain scalar, would not be read back as that string by
    sealer (YAML 1.2 core, `0123` a string) or by a YAML 1.1 reader. The writer quotes it."""
    if not text:
        return True  # null
    if text[0] not in _MAYBE_MISREAD:
        return False  # fast path: nothing that is not a string starts with anything else
    if not isinstance(resolve_plain(text), str) or re.match(_YAML11_NOT_STR, text):
        return True
    return text[0] in "-+.0123456789" and re.match(_GO_NUMBER, text.replace("_", "")) is not None


def dump(value: Value) -> str:
    """Deterministic block-style YAML: input key order, no folding, LF, final newline.

    Refuses (YamlError) a value nested deeper than `load` reads back, before any recursion."""
    too_deep = limits.shape(value, max_nodes=sys.maxsize).too_deep
    if too_deep is not None:
        raise limits.too_deep(None, too_deep)
    from .yamlemit import dump as fast_dump

    text = fast_dump(value)  # the subset, without PyYAML; the same bytes (sealer.yamlemit)
    if text is not None:
        return text
    from .yamlstrict import dump_text

    return dump_text(value)
