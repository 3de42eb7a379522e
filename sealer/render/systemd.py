"""The systemd format: a unit's `EnvironmentFile=` (systemd.exec(5)).

Every value is double-quoted: inside double quotes systemd, like a POSIX shell, keeps every
character (newlines too) except that a backslash escapes `"`, `\\`, `` ` `` and `$`. So the
file is also valid shell (`set -a; . ./app.env; set +a`). systemd refuses NUL, U+FEFF and
Unicode noncharacters in values; so does this format, naming the key.
"""

from __future__ import annotations

import re

from .flatten import banner, env_entries
from .merge import Merged
from .spec import RenderSpec

__all__ = ["quote", "render"]

_NEEDS_ESCAPE = re.compile(r'(["\\`$])')
# U+FEFF, and the noncharacters: U+FDD0..U+FDEF and the last two code points of every plane
_REFUSED = re.compile("[\ufeff\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
) + "]")


def quote(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(r"\\\1", text) + '"'


def render(merged: Merged, spec: RenderSpec) -> bytes:
    lines = []
    for entry in env_entries(merged, spec.names, spec.allow_env):
        if _REFUSED.search(entry.value):
            raise merged.error(entry.path, "the value contains U+FEFF or a Unicode "
                                           "noncharacter, which systemd refuses",
                               hint="use the dotenv or shell format, or store the value as "
                                    "!!binary (it renders as base64)")
        lines.append(f"{entry.name}={quote(entry.value)}\n")
    return (banner(merged) + "".join(lines)).encode("utf-8")
