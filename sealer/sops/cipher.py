"""SOPS's value cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` tokens, and the typed
plaintext bytes its MAC hashes (sops `aes/cipher.go` and `ToBytes` in `sops.go`, version 3.11).

Decryption follows Go's parsers (`strconv.Atoi`, `ParseFloat`, `ParseBool`) where sops uses
them, but refuses what sops never writes (hexadecimal floats, out-of-range numbers), so every
accepted token has one meaning.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from decimal import Decimal
from typing import Any

from ..errors import IntegrityError

__all__ = ["Token", "decrypt_token", "encrypt_value", "go_bytes", "go_float", "is_token",
           "parse_token"]

_TOKEN = re.compile(r"ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]\Z", re.DOTALL)
_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_SPECIAL_FLOATS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
                   "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT64 = 1 << 63
NONCE_BYTES = 32  # sops' IV size
TAG_BYTES = 16


class Token:
    """A parsed value token. `data` excludes the 16-byte GCM tag."""

    __slots__ = ("data", "iv", "tag", "type")

    def __init__(self, data: bytes, iv: bytes, tag: bytes, type_name: str) -> None:
        self.data, self.iv, self.tag, self.type = data, iv, tag, type_name


def is_token(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[AES256_GCM,")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError("authentication failed") from None


def parse_token(text: str) -> Token:
    """A token as sops writes it; anything else is an integrity failure (no detail)."""
    match = _TOKEN.match(text)
    if match is None:
        raise IntegrityError("authentication failed")
    data, iv, tag, type_name = match.groups()
    return Token(_b64(data), _b64(iv), _b64(tag), type_name)


def decrypt_token(text: str, key: bytes, aad: str) -> Any:
    """The typed plaintext of one token: str, int, float, bool, bytes; `time` as its RFC 3339
    text (sealer has no timestamp type); a comment as `Comment`. An empty string is returned
    unchanged, as sops does (it never encrypts one)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if text == "":
        return ""
    token = parse_token(text)
    if len(token.tag) != TAG_BYTES or not token.iv:
        raise IntegrityError("authentication failed")
    try:
        plain = AESGCM(key).decrypt(token.iv, token.data + token.tag, aad.encode("utf-8"))
    except (InvalidTag, ValueError):
        raise IntegrityError("authentication failed") from None
    return _typed(token.type, plain)


class Comment(str):
    """A decrypted comment (never part of the MAC)."""


def _typed(type_name: str, plain: bytes) -> Any:
    try:
        if type_name == "bytes":
            return plain
        if type_name == "str" and not _utf8(plain):
            return plain  # a Go string holds any bytes (the binary store): kept as they are
        text = plain.decode("utf-8")
        if type_name in ("str", "time"):
            return text
        if type_name == "comment":
            return Comment(text)
        if type_name == "int":
            return _go_int(text)
        if type_name == "float":
            return _go_parse_float(text)
        if type_name == "bool":
            return _go_bool(text)
    except (UnicodeDecodeError, ValueError):
        pass
    raise IntegrityError("authentication failed")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _go_int(text: str) -> int:
    if not _INT.match(text):
        raise ValueError(text)
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise ValueError(text)
    return value


def _go_parse_float(text: str) -> float:
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    if not _FLOAT.match(text):
        raise ValueError(text)
    value = float(text)
    if math.isinf(value):
        raise ValueError(text)  # Go: "value out of range"
    return value


def _go_bool(text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(text)


def go_float(value: float) -> str:
    """Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest round-trip digits, positional."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_bytes(value: Any) -> bytes:
    """The bytes sops' MAC hashes for one value (`ToBytes`)."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, float):
        return go_float(value).encode("ascii")
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(type(value).__name__)


def encrypt_value(value: Any, key: bytes, aad: str, *, nonce: bytes | None = None) -> str:
    """A token exactly as sops writes it (`Encrypt` in aes/cipher.go); "" stays ""."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if value == "" or value == b"":
        return ""
    type_name, plain = _plain(value)
    iv = nonce if nonce is not None else os.urandom(NONCE_BYTES)
    out = AESGCM(key).encrypt(iv, plain, aad.encode("utf-8"))
    b64 = base64.b64encode
    return (f"ENC[AES256_GCM,data:{b64(out[:-TAG_BYTES]).decode()},iv:{b64(iv).decode()},"
            f"tag:{b64(out[-TAG_BYTES:]).decode()},type:{type_name}]")


def _plain(value: Any) -> tuple[str, bytes]:
    if isinstance(value, Comment):
        return "comment", value.encode("utf-8")
    if isinstance(value, bool):
        return "bool", b"True" if value else b"False"
    if isinstance(value, int):
        return "int", str(value).encode("ascii")
    if isinstance(value, float):
        return "float", go_float(value).encode("ascii")
    if isinstance(value, str):
        return "str", value.encode("utf-8")
    if isinstance(value, bytes):
        return "str", value
    raise TypeError(f"sops has no type for {type(value).__name__}")
