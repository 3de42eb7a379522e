"""The comment line that opens sealer's env-style outputs: written by render, recognised by the
no-plaintext hook (leaks.py). Imports nothing, so the hook pays nothing for it."""

from __future__ import annotations

__all__ = ["BANNER_PREFIX", "BANNER_WARNING", "banner_line"]

BANNER_PREFIX = "# Rendered by sealer from "
BANNER_WARNING = "Plaintext secrets: do not edit, do not commit."


def banner_line(names: str) -> str:
    return f"{BANNER_PREFIX}{names}. {BANNER_WARNING}\n"
