"""The data key of a SOPS file: each key group's master keys (age here), and Shamir's secret
sharing over GF(2^8) when there are several groups (`sealer.shamir`, as sops `shamir/shamir.go`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import IntegrityError, NoIdentityError, UsageError
from ..keys import Identity
from ..shamir import combine

__all__ = ["KEY_TYPES", "combine", "data_key", "key_groups"]

DATA_KEY_BYTES = 32
MAX_GROUPS = 32
MAX_KEYS = 256
# metadata fields holding master keys, and how a user would call them
KEY_TYPES = {"age": "age", "pgp": "PGP", "kms": "AWS KMS", "gcp_kms": "GCP KMS",
             "azure_kv": "Azure Key Vault", "hc_vault": "HashiCorp Vault"}


def key_groups(metadata: dict[str, Any], source: str) -> tuple[list[dict[str, Any]], int]:
    """The key groups (a file without `key_groups` has one, its top-level keys) and how many
    of them are needed."""
    groups = metadata.get("key_groups")
    if groups is None:
        return [metadata], 1
    if not isinstance(groups, list) or not groups or len(groups) > MAX_GROUPS \
            or not all(isinstance(g, dict) for g in groups):
        raise IntegrityError("malformed sops metadata: key_groups", file=source)
    threshold = metadata.get("shamir_threshold", len(groups))
    if isinstance(threshold, str) and threshold.isdigit():  # flattened metadata holds text
        threshold = int(threshold)
    if not isinstance(threshold, int) or isinstance(threshold, bool) \
            or not 1 <= threshold <= len(groups):
        raise IntegrityError("malformed sops metadata: shamir_threshold", file=source)
    if len(groups) > 1 and threshold < 2:
        raise IntegrityError("malformed sops metadata: shamir_threshold", file=source)
    return groups, threshold


def data_key(metadata: dict[str, Any], identities: Sequence[Identity], source: str) -> bytes:
    """Unwrap the data key with the user's age identities."""
    groups, threshold = key_groups(metadata, source)
    parts: list[bytes] = []
    for group in groups:
        part = _group_part(group, identities, source)
        if part is not None:
            parts.append(part)
        if len(parts) == threshold:
            break
    if len(parts) < threshold:
        raise _no_key(groups, threshold, len(parts), identities, source)
    key = parts[0] if len(groups) == 1 else combine(parts)
    if len(key) != DATA_KEY_BYTES:
        raise IntegrityError("authentication failed", file=source)
    return key


def _group_part(group: dict[str, Any], identities: Sequence[Identity],
                source: str) -> bytes | None:
    from .. import agefile

    entries = group.get("age") or []
    if not isinstance(entries, list) or len(entries) > MAX_KEYS:
        raise IntegrityError("malformed sops metadata: age", file=source)
    mine = {i.recipient for i in identities}
    natives = [i.native for i in identities]
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("enc"), str):
            raise IntegrityError("malformed sops metadata: age", file=source)
        recipient = entry.get("recipient")
        if isinstance(recipient, str) and recipient.lower() not in mine:
            continue
        try:
            return agefile.decrypt(entry["enc"].encode("utf-8"), natives, max_stanzas=4)
        except agefile.AgeError:
            continue
    return None


def _no_key(groups: list[dict[str, Any]], threshold: int, found: int,
            identities: Sequence[Identity], source: str) -> Exception:
    types = sorted({KEY_TYPES[t] for g in groups for t in KEY_TYPES if t != "age" and g.get(t)})
    has_age = any(g.get("age") for g in groups)
    if len(groups) > 1:
        return NoIdentityError(
            f"key groups: {found} of the {threshold} needed opened with your age identities",
            file=source, hint="point SEALER_IDENTITY (or -i) at the keys of more groups")
    if not has_age and types:
        return UsageError(f"encrypted with {', '.join(types)} only; sealer imports SOPS files "
                          "encrypted to age keys", file=source,
                          hint="add an age recipient with `sops updatekeys` (or "
                               "`sops rotate --add-age`) first")
    from ..discovery import identity_search_hint

    extra = f" (its other keys: {', '.join(types)}, not supported)" if types else ""
    return NoIdentityError(f"none of your age identities opens this SOPS file{extra}",
                           file=source, hint=None if identities else identity_search_hint())
