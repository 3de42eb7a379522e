"""The dotenv format: `NAME='value'` lines for dotenv readers (python-dotenv, docker compose's
env_file, Node's dotenv) — see docs/RENDER.md for the exact rules and who reads what.

A value without `'`, `\\` or a carriage return is single-quoted, and taken literally by every
dotenv reader and by a POSIX shell, newlines included. Any other value is double-quoted with
python-dotenv's escapes (`\\\\`, `\\"`, `\\r`); such a line is read exactly by python-dotenv,
not necessarily by a shell (the shell and systemd formats are for shells). A value ending in a
backslash cannot be quoted at all (python-dotenv and compose read `\\"` at the end as an escaped
quote), so it is written unquoted, which works when it is one line without blanks at either
end and without ` #`; any other such value is an error naming its key.
"""

from __future__ import annotations

import re

from .flatten import banner, env_entries
from .merge import Merged
from .spec import RenderSpec

__all__ = ["quote", "render"]


_UNQUOTABLE = re.compile(r"""\A['"]|[\r\n]|\s#|\A\s|\s\Z""")


def quote(text: str) -> str | None:
    """A value as dotenv readers want it (see the module doc); None if it cannot be written."""
    if "'" not in text and "\\" not in text and "\r" not in text:
        return f"'{text}'"
    if not text.endswith("\\"):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")
        return f'"{escaped}"'
    return None if _UNQUOTABLE.search(text) else text


def render(merged: Merged, spec: RenderSpec) -> bytes:
    lines = []
    for entry in env_entries(merged, spec.names):
        quoted = quote(entry.value)
        if quoted is None:
            raise merged.error(entry.path, "a value ending in a backslash can be written for "
                                           "dotenv readers only on one line, without blanks at "
                                           "either end or ' #'",
                               hint="use the shell, systemd or json format for this value")
        lines.append(f"{entry.name}={quoted}\n")
    return (banner(merged) + "".join(lines)).encode("utf-8")
