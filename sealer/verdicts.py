"""Remembered "valid" verdicts of sealer's own schemas, so that a hook run on every commit
does not import jsonschema (tens of milliseconds) to re-check a sealer.yaml or a file shape it
has already found valid.

A verdict is a file named by the SHA-256 of (sealer's version, the schema's bytes, the
instance as canonical JSON) under $XDG_CACHE_HOME/sealer/verdicts (0700): the host's own
directory, which a repository cannot write. Only "valid" is remembered; anything else is
checked again, so every error still comes from the validator with its message. Only schemas
shipped with sealer are remembered (a repository's schema may reference other files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .digest import sha256

__all__ = ["known_valid", "remember_valid"]

MAX_VERDICTS = 10_000  # files; beyond that, nothing more is remembered


def _directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "sealer" / "verdicts"


def _name(schema: bytes, instance: Any) -> str:
    from ._version import __version__

    digest = sha256()
    for part in (__version__.encode(), schema,
                 json.dumps(instance, sort_keys=True, default=repr).encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def known_valid(schema: bytes, instance: Any) -> bool:
    try:
        return (_directory() / _name(schema, instance)).is_file()
    except (OSError, ValueError, RecursionError):
        return False


def remember_valid(schema: bytes, instance: Any) -> None:
    """Best effort: a cache that cannot be written is only slower."""
    try:
        directory = _directory()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with os.scandir(directory) as entries:
            if sum(1 for _ in entries) >= MAX_VERDICTS:
                return
        fd = os.open(directory / _name(schema, instance),
                     os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    except (OSError, ValueError, RecursionError):
        return
