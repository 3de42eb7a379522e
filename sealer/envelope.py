"""Envelope cryptography (docs/FORMAT.md §2, §3, §6): key derivation, value tokens, the MAC.

Everything random or time-dependent comes from a `Seam`, so tests can produce byte-exact
golden files; production code uses `SystemSeam`.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, AnyStr, Protocol

from .errors import IntegrityError
from .paths import Path

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.hmac import HMAC

# cryptography is imported by the functions that compute with keys, not here: parsing tokens
# and canonical encoding (all that keyless commands such as `check` need) do without it.

__all__ = [
    "FORMAT_VERSION",
    "TYPES",
    "FixedSeam",
    "Keys",
    "Seam",
    "SystemSeam",
    "canonical",
    "canonical_into",
    "decode_plaintext",
    "encode_plaintext",
    "is_token",
    "token_type",
]

FORMAT_VERSION = 1
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
TYPES = ("str", "int", "float", "bool", "null", "bytes")
_TOKEN = re.compile(r"ENC\[(str|int|float|bool|null|bytes),([A-Za-z0-9+/]+={0,2})\]\Z")
# A big value is base64-encoded and MAC'd in pieces of this many bytes (a multiple of 3, so
# the pieces' base64 joins into the whole's; the nonce, 12 bytes, is one such piece too).
_PIECE = 3 << 16
assert NONCE_BYTES % 3 == 0 and _PIECE % 3 == 0


class Seam(Protocol):
    """Where randomness and time come from."""

    def random(self, n: int) -> bytes: ...

    def now(self) -> datetime: ...


class SystemSeam:
    def random(self, n: int) -> bytes:
        return os.urandom(n)

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)


class FixedSeam:
    """Deterministic randomness (SHA-256 in counter mode over `seed`) and a fixed clock.

    For tests and golden vectors only: never seal real secrets with it.
    """

    def __init__(self, seed: bytes, clock: datetime) -> None:
        self.seed = seed
        self.clock = clock
        self.counter = 0

    def random(self, n: int) -> bytes:
        from hashlib import sha256

        out = b""
        while len(out) < n:
            out += sha256(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:n]

    def now(self) -> datetime:
        return self.clock


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _text(value: str) -> bytes:
    return _field(value.encode("utf-8"))


def _path_bytes(path: Path) -> bytes:
    out = bytearray()
    for part in path:
        if isinstance(part, int):
            out += b"i" + struct.pack(">Q", part)
        else:
            out += b"k" + _text(part)
    return bytes(out)


def _aad(file_id: bytes, path: Path, type_name: str, version: int | str | None = None) -> bytes:
    """FORMAT.md §3.2; with `version`, the separate domain of version tokens (§10)."""
    domain = "sealer-value" if version is None else "sealer-version"
    tail = b"" if version is None else _text(str(version))
    return b"".join((
        _text(domain), _text(str(FORMAT_VERSION)), _field(file_id),
        _field(_path_bytes(path)), _text(type_name), tail,
    ))


_PATH_CACHE = 1_000_000  # paths remembered per file: at most a file's node limit


def _hkdf(data_key: bytes, salt: bytes, label: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=label.encode())
    return kdf.derive(data_key)


class Keys:
    """The keys derived from one file's data key, bound to its file id."""

    def __init__(self, data_key: bytes, file_id: bytes) -> None:
        if len(data_key) != DATA_KEY_BYTES:
            raise IntegrityError("the wrapped data key has the wrong length")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.data_key = data_key
        self.file_id = file_id
        self._aead = AESGCM(_hkdf(data_key, file_id, "sealer v1 value key"))
        self._mac_key = _hkdf(data_key, file_id, "sealer v1 mac key")
        # the AAD (FORMAT.md §3.2) built from parts that repeat: its fixed start per domain,
        # and each path's encoding once (60% of decrypting was rebuilding them per value)
        self._prefix = {domain: _text(domain) + _text(str(FORMAT_VERSION)) + _field(file_id)
                        for domain in ("sealer-value", "sealer-version")}
        self._paths: dict[Path, bytes] = {}

    def _aad(self, path: Path, type_name: str, version: int | str | None) -> bytes:
        """The same bytes as `_aad` (tests/test_envelope.py holds them equal)."""
        encoded = self._paths.get(path)
        if encoded is None:
            encoded = _field(_path_bytes(path))
            if len(self._paths) < _PATH_CACHE:
                self._paths[path] = encoded
        if version is None:
            return self._prefix["sealer-value"] + encoded + _text(type_name)
        return self._prefix["sealer-version"] + encoded + _text(type_name) + _text(str(version))

    def commitment(self) -> str:
        """What the header records of this data key (FORMAT.md §1.1): it changes exactly when
        the data key does, and can be compared without the key."""
        return _hkdf(self.data_key, self.file_id, "sealer v1 key commitment")[:16].hex()

    def encrypt(self, path: Path, type_name: str, plaintext: bytes, nonce: bytes,
                version: int | str | None = None) -> str:
        sealed = self._aead.encrypt(nonce, plaintext, self._aad(path, type_name, version))
        if len(sealed) <= _PIECE:
            return f"ENC[{type_name},{base64.b64encode(nonce + sealed).decode('ascii')}]"
        parts = _token_parts(type_name, nonce, sealed)
        del sealed  # a big value's ciphertext is let go before its token is joined
        return "".join(parts)

    def decrypt(self, path: Path, token: str, version: int | str | None = None, *,
                matched: bool = False) -> tuple[str, bytes]:
        """(type, plaintext) of a token; IntegrityError if it does not authenticate.
        `matched`: the caller has matched `token` with `is_token` already."""
        from cryptography.exceptions import InvalidTag

        type_name, raw = parse_token(token, matched=matched)
        if len(raw) < NONCE_BYTES + 16:
            raise IntegrityError("authentication failed")
        view = memoryview(raw)  # nonce and ciphertext in place: a big value is not copied
        try:
            plain = self._aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:],
                                       self._aad(path, type_name, version))
        except InvalidTag:
            raise IntegrityError("authentication failed") from None
        finally:
            view.release()
        return type_name, plain

    def _hmac(self, document: Any) -> HMAC:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.hmac import HMAC

        mac = HMAC(self._mac_key, hashes.SHA256())
        mac.update(b"sealer mac v1\x00")
        canonical_into(document, mac.update)
        return mac

    def mac(self, document: Any) -> bytes:
        return self._hmac(document).finalize()

    def verify_mac(self, document: Any, tag: bytes) -> None:
        """Constant-time check (cryptography's HMAC.verify)."""
        from cryptography.exceptions import InvalidSignature

        try:
            self._hmac(document).verify(tag)
        except InvalidSignature:
            raise IntegrityError("authentication failed") from None


def constant_time_equal(a: AnyStr, b: AnyStr) -> bool:
    """hmac.compare_digest's comparison (its C function, which `hmac` itself falls back to),
    without importing `hmac`: that loads hashlib's own copy of OpenSSL (~4 MiB, ~5 ms) on every
    read, beside the one cryptography already has."""
    import _operator

    return bool(_operator._compare_digest(a, b))


def is_token(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[") and _TOKEN.match(value) is not None


def token_type(value: str) -> str:
    return value[4:value.index(",")]


def parse_token(token: str, *, matched: bool = False) -> tuple[str, bytes]:
    """(type, nonce + ciphertext) of a token; IntegrityError unless it is one, with canonical
    base64. `matched`: `is_token(token)` is known to be true, so the grammar is not matched
    again (a document's tokens are matched once, when it is parsed)."""
    if not matched and not is_token(token):
        raise IntegrityError("authentication failed")
    comma = token.index(",", 4)
    raw = strict_b64decode(token[comma + 1:-1])
    if raw is None:
        raise IntegrityError("authentication failed")
    return token[4:comma], raw


def strict_b64decode(text: str) -> bytes | None:
    """Decode canonical padded base64, or None; non-canonical encodings are refused.

    Strict decoding refuses other characters, misplaced or missing padding; what it cannot
    see is non-zero padding bits, so the last quantum is encoded back and compared (every
    earlier one has a single encoding). Nothing the size of `text` is made twice."""
    if len(text) % 4:
        return None
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error, and text that is not ASCII
        return None
    tail = len(raw) % 3 or 3
    if raw and binascii.b2a_base64(raw[-tail:], newline=False) != text[-4:].encode("ascii"):
        return None
    return raw


def _token_parts(type_name: str, nonce: bytes, sealed: bytes) -> list[str]:
    """The token of a big value in pieces, its base64 made a piece at a time."""
    view = memoryview(sealed)
    parts = [f"ENC[{type_name},", base64.b64encode(nonce).decode("ascii")]
    parts += [binascii.b2a_base64(view[i:i + _PIECE], newline=False).decode("ascii")
              for i in range(0, len(view), _PIECE)]
    parts.append("]")
    view.release()
    return parts


def encode_plaintext(value: Any) -> tuple[str, bytes]:
    """(type name, plaintext bytes) of a scalar (FORMAT.md §3.1)."""
    if value is None:
        return "null", b""
    if isinstance(value, bool):
        return "bool", b"true" if value else b"false"
    if isinstance(value, int):
        return "int", str(value).encode("ascii")
    if isinstance(value, float):
        return "float", repr(value).encode("ascii")
    if isinstance(value, str):
        return "str", value.encode("utf-8")
    if isinstance(value, bytes):
        return "bytes", value
    raise TypeError(f"cannot seal a value of type {type(value).__name__}")


def decode_plaintext(type_name: str, data: bytes) -> Any:
    """Inverse of `encode_plaintext`; IntegrityError on anything a writer would not produce."""
    try:
        return _DECODERS[type_name](data)
    except (KeyError, ValueError, UnicodeDecodeError):
        raise IntegrityError("authentication failed") from None


def _decode_bool(data: bytes) -> bool:
    if data not in (b"true", b"false"):
        raise ValueError
    return data == b"true"


def _decode_null(data: bytes) -> None:
    if data:
        raise ValueError


_DECODERS: dict[str, Any] = {
    "str": lambda d: d.decode("utf-8"),
    "int": lambda d: int(d.decode("ascii")),
    "float": lambda d: float(d.decode("ascii")),
    "bool": _decode_bool,
    "null": _decode_null,
    "bytes": bytes,
}


def canonical(value: Any) -> bytes:
    """The canonical encoding C of FORMAT.md §6."""
    out = bytearray()
    canonical_into(value, out.extend)
    return bytes(out)


Update = Callable[[bytes | bytearray], object]


def canonical_into(value: Any, update: Update) -> None:
    """`canonical(value)` handed to `update` (a MAC's) in pieces: small values gathered, big
    strings and bytes in slices, so a MAC over a big value copies no more than a piece.
    `update` must not keep what it is given: the buffer is reused."""
    out = bytearray()
    _encode(value, out, update)
    if out:
        update(out)


def _encode(value: Any, out: bytearray, update: Update) -> None:
    if isinstance(value, dict):
        out += b"m" + struct.pack(">I", len(value))
        for key, item in value.items():
            out += _text(key)
            _encode(item, out, update)
    elif isinstance(value, list):
        out += b"l" + struct.pack(">I", len(value))
        for item in value:
            _encode(item, out, update)
    elif isinstance(value, str | bytes) and len(value) > _PIECE:
        _encode_big(value, out, update)
    else:
        out += _scalar(value)
    if len(out) > _PIECE:
        update(out)
        out.clear()


def _encode_big(value: str | bytes, out: bytearray, update: Update) -> None:
    """A long string or bytes value: its header gathered, then its body passed in slices."""
    if isinstance(value, bytes):
        body: str | bytes = value
        out += b"x" + struct.pack(">I", len(value))
    elif value.isascii():  # one byte per character: sliced, encoded a slice at a time
        body = value
        out += b"s" + struct.pack(">I", len(value))
    else:
        body = value.encode("utf-8")
        out += b"s" + struct.pack(">I", len(body))
    update(out)
    out.clear()
    for i in range(0, len(body), _PIECE):
        piece = body[i:i + _PIECE]
        update(piece.encode("ascii") if isinstance(piece, str) else piece)


def _scalar(value: Any) -> bytes:
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"b\x01" if value else b"b\x00"
    if isinstance(value, int):
        return b"i" + _text(str(value))
    if isinstance(value, float):
        return b"f" + (b"\x7f\xf8" + bytes(6) if math.isnan(value) else struct.pack(">d", value))
    if isinstance(value, str):
        return b"s" + _text(value)
    if isinstance(value, bytes):
        return b"x" + _field(value)
    raise TypeError(f"cannot encode a value of type {type(value).__name__}")
