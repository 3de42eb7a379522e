"""Plaintext documents sealer reads: YAML (with an optional `sealer:` metadata block) or
dotenv (`KEY=value` lines), and what they must not be (already sealed, or a SOPS file).

The dotenv grammar is strict where readers disagree: values are literal, so a `$` outside single
quotes (python-dotenv and docker compose expand it, others do not) and backslashes whose
meaning differs between readers are refused, by key and line, never silently read one way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import limits, yamlio
from .document import RESERVED_KEY, looks_sealed
from .errors import SealerError, UsageError
from .sealedfiles import sealed_name

__all__ = ["INPUT_TYPES", "METADATA_KEY", "input_type_for", "parse_dotenv", "parse_input",
           "parse_plaintext"]

METADATA_KEY = RESERVED_KEY  # the `sealer:` block of a plaintext document


def parse_plaintext(text: bytes, *, source: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A plaintext secrets document -> (data, metadata from its optional `sealer:` block)."""
    tree = yamlio.load(text, source=source)
    if looks_sealed(tree):
        raise UsageError("is already sealed", file=source,
                         hint="use `sealer edit` or `sealer set` to change a sealed file")
    if isinstance(tree, dict) and _is_sops(tree.get("sops")):
        raise _sops_file(source, "")
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        dotenv = isinstance(tree, str) and "=" in tree
        raise SealerError("the top level must be a mapping of keys to values", file=source,
                          hint="this looks like a dotenv file: pass --input-type dotenv"
                          if dotenv else None)
    metadata = tree.pop(METADATA_KEY, None)
    if metadata is not None and not isinstance(metadata, dict):
        raise UsageError(f"the `{METADATA_KEY}:` block must be a mapping of metadata",
                         file=source)
    return tree, metadata


# -- plaintext input: YAML, or dotenv -----------------------------------------------------------

INPUT_TYPES = ("yaml", "dotenv")


def input_type_for(name: str) -> str:
    """`dotenv` for `.env`, `NAME.env` and `.env.NAME` (`.env.local`); `yaml` for the rest."""
    base = Path(name).name
    if base == ".env" or base.endswith(".env"):
        return "dotenv"
    if base.startswith(".env.") and not base.endswith((".yaml", ".yml", ".json")):
        return "dotenv"
    return "yaml"


def parse_input(text: bytes, *, source: str, input_type: str = "yaml"
                ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A plaintext document of `input_type` -> (data, metadata or None)."""
    if input_type == "dotenv":
        return dict(parse_dotenv(text, source=source)), None
    return parse_plaintext(text, source=source)


def _is_sops(block: Any) -> bool:
    return isinstance(block, dict) and "mac" in block and "lastmodified" in block


def _sops_file(source: str, dotenv: str) -> UsageError:
    name, output = ("FILE", "NAME.sealed.yaml") if source == "-" else (
        source, str(sealed_name(Path(source))))
    return UsageError(
        "is encrypted with SOPS; `sealer seal` takes plaintext", file=source,
        hint=f"convert it with `sealer import sops {name}` (verified as sops does, your age "
             f"key decrypts it), or `sops -d {name} | sealer seal -{dotenv} -o {output}`")


# KEY=value lines (README "Seal a file"). Strict where dotenv readers disagree: values are
# literal, so `$` outside single quotes (python-dotenv and docker compose expand it, others do
# not) and backslashes whose meaning differs between readers are refused, by key and line.
_ASSIGN = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=([ \t]*)")
_SKIP = re.compile(r"[ \t]*(?:#[^\n]*)?(?:\n|\Z)")  # a blank line, a comment, the line's end
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


def parse_dotenv(data: bytes, *, source: str) -> dict[str, str]:
    """`KEY=value` lines -> {KEY: value}, every value a string. Blank lines, `# comments` and
    `export ` are allowed; values unquoted (an inline comment needs a space before `#`),
    'single-quoted' (literal) or "double-quoted" (escapes \\\\ \\" \\n \\t \\r), and quoted
    ones may span lines. Errors name the line and key, never a value."""
    text = _dotenv_text(data, source)
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    pos, line = 0, 1
    while pos < len(text):
        if (skip := _SKIP.match(text, pos)) is not None and skip.end() > pos:
            pos, line = skip.end(), line + text.count("\n", pos, skip.end())
            continue
        if (m := _ASSIGN.match(text, pos)) is None:
            raise _dotenv_error(source, line, "expected KEY=value (a key is letters, digits "
                                              "and _, not starting with a digit)")
        key = m.group(1)
        value, end = _dotenv_value(text, m.end(), bool(m.group(2)), source, line, key)
        if (rest := _SKIP.match(text, end)) is None:
            raise _dotenv_error(source, line, f"{key}: unexpected text after the value")
        if key in out:
            raise _dotenv_error(source, line, f"{key} is set twice (first on line {first[key]})")
        out[key], first[key] = value, line
        if 2 * len(out) + 1 > limits.MAX_NODES:  # each key and its value are two nodes
            raise _dotenv_error(source, line, f"more than {limits.MAX_NODES // 2:,} keys, more "
                                              "than one sealed file holds")
        pos, line = rest.end(), line + text.count("\n", pos, rest.end())
    if _is_sops({k.removeprefix("sops_"): v for k, v in out.items() if k.startswith("sops_")}):
        raise _sops_file(source, " --input-type dotenv")
    return out


def _dotenv_text(data: bytes, source: str) -> str:
    if len(data) > limits.MAX_FILE_BYTES:
        raise SealerError(f"larger than the {limits.mib(limits.MAX_FILE_BYTES)} limit",
                          file=source)
    try:
        return data.decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise SealerError(f"not UTF-8 text (byte {exc.start})", file=source) from None


def _dotenv_value(text: str, pos: int, spaced: bool, source: str, line: int, key: str
                  ) -> tuple[str, int]:
    """The value starting at `pos` and where it ends."""
    if text.startswith("'", pos):
        end = text.find("'", pos + 1)
        if end < 0:
            raise _dotenv_error(source, line, f"{key}: the single quote is not closed")
        value = text[pos + 1:end]
        if "\\\\" in value or value.endswith("\\"):
            raise _dotenv_ambiguous(source, line, key, "a backslash before \\ or ' in single "
                                    "quotes", 'use double quotes and double each backslash: '
                                              'KEY="a\\\\b"')
        return value, end + 1
    if text.startswith('"', pos):
        return _double_quoted(text, pos + 1, source, line, key)
    end = text.find("\n", pos)
    raw = text[pos:] if end < 0 else text[pos:end]
    value = "" if spaced and raw.startswith("#") else re.sub(r"[ \t]+#.*", "", raw).rstrip()
    if "$" in value:
        raise _dotenv_ambiguous(source, line, key, "a $ outside single quotes")
    return value, pos + len(raw)


def _double_quoted(text: str, pos: int, source: str, line: int, key: str) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "$":
            raise _dotenv_ambiguous(source, line, key, "a $ outside single quotes")
        if char == "\\":
            escaped = text[pos + 1:pos + 2]
            if escaped not in _ESCAPES:
                raise _dotenv_ambiguous(source, line, key, f"the escape \\{escaped}")
            out.append(_ESCAPES[escaped])
            pos += 2
            continue
        out.append(char)
        pos += 1
    raise _dotenv_error(source, line, f"{key}: the double quote is not closed")


def _dotenv_error(source: str, line: int, problem: str) -> SealerError:
    return SealerError(f"line {line}: invalid dotenv: {problem}", file=source)


def _dotenv_ambiguous(source: str, line: int, key: str, what: str,
                      hint: str = "put the value in single quotes to keep it literal: "
                                  "KEY='value'") -> SealerError:
    error = _dotenv_error(source, line, f"{key}: {what} is read differently by different "
                                        "dotenv readers")
    error.hint = hint
    return error
