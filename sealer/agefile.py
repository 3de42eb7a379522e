"""age files (c2sp.org/age) for sealer: strict checks in front of pyrage, and hybrid keys.

Every file is parsed strictly first (`sealer.age.format`: armor, header grammar, scrypt rules), and
the scrypt work factor is capped so a hostile file cannot make sealer spend gigabytes of memory.
Then pyrage (rage) does the cryptography for X25519, SSH and scrypt, and `sealer.age` for what
pyrage cannot read: post-quantum `mlkem768x25519` recipients (`sealer.age.hybrid`). Decryption
is all or nothing: the plaintext is returned only once the whole payload has been authenticated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import pyrage

from .age.format import (
    AGE_KINDS,
    MAGIC,
    AgeError,
    Header,
    Stanza,
    StanzaIdentity,
    StanzaRecipient,
    armor,
    dearmor,
    is_armored,
    parse_header,
    to_binary,
)
from .errors import ConfigError, IdentityError

__all__ = [
    "AGE_KINDS",
    "MAGIC",
    "MAX_SCRYPT_WORK_FACTOR",
    "AgeError",
    "Header",
    "Stanza",
    "StanzaIdentity",
    "StanzaRecipient",
    "armor",
    "dearmor",
    "decrypt",
    "decrypt_with_passphrase",
    "encrypt",
    "is_armored",
    "is_passphrase_encrypted",
    "max_scrypt_work_factor",
    "parse_header",
]

MAX_SCRYPT_WORK_FACTOR = 20  # log2(N); scrypt with r=8 needs 2**(N+10) bytes: 1 GiB at 20
SCRYPT_CAP_VARIABLE = "SEALER_MAX_SCRYPT_WORK_FACTOR"
_CAP_VALUE = re.compile(r"[0-9]{1,2}")


# --- limits -------------------------------------------------------------------------------------


def max_scrypt_work_factor(env: Mapping[str, str] = os.environ) -> int:
    """The highest scrypt work factor sealer will compute: $SEALER_MAX_SCRYPT_WORK_FACTOR or 20."""
    raw = env.get(SCRYPT_CAP_VARIABLE, "").strip()
    if not raw:
        return MAX_SCRYPT_WORK_FACTOR
    if _CAP_VALUE.fullmatch(raw) is None or not 1 <= int(raw) <= 30:
        raise ConfigError(
            f"{SCRYPT_CAP_VARIABLE} must be a whole number from 1 to 30, not {raw[:12]!r}",
            hint=f"unset it to use the default of {MAX_SCRYPT_WORK_FACTOR}",
        )
    return int(raw)


# --- scrypt -------------------------------------------------------------------------------------


def is_passphrase_encrypted(data: bytes) -> bool:
    """Whether a (binary or armored) age file is encrypted with a passphrase (`age -p`)."""
    return _scrypt_work_factor(parse_header(to_binary(data))) is not None


def _scrypt_work_factor(header: Header) -> str | None:
    """The work factor of a (validated) scrypt header as written, or None for other files."""
    first = header.stanzas[0]
    return first.args[1] if first.type == "scrypt" else None


def _check_work_factor(work_factor: str) -> None:
    """Refuse work factors above the cap before any scrypt work (digits compared first: a
    thousand-digit factor must not reach int())."""
    cap = max_scrypt_work_factor()
    if len(work_factor) <= 2 and int(work_factor) <= cap:
        return
    shown = work_factor if len(work_factor) <= 20 else work_factor[:20] + "…"
    raise AgeError(
        "header", f"the scrypt work factor {shown} is above sealer's limit of {cap}",
        hint=f"if you trust this file, raise the limit with {SCRYPT_CAP_VARIABLE} (each step "
             "doubles the time and memory; 20 needs 1 GiB)",
    )


# --- pyrage -------------------------------------------------------------------------------------

_PYRAGE_KINDS = (
    ("No matching keys found", "no match"),
    ("Decryption failed", "no match"),  # the scrypt stanza did not open: wrong passphrase
    ("Header MAC is invalid", "hmac"),
    ("Excessive work", "header"),
    ("Header is invalid", "header"),
    ("Unknown age format", "header"),
    ("failed to fill whole buffer", "header"),
    ("invalid armor", "armor"),
)
_MESSAGES = {
    "no match": "no identity matched any of the file's recipients",
    "hmac": "the age header failed its MAC check: the file was modified",
    "header": "malformed age header: a recipient stanza is invalid",
    "payload": "the age payload is damaged or truncated",
    "armor": "invalid age armor",
}


def _classify(message: str) -> str:
    """Map rage's error text to a kind. What rage reports after the header is the payload."""
    for prefix, kind in _PYRAGE_KINDS:
        if message.startswith(prefix):
            return kind
    return "payload"


def _age_error(exc: Exception) -> AgeError:
    kind = _classify(str(exc))
    return AgeError(kind, _MESSAGES[kind])


# --- decrypt and encrypt ------------------------------------------------------------------------


def decrypt(data: bytes, identities: Sequence[object], *,
            max_stanzas: int | None = None) -> bytes:
    """Decrypt a binary or armored age file with identities: pyrage's (X25519, SSH) and sealer's
    own (`StanzaIdentity`: post-quantum hybrid), sealer's tried first.

    The header is checked strictly first, and refused with more than `max_stanzas` stanzas.
    Passphrase-encrypted (scrypt) files are refused here; use decrypt_with_passphrase for those.
    """
    binary = to_binary(data)
    header = parse_header(binary)
    if max_stanzas is not None and len(header.stanzas) > max_stanzas:
        raise AgeError("header", f"more than {max_stanzas} recipient stanzas")
    if _scrypt_work_factor(header) is not None:
        raise AgeError("no match", "the file is passphrase-encrypted, not encrypted to a key",
                       hint="it needs a passphrase, not an identity")
    if not identities:
        raise AgeError("no match", "there are no identities to try")
    ours = [i for i in identities if isinstance(i, StanzaIdentity)]
    if ours:
        from .age import stream

        file_key = stream.unwrap_file_key(header.stanzas, ours)
        if file_key is not None:
            return stream.decrypt_file(binary, header, file_key)
    others = [i for i in identities if not isinstance(i, StanzaIdentity)]
    if not others:
        raise AgeError("no match", _MESSAGES["no match"])
    return _pyrage_decrypt(binary, others)


def _pyrage_decrypt(binary: bytes, identities: list[object]) -> bytes:
    try:
        plaintext: bytes = pyrage.decrypt(binary, identities)
    except pyrage.DecryptError as exc:
        raise _age_error(exc) from None
    return plaintext


def decrypt_with_passphrase(data: bytes, passphrase: str) -> bytes:
    """Decrypt a passphrase-encrypted (`age -p`) file, refusing work factors above the cap."""
    binary = to_binary(data)
    work_factor = _scrypt_work_factor(parse_header(binary))
    if work_factor is None:
        raise AgeError("no match", "the file is not passphrase-encrypted")
    _check_work_factor(work_factor)
    try:
        plaintext: bytes = pyrage.passphrase.decrypt(binary, passphrase)
    except pyrage.DecryptError as exc:
        error = _age_error(exc)
        if error.kind == "no match":
            error = AgeError("no match", "wrong passphrase")
        raise error from None
    return plaintext


def encrypt(plaintext: bytes, recipients: Sequence[object], *, armored: bool = True) -> bytes:
    """Encrypt to recipients: all pyrage ones, or all sealer's own (`StanzaRecipient`).

    Armored (LF line ends) unless `armored` is False. As in age, every recipient must carry the
    same labels: post-quantum recipients are never mixed with classical ones.
    """
    if not recipients:
        raise IdentityError("there are no recipients to encrypt to",
                            hint="add a recipient (age1… or an SSH public key)")
    _check_labels(recipients)
    ours = [r for r in recipients if isinstance(r, StanzaRecipient)]
    if ours and len(ours) != len(recipients):
        raise IdentityError("these recipient types cannot share one age file in sealer")
    if not ours:
        binary = _pyrage_encrypt(plaintext, recipients)
    else:
        from .age import stream

        try:
            binary = stream.encrypt(plaintext, ours)
        except ValueError as exc:  # e.g. a low-order X25519 part in a hybrid recipient
            raise IdentityError(f"age encryption failed: {exc}") from None
    return armor(binary) if armored else binary


def _check_labels(recipients: Sequence[object]) -> None:
    labels = {r.labels if isinstance(r, StanzaRecipient) else frozenset() for r in recipients}
    if len(labels) < 2:
        return
    if len({"postquantum" in group for group in labels}) > 1:
        raise IdentityError(
            "post-quantum (age1pq1…) and classical recipients cannot be mixed: the file would be "
            "open to a future quantum computer through the classical ones",
            hint="encrypt to post-quantum recipients only, or to classical ones only")
    raise IdentityError("these recipients cannot be mixed in one age file")


def _pyrage_encrypt(plaintext: bytes, recipients: Sequence[object]) -> bytes:
    try:
        binary: bytes = pyrage.encrypt(plaintext, list(recipients))
    except pyrage.EncryptError as exc:
        raise IdentityError(f"age encryption failed: {exc}") from None
    return binary
