"""YAML as sops reads it (go-yaml v3 decoding into `interface{}`), for SOPS files.

The values sops leaves in clear are part of its MAC in the form go-yaml gives them, so plain
scalars are resolved by go-yaml's rules, not sealer's: `017` is octal 15, `1_000` is 1000,
`yes` is a string, and `2024-01-01` is a timestamp (kept as its RFC 3339 text, what sops
prints). Aliases, merge keys, explicit tags and non-string keys are refused.
"""

from __future__ import annotations

import calendar
import math
import re
from typing import Any

import yaml

from .. import limits
from ..errors import YamlError

__all__ = ["load_documents", "parse_timestamp", "resolve_plain"]

_PLAIN = "!sealer-plain"
_STR = "tag:yaml.org,2002:str"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
          "FALSE": False}
_INFS = {".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, "+.inf": math.inf,
         "+.Inf": math.inf, "+.INF": math.inf, "-.inf": -math.inf, "-.Inf": -math.inf,
         "-.INF": -math.inf}
_NANS = frozenset({".nan", ".NaN", ".NAN"})
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
_CLOCK = r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]+))?"
_TIMESTAMPS = (
    re.compile(_DATE + r"[Tt]" + _CLOCK + r"(Z|[+-][0-9]{2}:[0-9]{2})\Z"),
    re.compile(_DATE + r" " + _CLOCK + r"()\Z"),
    re.compile(_DATE + r"()()()()()\Z"),
)
_INT64 = 1 << 63


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present


class _Loader(_Base):  # type: ignore[misc]
    """Composes nodes only; every untagged plain scalar is tagged `_PLAIN` for go-yaml's rules."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(_PLAIN, re.compile(r".*", re.DOTALL), None)
_Loader.add_implicit_resolver(_PLAIN, re.compile(r"\Z"), [""])


def resolve_plain(text: str) -> Any:
    """go-yaml v3's value of an untagged plain scalar decoded into `interface{}`."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _INFS:
        return _INFS[text]
    if text in _NANS:
        return math.nan
    if not text or text[0] not in "+-.0123456789":
        return text
    stamp = parse_timestamp(text)
    if stamp is not None:
        return stamp
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _FLOAT.match(plain):
        value = float(plain)
        return text if math.isinf(value) else value
    return text


def _go_int(plain: str) -> int | None:
    """`strconv.ParseInt(s, 0, 64)`, then ParseUint (go-yaml tries both)."""
    match = _GO_INT.match(plain)
    if match is None:
        return None
    sign, digits = match.groups()
    lower = digits.lower()
    if lower.startswith(("0x", "0o", "0b")):
        value = int(lower[2:], {"x": 16, "o": 8, "b": 2}[lower[1]])
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits)
    value = -value if sign == "-" else value
    return value if -_INT64 <= value < (1 << 64) else None  # ParseInt, else ParseUint


def parse_timestamp(text: str) -> str | None:
    """go-yaml's timestamp forms, as Go's `time.Time.MarshalText` prints them (RFC 3339)."""
    for pattern in _TIMESTAMPS:
        match = pattern.match(text)
        if match is None:
            continue
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        y, mo, d = int(year), int(month), int(day)
        h, mi, s = int(hour or 0), int(minute or 0), int(second or 0)
        if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]
                and h < 24 and mi < 60 and s < 60):
            return None
        frac = (fraction or "")[:9].rstrip("0")
        offset = "Z" if zone in ("", "Z", "+00:00") else zone
        return (f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
                + (f".{frac}" if frac else "") + offset)
    return None


def load_documents(text: str, source: str) -> list[Any]:
    """Every document of a YAML stream, as go-yaml decodes it."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise YamlError(f"not valid YAML{where}", file=source) from None
    budget = [limits.MAX_NODES]
    return [_value(n, source, 1, budget, set()) for n in nodes if n is not None]


def _value(node: yaml.Node, source: str, depth: int, budget: list[int], seen: set[int]) -> Any:
    if depth > limits.MAX_DEPTH:
        raise YamlError(f"nested deeper than {limits.MAX_DEPTH} levels", file=source)
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError(f"more than {limits.MAX_NODES} values", file=source)
    if id(node) in seen:
        raise YamlError("YAML aliases are not supported in SOPS files sealer imports",
                        file=source)
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, source)
    if isinstance(node, yaml.SequenceNode):
        return [_value(n, source, depth + 1, budget, seen) for n in node.value]
    assert isinstance(node, yaml.MappingNode)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = _value(key_node, source, depth + 1, budget, seen)
        if not isinstance(key, str) or key == "<<":
            raise YamlError(f"line {key_node.start_mark.line + 1}: a key that is not a string "
                            "(sops refuses those too)", file=source)
        if key in out:
            raise YamlError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}",
                            file=source)
        out[key] = _value(value_node, source, depth + 1, budget, seen)
    return out


def _scalar(node: yaml.ScalarNode, source: str) -> Any:
    if node.tag == _PLAIN:
        return resolve_plain(node.value)
    if node.tag == _STR:
        return node.value
    raise YamlError(f"line {node.start_mark.line + 1}: explicit YAML tags ({node.tag}) are not "
                    "supported in SOPS files sealer imports", file=source)
