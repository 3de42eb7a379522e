"""SOPS files (github.com/getsops/sops, 3.x): read, decrypt and verify them with age keys, and
write them for age recipients. See docs/SOPS.md for the sops behaviour followed and where
sealer is stricter.

- `stores`: the yaml, json, dotenv, ini and binary file formats, and the `sops` metadata;
- `cipher`: the `ENC[AES256_GCM,…]` value tokens and the typed bytes the MAC hashes;
- `tree`: decrypting a document, verifying its MAC, what the MAC leaves unauthenticated;
- `datakey`: the data key from age master keys and key groups (Shamir);
- `writer`: a SOPS YAML file for age recipients.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..keys import Identity
from .stores import STORES, looks_like_sops, store_for

__all__ = ["STORES", "SopsPlaintext", "decrypt_file", "looks_like_sops", "store_for"]


class SopsPlaintext(NamedTuple):
    """A decrypted, verified SOPS file. `unauthenticated`: (key path, why) for every part its
    MAC does not cover (clear values, nulls, empty strings and containers)."""

    store: str
    branches: list[dict[str, Any]]
    unauthenticated: list[tuple[str, str]]


def decrypt_file(data: bytes, identities: Sequence[Identity], *, source: str,
                 store: str | None = None) -> SopsPlaintext:
    """Decrypt and verify a SOPS file's bytes (its store from `source`'s extension unless
    given). Refuses (IntegrityError, no detail) a value or MAC that does not verify."""
    from .datakey import data_key
    from .stores import load
    from .tree import decrypt_tree

    kind = store or store_for(Path(source))
    loaded = load(data, kind, source)
    key = data_key(loaded.metadata, identities, source)
    decrypted = decrypt_tree(loaded.branches, loaded.metadata, key, source)
    return SopsPlaintext(kind, decrypted.branches, decrypted.unauthenticated)
