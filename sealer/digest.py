"""SHA-256 for what sealer hashes itself (the audit chain, remembered verdicts), without
`hashlib`: importing it loads the system's OpenSSL (~2 ms and ~4 MiB per command here),
beside the copy cryptography carries. CPython's own SHA-256 module is the same function
(tests/test_digest.py holds it to hashlib); hashlib is the fallback where it is missing."""

from __future__ import annotations

from typing import Protocol, cast

__all__ = ["Hash", "sha256"]


class Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


def sha256(data: bytes = b"") -> Hash:
    """A new SHA-256 object (update, digest, hexdigest), as hashlib.sha256(data)."""
    try:
        # CPython 3.11 names it _sha256, 3.12 and later _sha2
        from _sha256 import sha256 as builtin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256 as builtin  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:  # pragma: no cover - another interpreter
            from hashlib import sha256 as builtin
    return cast(Hash, builtin(data))
