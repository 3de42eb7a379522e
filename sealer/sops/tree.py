"""Decrypting a SOPS tree and verifying its MAC exactly as sops 3.11 does (`Tree.Decrypt` in
sops.go and `cmd/sops/common`), and saying what that MAC leaves unauthenticated.

Each encrypted value is AES-256-GCM with the path's keys joined by `:` plus a trailing `:` as
AAD (list items add nothing to the path). The MAC is SHA-512 over the typed plaintext of every
value in document order (only the encrypted ones, after a fixed prefix, with
`mac_only_encrypted`), uppercase hex, itself encrypted with `lastmodified` (RFC 3339) as AAD.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, NamedTuple

from ..errors import IntegrityError, UsageError
from ..regex import compile_pattern
from .cipher import Comment, decrypt_token, go_bytes
from .yamlv3 import parse_timestamp

__all__ = ["Decrypted", "Rules", "decrypt_tree", "rules_of"]

MAC_ONLY_ENCRYPTED_PREFIX = bytes.fromhex(
    "8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69")
_UNSUPPORTED_RULES = ("unencrypted_comment_regex", "encrypted_comment_regex")


class Rules(NamedTuple):
    """Which values sops encrypted (`shouldBeEncrypted`)."""

    unencrypted_suffix: str
    encrypted_suffix: str
    unencrypted_regex: Any
    encrypted_regex: Any
    mac_only_encrypted: bool

    def encrypted(self, path: tuple[str, ...]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex is not None and any(
                self.unencrypted_regex.search(p) for p in path):
            encrypted = False
        if self.encrypted_regex is not None:
            encrypted = any(self.encrypted_regex.search(p) for p in path)
        return encrypted


class Decrypted(NamedTuple):
    """The plaintext branches, and the key paths the MAC does not authenticate (with why)."""

    branches: list[dict[str, Any]]
    unauthenticated: list[tuple[str, str]]


def _flag(value: Any, name: str, source: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if value in ("true", "false"):  # flattened metadata (dotenv, ini) holds text
        return bool(value == "true")
    raise IntegrityError(f"malformed sops metadata: {name}", file=source)


def rules_of(metadata: dict[str, Any], source: str) -> Rules:
    for name in _UNSUPPORTED_RULES:
        if metadata.get(name):
            raise UsageError(f"sops metadata `{name}` is not supported yet", file=source)

    def text(name: str) -> str:
        value = metadata.get(name) or ""
        if not isinstance(value, str):
            raise IntegrityError(f"malformed sops metadata: {name}", file=source)
        return value

    def pattern(name: str) -> Any:
        value = text(name)
        return compile_pattern(value, what=f"sops {name}", error=IntegrityError, limit=1000,
                               file=source) if value else None

    return Rules(text("unencrypted_suffix"), text("encrypted_suffix"),
                 pattern("unencrypted_regex"), pattern("encrypted_regex"),
                 _flag(metadata.get("mac_only_encrypted"), "mac_only_encrypted", source))


def decrypt_tree(branches: list[dict[str, Any]], metadata: dict[str, Any], key: bytes,
                 source: str) -> Decrypted:
    """Decrypt every value and verify the MAC; IntegrityError (no detail) on any mismatch."""
    rules = rules_of(metadata, source)
    digest = hashlib.sha512()
    if rules.mac_only_encrypted:
        digest.update(MAC_ONLY_ENCRYPTED_PREFIX)
    loose: list[tuple[str, str]] = []
    out = [_walk(b, (), rules, key, digest, loose, source) for b in branches]
    expected = _file_mac(metadata, key, source)
    computed = digest.hexdigest().upper().encode("ascii")
    if not hmac.compare_digest(expected, computed):
        raise IntegrityError("the SOPS MAC does not match: the file was changed after sops "
                             "wrote it, or it is corrupt; nothing was imported", file=source)
    return Decrypted(out, loose)


def _file_mac(metadata: dict[str, Any], key: bytes, source: str) -> bytes:
    mac, modified = metadata.get("mac"), metadata.get("lastmodified")
    if not isinstance(mac, str) or not mac or not isinstance(modified, str):
        raise IntegrityError("the SOPS file has no MAC; sealer does not import unauthenticated "
                             "files", file=source)
    aad = _rfc3339(modified, source)
    try:
        value = decrypt_token(mac, key, aad)
    except IntegrityError:
        raise IntegrityError("authentication failed", file=source) from None
    if not isinstance(value, str):
        raise IntegrityError("authentication failed", file=source)
    return value.encode("utf-8")


def _rfc3339(text: str, source: str) -> str:
    """`lastmodified` as Go's `Format(time.RFC3339)` prints it (no fraction, Z for UTC)."""
    stamp = parse_timestamp(text)
    if stamp is None or "T" not in text.upper():
        raise IntegrityError("malformed sops metadata: lastmodified", file=source)
    head, _, rest = stamp.partition(".")
    if not rest:
        return stamp
    zone = rest.lstrip("0123456789")
    return head + zone


def _walk(node: Any, path: tuple[str, ...], rules: Rules, key: bytes, digest: Any,
          loose: list[tuple[str, str]], source: str) -> Any:
    if isinstance(node, dict):
        if not node:
            loose.append((_where(path), "an empty mapping, which no MAC covers"))
        return {k: _walk(v, (*path, k), rules, key, digest, loose, source)
                for k, v in node.items()}
    if isinstance(node, list):
        if not node:
            loose.append((_where(path), "an empty list, which no MAC covers"))
        return [_walk(v, path, rules, key, digest, loose, source) for v in node]
    return _leaf(node, path, rules, key, digest, loose, source)


def _leaf(value: Any, path: tuple[str, ...], rules: Rules, key: bytes, digest: Any,
          loose: list[tuple[str, str]], source: str) -> Any:
    if value is None:
        loose.append((_where(path), "null, which no MAC covers"))
        return None
    encrypted = rules.encrypted(path)
    if encrypted:
        if not isinstance(value, str):
            raise IntegrityError(f"{_where(path)}: a value sops should have encrypted is in "
                                 "clear; nothing was imported", file=source)
        try:
            value = decrypt_token(value, key, ":".join(path) + ":")
        except IntegrityError:
            raise IntegrityError("authentication failed", file=source) from None
        if isinstance(value, Comment):
            raise IntegrityError("authentication failed", file=source)
    if value == "":
        loose.append((_where(path), "an empty string, which no MAC covers"))
    elif not encrypted:
        why = ("in clear and outside the MAC (mac_only_encrypted)" if rules.mac_only_encrypted
               else "in clear: the MAC covers its bytes, not its key or where it ends")
        loose.append((_where(path), why))
    if not rules.mac_only_encrypted or encrypted:
        digest.update(go_bytes(value))
    return value


def _where(path: tuple[str, ...]) -> str:
    from ..paths import format_path

    return format_path(path) or "top level"
