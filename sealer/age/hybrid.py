"""age's post-quantum hybrid recipient type, `mlkem768x25519` (age v1.3, c2sp.org/age).

An identity is a 32-byte seed, Bech32 with HRP `AGE-SECRET-KEY-PQ-` (uppercase); its recipient is
the 1,216-byte MLKEM768-X25519 public key, Bech32 with HRP `age1pq`. A stanza is
`-> mlkem768x25519 base64(enc)` with the HPKE-sealed 16-byte file key as its body (see
`sealer.age.hpke`). pyrage cannot read these: `sealer.agefile` hands these recipients and
identities to `sealer.age.stream`, which writes and reads the rest of the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from . import bech32, hpke
from .format import (
    AgeError,
    Stanza,
    StanzaIdentity,
    StanzaRecipient,
    b64decode_raw,
    b64encode_raw,
)
from .hpke import MLKEMUnavailable

__all__ = ["STANZA_TYPE", "HybridIdentity", "HybridRecipient", "MLKEMUnavailable"]

STANZA_TYPE = "mlkem768x25519"
RECIPIENT_HRP = "age1pq"
IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"
_INFO = b"age-encryption.org/mlkem768x25519"
_BODY_LENGTH = 16 + 16  # the sealed 16-byte file key and its Poly1305 tag


class HybridRecipient(StanzaRecipient):
    """An `age1pq1…` public key. Making one raises MLKEMUnavailable if ML-KEM is missing.

    Labelled "postquantum", as in age: it is never mixed with classical recipients in one file.
    """

    __slots__ = ("public_key",)
    labels = frozenset({"postquantum"})

    def __init__(self, public_key: bytes) -> None:
        hpke.check_public_key(public_key)
        self.public_key = bytes(public_key)

    @classmethod
    def parse(cls, text: str) -> HybridRecipient:
        """From its Bech32 form (one case throughout); ValueError if it is not one."""
        hrp, data = bech32.decode(text)
        if hrp != RECIPIENT_HRP:
            raise ValueError("not an age1pq1… recipient")
        return cls(data)

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public_key)

    def __repr__(self) -> str:
        return f"HybridRecipient({str(self)[:16]}…)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HybridRecipient) and other.public_key == self.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)

    def wrap(self, file_key: bytes) -> Stanza:
        enc, body = hpke.seal_base(self.public_key, _INFO, file_key)
        return Stanza(STANZA_TYPE, [b64encode_raw(enc)], body)


class HybridIdentity(StanzaIdentity):
    """An `AGE-SECRET-KEY-PQ-1…` private key. Its repr shows the recipient, never the secret.

    Making one raises MLKEMUnavailable if ML-KEM is missing.
    """

    __slots__ = ("_key", "_seed")

    def __init__(self, seed: bytes) -> None:
        self._key = hpke.PrivateKey(seed)
        self._seed = bytes(seed)

    @classmethod
    def generate(cls) -> HybridIdentity:
        return cls(os.urandom(hpke.SEED_LENGTH))

    @classmethod
    def parse(cls, text: str) -> HybridIdentity:
        """From its Bech32 form; ValueError if it is not a hybrid secret key."""
        hrp, data = bech32.decode(text)
        if hrp != IDENTITY_HRP.lower() or len(data) != hpke.SEED_LENGTH:
            raise ValueError("not an AGE-SECRET-KEY-PQ-1… identity")
        return cls(data)

    def secret_key(self) -> str:
        """The secret in age's encoding, for writing an identity file (uppercase)."""
        return bech32.encode(IDENTITY_HRP, self._seed).upper()

    def recipient(self) -> HybridRecipient:
        return HybridRecipient(self._key.public_key)

    def __repr__(self) -> str:
        return f"HybridIdentity(recipient={str(self.recipient())[:16]}…)"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key from the first `mlkem768x25519` stanza that opens, or None."""
        for stanza in stanzas:
            if stanza.type != STANZA_TYPE:
                continue
            enc = _checked_enc(stanza)
            try:
                file_key = hpke.open_base(self._key, enc, _INFO, stanza.body)
            except ValueError:
                raise _stanza_error("its X25519 share is a low-order point") from None
            if file_key is not None:
                return file_key
        return None


def _stanza_error(reason: str) -> AgeError:
    return AgeError("header", f"malformed age header: a {STANZA_TYPE} stanza is invalid: "
                              f"{reason}")


def _checked_enc(stanza: Stanza) -> bytes:
    """The spec's checks, before any decryption: one argument, 1,120 bytes, a 32-byte body."""
    if len(stanza.args) != 1:
        raise _stanza_error("it must have exactly one argument after its type")
    enc = b64decode_raw(stanza.args[0].encode("ascii"))
    if enc is None or len(enc) != hpke.ENC_LENGTH:
        raise _stanza_error("its argument is not 1120 bytes of canonical base64")
    if len(stanza.body) != _BODY_LENGTH:
        raise _stanza_error(f"its body is not {_BODY_LENGTH} bytes")
    return enc
