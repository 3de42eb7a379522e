"""`sealer.load()`: the secrets of sealed files, read-only, for applications.

    import sealer
    secrets = sealer.load("config/app.sealed.yaml")
    connect(password=secrets["db"]["password"])

Verification is the CLI's: every file's MAC and every value's tag are checked before anything
is returned. Mappings come back as `Secrets` (a read-only Mapping whose repr shows key names,
never values, so logging it by mistake leaks nothing) and lists as tuples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..keys import Identity
from .merge import open_and_merge

__all__ = ["Secrets", "load"]

PathLike = str | os.PathLike[str]


class Secrets(Mapping[str, Any]):
    """A read-only mapping of decrypted values (nested mappings are Secrets, lists tuples)."""

    __slots__ = ("_data",)
    _data: dict[str, Any]

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", {k: _freeze(v) for k, v in data.items()})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("sealer secrets are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("sealer secrets are read-only")

    def __repr__(self) -> str:
        return f"<sealer secrets: {', '.join(self._data) or 'empty'}>"

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy (mappings as dicts, lists as lists), e.g. for json.dumps."""
        return {k: _thaw(v) for k, v in self._data.items()}


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return Secrets(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Secrets):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def load(files: PathLike | Sequence[PathLike], identities: Sequence[Identity] | None = None,
         *, allow_override: bool = False) -> Secrets:
    """Decrypt and verify one sealed file, or several merged in order (a base, then overlays).

    `identities` None finds them as the CLI does ($SEALER_IDENTITY, $SEALER_IDENTITY_FILE, …,
    ~/.config/sealer/keys.txt); pass `sealer.discover_identities(["/run/secrets/key"])` to use
    one file. A key defined by two files is an error unless `allow_override`. Raises a
    `sealer.SealerError` subclass on any failure (no identity, tampering, missing file).
    """
    paths = [Path(files)] if isinstance(files, str | os.PathLike) else [Path(f) for f in files]
    if not paths:
        from ..errors import UsageError

        raise UsageError("no sealed files to load")
    merged = open_and_merge(paths, identities, allow_override=allow_override, action="load")
    return Secrets(merged.tree)
