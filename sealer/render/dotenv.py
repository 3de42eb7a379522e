"""The dotenv format: `NAME='value'` lines for dotenv readers (python-dotenv, docker compose's
env_file, Node's dotenv) — see docs/RENDER.md for the exact rules and who reads what.

Such files are also sourced by shells (`set -a; . ./.env`), so no line may make a shell run or
expand anything, whatever the value (a sealed file comes from a repository):

- A value without `'`, `\\` or a carriage return is single-quoted, and taken literally by every
  dotenv reader and by a POSIX shell, newlines included.
- Any other value is double-quoted with python-dotenv's escapes (`\\\\`, `\\"`, `\\r`), read
  exactly by python-dotenv and, but for `\\r`, by a shell too. A shell expands `$` and `` ` ``
  inside double quotes and python-dotenv has no escape for them, so such a value that also
  holds a `$` or a `` ` `` cannot be written: an error naming its key.
- A value ending in a backslash cannot be quoted at all (python-dotenv and compose read `\\"`
  at the end as an escaped quote), so it is written unquoted when it consists only of
  characters no shell acts on (letters, digits, `_@%+=:,./-` and `\\`), and is otherwise an
  error naming its key.
"""

from __future__ import annotations

import re

from .flatten import banner, env_entries
from .merge import Merged
from .spec import RenderSpec

__all__ = ["quote", "render"]

_SHELL_EXPANDS = re.compile(r"[$`]")  # inside double quotes
_SHELL_INERT = re.compile(r"[-A-Za-z0-9_@%+=:,./\\]+\Z")  # unquoted: no word splits, no
# expansion, no command separator, no comment, no glob, no tilde
_HINT = "use the shell or systemd format for shells, or json; they can hold any value"


def quote(text: str) -> str | None:
    """A value as dotenv readers want it (see the module doc); None if it cannot be written."""
    if "'" not in text and "\\" not in text and "\r" not in text:
        return f"'{text}'"
    if _SHELL_EXPANDS.search(text):
        return None
    if not text.endswith("\\"):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")
        return f'"{escaped}"'
    return text if _SHELL_INERT.match(text) else None


def _refusal(text: str) -> str:
    """Why `quote(text)` is None."""
    if _SHELL_EXPANDS.search(text):
        return ("a value holding ', \\ or a carriage return together with $ or ` cannot be "
                "written so that both dotenv readers and a shell take it literally")
    return ("a value ending in a backslash can be written for dotenv readers only unquoted, "
            "so only with letters, digits and _@%+=:,./-\\ in it")


def render(merged: Merged, spec: RenderSpec) -> bytes:
    lines = []
    for entry in env_entries(merged, spec.names, spec.allow_env):
        quoted = quote(entry.value)
        if quoted is None:
            raise merged.error(entry.path, _refusal(entry.value), hint=_HINT)
        lines.append(f"{entry.name}={quoted}\n")
    return (banner(merged) + "".join(lines)).encode("utf-8")
