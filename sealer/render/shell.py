"""The shell format: `export NAME='value'` lines for `. ./file` or `eval` in any POSIX shell.

Every value is single-quoted, where a POSIX shell takes every character literally; a `'` in
a value is written `'\\''` (close the quotes, an escaped quote, reopen).
"""

from __future__ import annotations

from .flatten import banner, env_entries
from .merge import Merged
from .spec import RenderSpec

__all__ = ["quote", "render"]


def quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def render(merged: Merged, spec: RenderSpec) -> bytes:
    entries = env_entries(merged, spec.names, spec.allow_env)
    lines = [f"export {e.name}={quote(e.value)}\n" for e in entries]
    return (banner(merged) + "".join(lines)).encode("utf-8")
