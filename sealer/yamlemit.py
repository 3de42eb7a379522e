"""A writer for the plain subset of YAML, without PyYAML: the same bytes sealer.yamlstrict's
dumper (PyYAML over libyaml) writes, for the documents sealer writes most — sealed files and
`unseal`'s output of ordinary values.

The rule is the reader's (sealer.yamlfast): anything this writer is not sure it writes exactly
as the dumper does makes it give up (`None`), and the dumper writes the document instead.
tests/test_yamlemit.py holds the two to each other, byte for byte, over generated documents,
tricky strings and every sealed file of the test vectors. Importing PyYAML and running its
representer in Python cost `seal` and `unseal` of 1,000 keys ~20–30 ms (issue 17).

What it writes: block mappings with string keys, block sequences (indentless under a key, as
PyYAML does), `{}` and `[]`, null, booleans, integers, and one-line strings — plain when the
dumper would write them plain, else single-quoted. Floats, bytes, multi-line strings, other
key types, strings with characters the dumper escapes, and long keys are left to the dumper.
"""

from __future__ import annotations

import re
from typing import Any

from .yamlio import misread

__all__ = ["dump"]

# What makes text other than one line of what libyaml calls printable (control characters,
# line breaks, tabs, surrogates, a BOM): the dumper double-quotes it, left to PyYAML. (The
# complement, not the printable ranges: a class over most of Unicode takes 6 ms to compile.)
_SPECIAL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
# What may start a plain string whose reading as YAML 1.1 is a string whatever follows, once
# `misread` has said it is not a boolean or a null word.
_SAFE_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_/")
# Indicators that stop a plain scalar from starting with them, whatever follows.
_ALWAYS_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")
_MAX_SIMPLE_KEY = 128  # libyaml writes a key of more bytes as `? key`


class _GiveUp(Exception):
    pass


def dump(value: Any) -> str | None:
    """`value` as the dumper writes it, or None when this writer is not sure."""
    if not isinstance(value, dict | list) or not value:
        return None  # a lone scalar gets a document end marker; {} and [] are rare
    out: list[str] = []
    try:
        _node(value, 0, out, in_sequence=False, seen=set())
    except (_GiveUp, RecursionError):
        return None
    return "".join(out)


def _once(value: Any, seen: set[int]) -> None:
    """A collection met twice is written by the dumper as an anchor and an alias."""
    if id(value) in seen:
        raise _GiveUp
    seen.add(id(value))


def _node(value: Any, indent: int, out: list[str], *, in_sequence: bool,
          seen: set[int]) -> None:
    """A non-empty collection at `indent`, its first line's prefix already written when it is
    an item of a sequence."""
    _once(value, seen)
    pad = " " * indent
    if isinstance(value, dict):
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise _GiveUp
            if len(key) > _MAX_SIMPLE_KEY // 4 and len(key.encode()) > _MAX_SIMPLE_KEY:
                raise _GiveUp
            text = _scalar(key)
            out.append(text if first and in_sequence else pad + text)
            first = False
            _value(item, indent, out, seen)
        return
    for item in value:
        out.append(pad + "-")
        if isinstance(item, dict) and item:
            out.append(" ")
            _node(item, indent + 2, out, in_sequence=True, seen=seen)
        elif isinstance(item, list) and item:
            raise _GiveUp  # a sequence in a sequence: `- - a`, left to the dumper
        else:
            out.append(" " + _rest(item, indent + 2, seen))


def _value(item: Any, indent: int, out: list[str], seen: set[int]) -> None:
    if isinstance(item, dict) and item:
        out.append(":\n")
        _node(item, indent + 2, out, in_sequence=False, seen=seen)
    elif isinstance(item, list) and item:
        out.append(":\n")
        _node(item, indent, out, in_sequence=False, seen=seen)  # indentless, as PyYAML does
    else:
        out.append(": " + _rest(item, indent + 2, seen))


def _rest(value: Any, indent: int, seen: set[int]) -> str:
    """What follows `key: ` or `- `: a scalar and its line end, or a literal block whose lines
    are at `indent`."""
    if type(value) is str and "\n" in value.rstrip("\n"):
        return _literal(value, indent)
    return _scalar(value, seen) + "\n"


def _literal(text: str, indent: int) -> str:
    """A multi-line string as the dumper's `|` block: kept to the forms libyaml writes with
    no indentation indicator and a strip (`|-`) or clip (`|`) chomping."""
    body = text.rstrip("\n")
    ends = len(text) - len(body)
    if (ends > 1 or text[0] in " \n" or body[-1] == " " or " \n" in text
            or _SPECIAL.search(text.replace("\n", "")) or max(text) > "\uffff"):
        raise _GiveUp  # keep chomping, an indentation indicator, or double quotes
    pad = " " * indent
    lines = "".join(pad + line + "\n" if line else "\n" for line in body.split("\n"))
    return ("|\n" if ends else "|-\n") + lines


def _scalar(value: Any, seen: set[int] | None = None) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if (type(value) is dict or type(value) is list) and not value:
        if seen is not None:
            _once(value, seen)
        return "{}" if type(value) is dict else "[]"
    if type(value) is not str:
        raise _GiveUp  # floats, bytes, subclasses: the dumper's representers
    if _SPECIAL.search(value) or (value and max(value) > "\uffff"):
        raise _GiveUp  # double-quoted with escapes (libyaml escapes characters past U+FFFF)
    if _plain(value):
        return value
    return "'" + value.replace("'", "''") + "'"


def _plain(text: str) -> bool:
    """Whether the dumper writes `text` (one line, no special characters) plain; raises
    _GiveUp where libyaml's analysis is not one this writer follows exactly."""
    if misread(text):
        return False  # the dumper asks for single quotes (it would not read back)
    if text[0] in _SAFE_START:  # a letter, _ or /: a string whatever follows, in YAML 1.1
        return not _indicator_inside(text)
    if text[0] == " " or text[0] in _ALWAYS_INDICATORS:
        return False  # leading space, or an indicator libyaml refuses at the start
    if text.startswith(("---", "...")) or text == "-" or text.startswith("- "):
        return False  # a document marker, or a sequence indicator
    if text[0] in "0123456789-":  # not a number or date for YAML 1.1 (misread said so)
        return not _indicator_inside(text)
    raise _GiveUp  # signs, dots, `?`, `:`, `~`, non-ASCII: left to the dumper


def _indicator_inside(text: str) -> bool:
    """`: ` and ` #` inside, or a final `:` or space: no plain scalar in libyaml's analysis."""
    return text[-1] == " " or text[-1] == ":" or ": " in text or " #" in text
