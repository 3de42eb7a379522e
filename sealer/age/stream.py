"""What every age v1 file shares, whatever its recipients: the header MAC and the payload.

c2sp.org/age: HMAC key = HKDF-SHA-256(file key, salt = empty, info = "header") over the header up
to `---`; payload key = HKDF-SHA-256(file key, salt = 16-byte nonce, info = "payload"); the
payload is ChaCha20-Poly1305 STREAM in 64 KiB chunks with an 11-byte big-endian counter and a
final-chunk flag. Decryption is all or nothing: no plaintext leaves before every chunk verified.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .format import (
    NONCE_LENGTH,
    AgeError,
    Header,
    Stanza,
    StanzaIdentity,
    StanzaRecipient,
    b64encode_raw,
    header_bytes,
    mac_input,
)

__all__ = [
    "CHUNK_SIZE",
    "FILE_KEY_LENGTH",
    "decrypt_file",
    "encrypt",
    "encrypt_file",
    "unwrap_file_key",
]

FILE_KEY_LENGTH = 16
CHUNK_SIZE = 64 * 1024
TAG_LENGTH = 16
_COUNTER_LENGTH = 11


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)


def _header_mac(file_key: bytes, header: bytes) -> bytes:
    return hmac.digest(_hkdf(file_key, b"", b"header"), header, "sha256")


def _chunk_nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(_COUNTER_LENGTH, "big") + (b"\x01" if last else b"\x00")


def encrypt_file(file_key: bytes, stanzas: list[Stanza], plaintext: bytes) -> bytes:
    """A binary age file: the header for `stanzas` (which wrap `file_key`), then the payload."""
    header = header_bytes(stanzas)
    mac = b64encode_raw(_header_mac(file_key, header)).encode("ascii")
    nonce = os.urandom(NONCE_LENGTH)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    starts = range(0, len(plaintext), CHUNK_SIZE) if plaintext else range(1)
    chunks = [aead.encrypt(_chunk_nonce(index, index == len(starts) - 1),
                           plaintext[start : start + CHUNK_SIZE], None)
              for index, start in enumerate(starts)]
    return b"".join([header, b" ", mac, b"\n", nonce, *chunks])


def encrypt(plaintext: bytes, recipients: Sequence[StanzaRecipient]) -> bytes:
    """A binary age file for `recipients`, with a fresh file key and payload nonce."""
    if not recipients:
        raise ValueError("no recipients")
    file_key = os.urandom(FILE_KEY_LENGTH)
    return encrypt_file(file_key, [r.wrap(file_key) for r in recipients], plaintext)


def unwrap_file_key(stanzas: Sequence[Stanza], identities: Sequence[StanzaIdentity]
                    ) -> bytes | None:
    """The file key, trying each identity on every stanza in turn; None if none opens."""
    for identity in identities:
        file_key = identity.unwrap(stanzas)
        if file_key is not None:
            return file_key
    return None


def decrypt_file(data: bytes, header: Header, file_key: bytes) -> bytes:
    """Check the header MAC with the unwrapped file key, then decrypt the whole payload.

    `data` is the binary file and `header` its parse (`sealer.age.format.parse_header`).
    """
    expected = _header_mac(file_key, mac_input(data, header))
    if not hmac.compare_digest(expected, header.mac):
        raise AgeError("hmac", "the age header failed its MAC check: the file was modified")
    nonce_end = header.payload_offset + NONCE_LENGTH
    key = _hkdf(file_key, data[header.payload_offset : nonce_end], b"payload")
    return _open_payload(ChaCha20Poly1305(key), memoryview(data)[nonce_end:])


def _open_payload(aead: ChaCha20Poly1305, payload: memoryview) -> bytes:
    size = CHUNK_SIZE + TAG_LENGTH
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [payload]
    out: list[bytes] = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        try:
            plain = aead.decrypt(_chunk_nonce(index, last), chunk, None)
        except InvalidTag:
            raise _payload_error() from None
        if last and index > 0 and not plain:
            raise _payload_error()  # only an empty file may end with an empty chunk
        out.append(plain)
    return b"".join(out)


def _payload_error() -> AgeError:
    return AgeError("payload", "the age payload is damaged or truncated")
