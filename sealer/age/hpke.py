"""The MLKEM768-X25519 hybrid KEM (X-Wing) and single-shot HPKE base mode over it.

Sources: filippo.io/hpke-pq (the KEM: key expansion from a 32-byte seed, the SHA3-256 combiner)
and RFC 9180 (the key schedule, §5.1, with HKDF-SHA256 and ChaCha20-Poly1305). Used only for
age's `mlkem768x25519` stanzas: one message per context, sequence number 0, empty AAD.
ML-KEM-768 comes from `cryptography` 48 or later built with OpenSSL 3.5 or later (47 has it only
with AWS-LC or BoringSSL); it is imported when a key is made, so that classical files still work
without it. It rejects implicitly, so a wrong key is only noticed when the AEAD tag fails.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import mlkem

__all__ = [
    "ENC_LENGTH",
    "PUBLIC_KEY_LENGTH",
    "SEED_LENGTH",
    "MLKEMUnavailable",
    "PrivateKey",
    "check_public_key",
    "open_base",
    "seal_base",
]

SEED_LENGTH = 32
PUBLIC_KEY_LENGTH = 1216  # ML-KEM-768 encapsulation key (1184) || X25519 public key (32)
ENC_LENGTH = 1120  # ML-KEM-768 ciphertext (1088) || ephemeral X25519 public key (32)
_MLKEM_PUBLIC = 1184
_MLKEM_CIPHERTEXT = 1088
_MLKEM_SEED = 64
_X25519 = 32
_COMBINER_LABEL = b"\\.//^\\"  # the KEM's label: 5c2e2f2f5e5c
_KEM_ID, _KDF_ID, _AEAD_ID = 0x647A, 0x0001, 0x0003  # MLKEM768-X25519, HKDF-SHA256, ChaCha20
_SUITE = b"HPKE" + b"".join(i.to_bytes(2, "big") for i in (_KEM_ID, _KDF_ID, _AEAD_ID))
_KEY_LENGTH, _NONCE_LENGTH = 32, 12


class MLKEMUnavailable(Exception):
    """This `cryptography` cannot do ML-KEM-768."""

    def __init__(self) -> None:
        super().__init__("post-quantum keys need ML-KEM-768: cryptography 48 or later, built "
                         "with OpenSSL 3.5 or later")


def _mlkem_private(seed: bytes) -> mlkem.MLKEM768PrivateKey:
    try:
        from cryptography.hazmat.primitives.asymmetric import mlkem

        return mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
    except (ImportError, UnsupportedAlgorithm):
        raise MLKEMUnavailable() from None


def _mlkem_public(data: bytes) -> mlkem.MLKEM768PublicKey:
    """ValueError if `data` is not an encapsulation key (FIPS 203's modulus check included)."""
    try:
        from cryptography.hazmat.primitives.asymmetric import mlkem

        return mlkem.MLKEM768PublicKey.from_public_bytes(data)
    except (ImportError, UnsupportedAlgorithm):
        raise MLKEMUnavailable() from None


class PrivateKey:
    """A decapsulation key expanded from its 32-byte seed (the seed itself is not kept)."""

    __slots__ = ("_pq", "_t", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_LENGTH:
            raise ValueError("an MLKEM768-X25519 private key is a 32-byte seed")
        expanded = hashlib.shake_256(seed).digest(_MLKEM_SEED + _X25519)
        self._pq = _mlkem_private(expanded[:_MLKEM_SEED])
        self._t = x25519.X25519PrivateKey.from_private_bytes(expanded[_MLKEM_SEED:])
        self.public_key = (self._pq.public_key().public_bytes_raw()
                           + self._t.public_key().public_bytes_raw())

    def __repr__(self) -> str:
        return "PrivateKey(<MLKEM768-X25519>)"

    def decapsulate(self, enc: bytes) -> bytes:
        """The shared secret; ValueError if the X25519 share gives the all-zero value."""
        if len(enc) != ENC_LENGTH:
            raise ValueError("wrong encapsulated key length")
        ct_pq, ct_t = enc[:_MLKEM_CIPHERTEXT], enc[_MLKEM_CIPHERTEXT:]
        ss_pq = self._pq.decapsulate(ct_pq)
        ss_t = self._t.exchange(x25519.X25519PublicKey.from_public_bytes(ct_t))
        return _combine(ss_pq, ss_t, ct_t, self.public_key[_MLKEM_PUBLIC:])


def _combine(ss_pq: bytes, ss_t: bytes, ct_t: bytes, ek_t: bytes) -> bytes:
    return hashlib.sha3_256(ss_pq + ss_t + ct_t + ek_t + _COMBINER_LABEL).digest()


def check_public_key(public_key: bytes) -> None:
    """ValueError unless `public_key` is a well-formed MLKEM768-X25519 encapsulation key."""
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise ValueError("an MLKEM768-X25519 public key is 1216 bytes")
    _mlkem_public(public_key[:_MLKEM_PUBLIC])


def _encapsulate(public_key: bytes) -> tuple[bytes, bytes]:
    ek_pq, ek_t = public_key[:_MLKEM_PUBLIC], public_key[_MLKEM_PUBLIC:]
    ss_pq, ct_pq = _mlkem_public(ek_pq).encapsulate()
    ephemeral = x25519.X25519PrivateKey.generate()
    ct_t = ephemeral.public_key().public_bytes_raw()
    ss_t = ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(ek_t))
    return _combine(ss_pq, ss_t, ct_t, ek_t), ct_pq + ct_t


# --- HPKE (RFC 9180), base mode ------------------------------------------------------------------


def _labeled_extract(salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt, b"HPKE-v1" + _SUITE + label + ikm, "sha256")


def _labeled_expand(prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + _SUITE + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled).derive(prk)


def _key_schedule(shared_secret: bytes, info: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    """The AEAD and base nonce of a base-mode context (no PSK)."""
    context = (b"\x00" + _labeled_extract(b"", b"psk_id_hash", b"")
               + _labeled_extract(b"", b"info_hash", info))
    secret = _labeled_extract(shared_secret, b"secret", b"")
    key = _labeled_expand(secret, b"key", context, _KEY_LENGTH)
    return ChaCha20Poly1305(key), _labeled_expand(secret, b"base_nonce", context, _NONCE_LENGTH)


def seal_base(public_key: bytes, info: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """SealBase with an empty AAD: (enc, ciphertext)."""
    shared_secret, enc = _encapsulate(public_key)
    aead, nonce = _key_schedule(shared_secret, info)
    return enc, aead.encrypt(nonce, plaintext, b"")


def open_base(key: PrivateKey, enc: bytes, info: bytes, ciphertext: bytes) -> bytes | None:
    """OpenBase with an empty AAD: the plaintext, or None when the tag does not verify.

    ValueError if `enc` is malformed or its X25519 share is a low-order point.
    """
    aead, nonce = _key_schedule(key.decapsulate(enc), info)
    try:
        return aead.decrypt(nonce, ciphertext, b"")
    except InvalidTag:
        return None
