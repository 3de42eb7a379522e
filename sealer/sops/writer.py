"""A SOPS YAML file for age recipients, as sops 3.11 writes one (`sops encrypt --age`): a new
data key wrapped in one armored age file per recipient, every value encrypted (no
unencrypted_suffix: nothing is left in clear), the MAC over every value.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import SealerError, UsageError
from ..keys import Recipient
from .cipher import NONCE_BYTES, encrypt_value, go_bytes

__all__ = ["SOPS_VERSION", "encrypt_document"]

SOPS_VERSION = "3.11.0"
_INT64 = 1 << 63


def encrypt_document(tree: dict[str, Any], recipients: Sequence[Recipient], *,
                     now: datetime | None = None, source: str | None = None,
                     random: Callable[[int], bytes] = os.urandom) -> dict[str, Any]:
    """`tree` encrypted for `recipients` (X25519 `age1…` keys), with its `sops` metadata."""
    from .. import agefile

    if "sops" in tree:
        raise UsageError("a top-level key `sops` cannot be written to a SOPS file (sops keeps "
                         "its metadata there)", file=source)
    ages = [r for r in recipients if r.kind == "x25519"]
    if not ages:
        raise UsageError("no age (X25519) recipients to write the SOPS file for; sops reads "
                         "no other kind sealer writes", file=source,
                         hint="add an age1… recipient to the sealed file")
    key = random(32)
    digest = hashlib.sha512()
    out = {k: _encrypt(v, (k,), key, digest, random, source) for k, v in tree.items()}
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    modified = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = encrypt_value(digest.hexdigest().upper(), key, modified, nonce=random(NONCE_BYTES))
    out["sops"] = {
        "age": [{"recipient": r.text,
                 "enc": agefile.encrypt(key, [r.native]).decode("ascii")} for r in ages],
        "lastmodified": modified,
        "mac": mac,
        "version": SOPS_VERSION,
    }
    return out


def _encrypt(value: Any, path: tuple[str, ...], key: bytes, digest: Any,
             random: Callable[[int], bytes], source: str | None) -> Any:
    if isinstance(value, dict):
        return {k: _encrypt(v, (*path, k), key, digest, random, source)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_encrypt(v, path, key, digest, random, source) for v in value]
    if value is None:
        return None
    if isinstance(value, bytes) or (isinstance(value, int) and not isinstance(value, bool)
                                    and not -_INT64 <= value < _INT64):
        from ..paths import format_path

        what = "binary values" if isinstance(value, bytes) else "integers beyond 64 bits"
        raise SealerError(f"{format_path(path)}: sops has no type for {what}", file=source,
                         hint="store it as a string (base64 for bytes) to export it to SOPS")
    digest.update(go_bytes(value))
    return encrypt_value(value, key, ":".join(path) + ":", nonce=random(NONCE_BYTES))
