"""The age file format (c2sp.org/age): strict armor and header checks in front of pyrage.

pyrage (rage) does the cryptography. This module checks what it would accept too loosely, before it
sees a byte: the ASCII armor (strict PEM, canonical base64), the header grammar (stanza bodies,
final lines, the MAC line), the `scrypt` stanza rules and a cap on the scrypt work factor, so a
hostile file cannot make sealer spend gigabytes of memory. Decryption is all or nothing: the
plaintext is returned only once the whole payload has been authenticated.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import pyrage

from .errors import (
    EXIT_INTEGRITY,
    EXIT_NO_IDENTITY,
    ConfigError,
    IdentityError,
    SealerError,
)

__all__ = [
    "AGE_KINDS",
    "MAX_SCRYPT_WORK_FACTOR",
    "AgeError",
    "Header",
    "Stanza",
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
AGE_KINDS = ("armor", "header", "hmac", "payload", "no match")

MAGIC = b"age-encryption.org/"
VERSION_LINE = b"age-encryption.org/v1\n"
ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = b"-----END AGE ENCRYPTED FILE-----"
ARMOR_COLUMNS = 64
BODY_COLUMNS = 64
MAC_LENGTH = 32
MAC_LINE_LENGTH = len(b"--- ") + 43
NONCE_LENGTH = 16
_OUTSIDE_WHITESPACE = b" \t\r\n"
_BASE64_CHARS = re.compile(rb"[A-Za-z0-9+/]*")
_ARMOR_CHARS = re.compile(rb"[A-Za-z0-9+/=]+")
_WORK_FACTOR = re.compile(r"[1-9][0-9]*")
_CAP_VALUE = re.compile(r"[0-9]{1,2}")


class AgeError(SealerError):
    """An age file could not be decrypted. `kind` is the layer that failed (see AGE_KINDS)."""

    def __init__(
        self, kind: str, message: str, *, file: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, file=file, hint=hint)
        if kind not in AGE_KINDS:
            raise ValueError(f"unknown age error kind {kind!r}")
        self.kind = kind
        self.exit_code = EXIT_NO_IDENTITY if kind == "no match" else EXIT_INTEGRITY


class Stanza(NamedTuple):
    """One recipient stanza: `-> type args…` and its decoded body."""

    type: str
    args: list[str]
    body: bytes


class Header(NamedTuple):
    """A parsed v1 header. `payload_offset` is where the payload (its nonce first) starts."""

    stanzas: list[Stanza]
    mac: bytes
    payload_offset: int


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


# --- base64 -------------------------------------------------------------------------------------


def _b64decode_raw(text: bytes) -> bytes | None:
    """Canonical unpadded base64 (age's header encoding), or None."""
    if _BASE64_CHARS.fullmatch(text) is None or len(text) % 4 == 1:
        return None
    decoded = binascii.a2b_base64(text + b"=" * (-len(text) % 4))
    if base64.b64encode(decoded).rstrip(b"=") != text:
        return None
    return decoded


def _b64decode_padded(text: bytes) -> bytes | None:
    """Canonical padded base64 (the armor encoding), or None."""
    if len(text) % 4:
        return None
    try:
        decoded = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return decoded if base64.b64encode(decoded) == text else None


# --- armor --------------------------------------------------------------------------------------


def is_armored(data: bytes) -> bool:
    """Whether `data` looks like an armored age file (its BEGIN line, after any whitespace)."""
    return data.lstrip(_OUTSIDE_WHITESPACE).startswith(ARMOR_BEGIN)


def armor(data: bytes) -> bytes:
    """ASCII-armor an age file: 64-column base64 lines, LF line ends, a trailing newline."""
    encoded = base64.b64encode(data)
    lines = [encoded[i : i + ARMOR_COLUMNS] for i in range(0, len(encoded), ARMOR_COLUMNS)]
    return b"\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + b"\n"


def _armor_error(message: str) -> AgeError:
    return AgeError("armor", f"invalid age armor: {message}")


def _armor_lines(data: bytes) -> list[bytes]:
    """The base64 lines between BEGIN and END; whitespace is allowed only outside them."""
    text = data.strip(_OUTSIDE_WHITESPACE)
    if not text.startswith(ARMOR_BEGIN):
        raise AgeError("armor", "not an age file: it starts with neither the age header "
                                "nor '-----BEGIN AGE ENCRYPTED FILE-----'")
    rest = text[len(ARMOR_BEGIN) :]
    eol = b"\r\n" if rest.startswith(b"\r\n") else b"\n"
    lines = text.split(eol)
    if lines[0] != ARMOR_BEGIN:
        raise _armor_error("the BEGIN line is malformed")
    if lines[-1] != ARMOR_END:
        found = ARMOR_END in lines
        raise _armor_error("data after the END line" if found else "the END line is missing")
    return lines[1:-1]


def _check_armor_line(line: bytes, last: bool) -> None:
    if not line:
        raise _armor_error("empty line inside the armor")
    if _ARMOR_CHARS.fullmatch(line) is None:
        raise _armor_error("a line has characters that are not base64")
    if len(line) > ARMOR_COLUMNS:
        raise _armor_error(f"a line is longer than {ARMOR_COLUMNS} columns")
    if not last and len(line) != ARMOR_COLUMNS:
        raise _armor_error(f"a line before the last is shorter than {ARMOR_COLUMNS} columns")


def dearmor(data: bytes) -> bytes:
    """Decode age's ASCII armor strictly (RFC 7468 strict PEM, canonical padded base64).

    Accepts LF or CRLF line ends (one style throughout) and whitespace before BEGIN and after END.
    """
    lines = _armor_lines(data)
    for number, line in enumerate(lines, start=1):
        _check_armor_line(line, last=number == len(lines))
    decoded = _b64decode_padded(b"".join(lines))
    if decoded is None:
        raise _armor_error("the base64 is not canonical or its padding is wrong")
    return decoded


def _binary(data: bytes) -> bytes:
    """Binary age files start with the version line; anything else must be armor."""
    if not data or data.startswith(MAGIC):
        return data
    return dearmor(data)


# --- header -------------------------------------------------------------------------------------


def _header_error(message: str) -> AgeError:
    return AgeError("header", f"malformed age header: {message}")


def _next_line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        raise _header_error("it is truncated")
    line = data[pos:end]
    if b"\r" in line:
        raise _header_error("header lines must end with LF, not CRLF")
    return line, end + 1


def _parse_arguments(line: bytes) -> list[str]:
    args = line.split(b" ")
    for arg in args:
        if not arg or any(byte < 0x21 or byte > 0x7E for byte in arg):
            raise _header_error("a stanza argument is empty or has invalid characters")
    return [arg.decode("ascii") for arg in args]


def _parse_body(data: bytes, pos: int) -> tuple[bytes, int]:
    """Body lines: full 64-column lines, then one mandatory shorter (possibly empty) line."""
    encoded: list[bytes] = []
    while True:
        line, pos = _next_line(data, pos)
        if line.startswith((b"-> ", b"---")):
            raise _header_error("a stanza body is missing its final short line")
        if len(line) > BODY_COLUMNS or _BASE64_CHARS.fullmatch(line) is None:
            raise _header_error("a stanza body line is not base64 wrapped at 64 columns")
        encoded.append(line)
        if len(line) < BODY_COLUMNS:
            break
    body = _b64decode_raw(b"".join(encoded))
    if body is None:
        raise _header_error("a stanza body is not canonical unpadded base64")
    return body, pos


def _parse_mac(line: bytes) -> bytes:
    mac = _b64decode_raw(line[4:])
    if mac is None or len(mac) != MAC_LENGTH or len(line) != MAC_LINE_LENGTH:
        raise _header_error("the MAC line is malformed")
    return mac


def _check_version(data: bytes) -> None:
    if not data:
        raise _header_error("the file is empty")
    if not data.startswith(MAGIC):
        raise _header_error("not an age file")
    if data.startswith(VERSION_LINE[:-1] + b"\r\n"):
        raise _header_error("header lines must end with LF, not CRLF")
    if not data.startswith(VERSION_LINE):
        raise _header_error("unsupported age version (sealer reads age-encryption.org/v1)")


def parse_header(data: bytes) -> Header:
    """Parse a binary v1 header strictly, per the spec's ABNF plus the scrypt stanza rules.

    Also checks that the payload nonce follows the header.
    """
    _check_version(data)
    pos = len(VERSION_LINE)
    stanzas: list[Stanza] = []
    while True:
        line, pos = _next_line(data, pos)
        if line.startswith(b"--- "):
            mac = _parse_mac(line)
            break
        if not line.startswith(b"-> "):
            raise _header_error("expected a '-> ' stanza or the '--- ' MAC line")
        args = _parse_arguments(line[3:])
        body, pos = _parse_body(data, pos)
        stanzas.append(Stanza(args[0], args[1:], body))
    if not stanzas:
        raise _header_error("it has no recipient stanzas")
    if len(data) - pos < NONCE_LENGTH:
        raise _header_error("the file ends before the payload nonce")
    _check_scrypt(stanzas)
    return Header(stanzas, mac, pos)


def _check_scrypt(stanzas: list[Stanza]) -> None:
    """scrypt stanzas: alone in the header, a 16-byte salt, a plain decimal work factor."""
    scrypt = [stanza for stanza in stanzas if stanza.type == "scrypt"]
    if not scrypt:
        return
    if len(stanzas) != 1:
        raise _header_error("an scrypt stanza must be the only stanza")
    stanza = scrypt[0]
    if len(stanza.args) != 2:
        raise _header_error("an scrypt stanza must have a salt and a work factor")
    salt = _b64decode_raw(stanza.args[0].encode("ascii"))
    if salt is None or len(salt) != 16:
        raise _header_error("the scrypt salt is not 16 bytes of canonical base64")
    if _WORK_FACTOR.fullmatch(stanza.args[1]) is None:
        raise _header_error("the scrypt work factor is not a plain decimal number")
    if len(stanza.body) != 32:
        raise _header_error("the scrypt stanza body is not 32 bytes")


def is_passphrase_encrypted(data: bytes) -> bool:
    """Whether a (binary or armored) age file is encrypted with a passphrase (`age -p`)."""
    return _scrypt_work_factor(parse_header(_binary(data))) is not None


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


def decrypt(data: bytes, identities: Sequence[object]) -> bytes:
    """Decrypt a binary or armored age file with identities (pyrage x25519/ssh identities).

    The header is checked strictly first. Passphrase-encrypted (scrypt) files are refused here;
    use decrypt_with_passphrase for those.
    """
    binary = _binary(data)
    header = parse_header(binary)
    if _scrypt_work_factor(header) is not None:
        raise AgeError("no match", "the file is passphrase-encrypted, not encrypted to a key",
                       hint="it needs a passphrase, not an identity")
    if not identities:
        raise AgeError("no match", "there are no identities to try")
    try:
        plaintext: bytes = pyrage.decrypt(binary, list(identities))
    except pyrage.DecryptError as exc:
        raise _age_error(exc) from None
    return plaintext


def decrypt_with_passphrase(data: bytes, passphrase: str) -> bytes:
    """Decrypt a passphrase-encrypted (`age -p`) file, refusing work factors above the cap."""
    binary = _binary(data)
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
    """Encrypt to pyrage recipients; armored (LF line ends) unless `armored` is False."""
    if not recipients:
        raise IdentityError("there are no recipients to encrypt to",
                            hint="add a recipient (age1… or an SSH public key)")
    try:
        binary: bytes = pyrage.encrypt(plaintext, list(recipients))
    except pyrage.EncryptError as exc:
        raise IdentityError(f"age encryption failed: {exc}") from None
    return armor(binary) if armored else binary
