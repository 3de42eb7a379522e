"""The github format: variables appended to $GITHUB_ENV (or step outputs to $GITHUB_OUTPUT).

Inside GitHub Actions ($GITHUB_ACTIONS is `true`), before the file is written, every value is
masked in the job's log with an `::add-mask::` workflow command on stdout (multi-line values
once whole and once per line, because the log is masked line by line). Anywhere else nothing
reads those commands, and they would print every value in clear, so none are written.
A single-line value is written `NAME=value`; a multi-line one with the runner's heredoc
syntax, `NAME<<DELIMITER`, the lines, `DELIMITER`, where the delimiter is random and checked
not to occur in the value, so a value can never end the block early and inject variables of
its own. The file is appended to only if it is a regular file, never through a symbolic link
(sealer.render.output). Variables ($GITHUB_ENV) follow the env formats' name rules,
sealer.render.controls included: `NODE_OPTIONS` or `BASH_ENV` would run code in later steps.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .flatten import env_entries
from .merge import Merged
from .spec import RenderSpec

__all__ = ["VARIABLES", "in_actions", "mask_commands", "output_path", "render"]

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


def mask_commands(merged: Merged, spec: RenderSpec) -> bytes:
    """`::add-mask::` for every value (and every line of a multi-line one) that is not blank;
    nothing outside GitHub Actions."""
    if not in_actions():
        return b""
    masks: dict[str, None] = {}  # ordered, without duplicates
    for entry in env_entries(merged, spec.names, None):  # render() checked the names
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
