"""The github format: variables appended to $GITHUB_ENV (or step outputs to $GITHUB_OUTPUT).

Before the file is written, every value is masked in the job's log with an `::add-mask::`
workflow command on stdout (multi-line values once whole and once per line, because the log
is masked line by line). A single-line value is written `NAME=value`; a multi-line one with
the runner's heredoc syntax, `NAME<<DELIMITER`, the lines, `DELIMITER`, where the delimiter is
random and checked not to occur in the value, so a value can never end the block early and
inject variables of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .flatten import env_entries
from .merge import Merged
from .spec import RenderSpec

__all__ = ["VARIABLES", "mask_commands", "output_path", "render"]

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


def render(merged: Merged, spec: RenderSpec) -> bytes:
    parts = []
    for entry in env_entries(merged, spec.names):
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


def mask_commands(merged: Merged, spec: RenderSpec) -> bytes:
    """`::add-mask::` for every value (and every line of a multi-line one) that is not blank."""
    masks: dict[str, None] = {}  # ordered, without duplicates
    for entry in env_entries(merged, spec.names):
        text = entry.value
        pieces = [text, *text.splitlines()] if "\n" in text or "\r" in text else [text]
        for piece in pieces:
            if piece.strip():
                masks[piece] = None
    return "".join(f"::add-mask::{_escape(m)}\n" for m in masks).encode("utf-8")


def _escape(data: str) -> str:
    """The workflow-command escaping of a command's data (the runner undoes it)."""
    return data.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _delimiter(text: str) -> str:
    import secrets

    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in text:
            return delimiter
