"""Helpers for the in-memory sealing tests: throwaway identities and a sample document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyrage

from sealer.keys import Identity, Recipient, parse_identities, parse_recipient


def new_identity() -> tuple[Identity, Recipient]:
    secret = str(pyrage.x25519.Identity.generate())
    identity = parse_identities(secret.encode(), source="test", prompt=None)[0]
    return identity, parse_recipient(identity.recipient)


def sample() -> dict[str, Any]:
    """A document with every type, nesting, lists, awkward keys and a clear value."""
    return {
        "db": {"host": "db.example.com", "port": 5432, "password": "hunter2", "ratio": 0.25},
        "flags": {"enabled": True, "nothing": None, "zip": "0123", "word": "no"},
        "blob": b"\x00\x01\xff",
        "list": ["first", "second", {"nested": "third"}],
        "odd.key": {"with:colon": "v", "": "empty key", "ünï": "multi\nline\n"},
        "empty_map": {},
        "empty_list": [],
        "region_public": "eu-west-1",
    }


def forge(out: Path, data: dict[str, Any], recipients: list[str],
          signing_key: Path | None = None, metadata: dict[str, Any] | None = None) -> Path:
    """Write a sealed file the way anyone holding only the public keys can (or an older sealer
    did): straight from the format layer, past sealer's write gate. For tests of what readers
    and `check` make of files that the gate would not have written."""
    from sealer.core import seal
    from sealer.signing import sign_document

    document = seal(data, recipients=[parse_recipient(r) for r in recipients], source=str(out),
                    metadata=metadata)
    if signing_key is not None:
        sign_document(document, signing_key)
    out.write_text(document.to_yaml(), encoding="utf-8")
    return out
