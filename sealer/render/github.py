"""The github format: variables appended to $GITHUB_ENV (or step outputs to $GITHUB_OUTPUT).

Inside GitHub Actions ($GITHUB_ACTIONS is `true`), before the file is written, every value that
was encrypted is masked in the job's log with an `::add-mask::` workflow command on stdout
(multi-line values once whole and once per line, because the log is masked line by line);
values kept in clear are not secrets, and neither are pieces too common to mask (`is_maskable`)
— masking `{` or `true` would blank them all over the log. Anywhere else nothing reads those
commands, and they would print every value in clear, so none are written.
A single-line value is written `NAME=value`; a multi-line one with the runner's heredoc
syntax, `NAME<<DELIMITER`, the lines, `DELIMITER`, where the delimiter is random and checked
not to occur in the value, so a value can never end the block early and inject variables of
its own. The file is appended to only if it is a regular file, never through a symbolic link
(sealer.render.output). Variables ($GITHUB_ENV) follow the env formats' name rules,
sealer.render.controls included: `NODE_OPTIONS` or `BASH_ENV` would run code in later steps.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .. import paths
from ..errors import UsageError
from .flatten import env_entries, flatten, text_of
from .merge import Merged
from .spec import RenderSpec

__all__ = ["VARIABLES", "in_actions", "is_maskable", "mask_commands", "output_path", "render"]

VARIABLES = {"env": "GITHUB_ENV", "output": "GITHUB_OUTPUT"}


def output_path(spec: RenderSpec) -> Path:
    """The file to append to: `spec.output`, else $GITHUB_ENV / $GITHUB_OUTPUT."""
    if spec.output is not None:
        return spec.output
    variable = VARIABLES[spec.github]
    value = os.environ.get(variable, "")
    if not value:
        raise UsageError(f"${variable} is not set", file=spec.origin,
                         hint="run this in a GitHub Actions step, or pass -o FILE")
    return Path(value)


def in_actions() -> bool:
    """Whether this runs in a GitHub Actions job, where the runner reads workflow commands."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def render(merged: Merged, spec: RenderSpec) -> bytes:
    parts = []
    allow = spec.allow_env if spec.github == "env" else None  # step outputs are no variables
    for entry in env_entries(merged, spec.names, allow):
        text = entry.value
        if text.endswith("\r"):
            raise merged.error(entry.path, "a value ending in a carriage return cannot be "
                                           "written for GitHub Actions (the runner drops it)",
                               hint="remove the trailing \\r from the value")
        if "\n" in text or "\r" in text:
            delimiter = _delimiter(text)
            parts.append(f"{entry.name}<<{delimiter}\n{text}\n{delimiter}\n")
        else:
            parts.append(f"{entry.name}={text}\n")
    return "".join(parts).encode("utf-8")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # where the runner's log breaks lines
_PUNCTUATION = re.compile(r"[\s{}\[\],:\"']+")  # JSON's and YAML's, and blanks
_COMMON = re.compile(r"(?i:true|false|null|none|yes|no|on|off)|[-+]?[0-9]{1,5}")
MIN_MASK = 4  # characters besides punctuation and blanks


def is_maskable(piece: str) -> bool:
    """Whether a value, or one line of it, is worth an `::add-mask::`: at least `MIN_MASK`
    characters other than blanks and JSON/YAML punctuation (`{}[],:"'`), and not a JSON or
    YAML literal (`true`, `null`, `no`, …) or a number of at most five digits (`5432`). The
    runner would hide every occurrence anywhere in the log; such text says nothing secret."""
    text = piece.strip()
    return (len(_PUNCTUATION.sub("", text)) >= MIN_MASK
            and _COMMON.fullmatch(text) is None)


def mask_commands(merged: Merged, spec: RenderSpec) -> bytes:
    """`::add-mask::` for every encrypted value, and every line of a multi-line one, that
    `is_maskable` (without surrounding blanks); nothing outside GitHub Actions."""
    if not in_actions():
        return b""
    masks: dict[str, None] = {}  # ordered, without duplicates
    for entry in flatten(merged, spec.names):  # render() checked the names and values
        if not _encrypted(merged, entry.path):
            continue
        text = text_of(entry.value)
        lines = _LINE_BREAK.split(text)
        for piece in [text, *lines] if len(lines) > 1 else [text]:
            if is_maskable(piece):
                masks[piece.strip()] = None
    return "".join(f"::add-mask::{_escape(m)}\n" for m in masks).encode("utf-8")


def _encrypted(merged: Merged, path: paths.Path) -> bool:
    """Whether the value at `path` was sealed encrypted, not kept in clear: in the last file
    that defines it (the one it came from), it is a value token."""
    full = (*merged.base, *path)
    for layer in reversed(merged.layers):
        try:
            return paths.get(layer, full) is True
        except KeyError:
            continue
    return True  # not found: mask rather than show


def _escape(data: str) -> str:
    """The workflow-command escaping of a command's data (the runner undoes it)."""
    return data.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _delimiter(text: str) -> str:
    import secrets

    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in text:
            return delimiter
