"""Text from a repository (key names, paths, commit authors, messages quoting them) made safe to
show on a terminal: control characters and bidirectional overrides are shown as escapes, so a
crafted name cannot move the cursor, rewrite the screen, set the window title or reorder what
a reviewer reads. Values are never passed through here: `get` prints them byte for byte.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 except TAB, DEL, C1, and the Unicode bidirectional controls (CVE-2021-42574's set) and
# line/paragraph separators.
# Lone surrogates are bytes of a file name that is not UTF-8 (os.fsdecode): shown escaped too.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with unsafe characters escaped (`\\x1b`, `\\u202e`); `newlines` keeps `\\n`."""
    if newlines:
        return "\n".join(_UNSAFE.sub(_escape, line) for line in text.split("\n"))
    return _UNSAFE.sub(_escape, text)
