"""The age v1 file format (c2sp.org/age): armor, the header grammar, stanzas, errors.

Strict on purpose: the ASCII armor is RFC 7468 strict PEM with canonical base64, the header follows
the spec's ABNF (stanza bodies, final lines, the MAC line) and the `scrypt` stanza rules. Nothing
here holds a key; `sealer.age.stream` does the cryptography that every recipient type shares.
"""

from __future__ import annotations

import abc
import base64
import binascii
import re
from collections.abc import Sequence
from typing import NamedTuple

from ..errors import EXIT_INTEGRITY, EXIT_NO_IDENTITY, SealerError

__all__ = [
    "AGE_KINDS",
    "AgeError",
    "Header",
    "Stanza",
    "StanzaIdentity",
    "StanzaRecipient",
    "armor",
    "b64decode_raw",
    "b64encode_raw",
    "dearmor",
    "header_bytes",
    "is_armored",
    "mac_input",
    "parse_header",
    "to_binary",
]

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


class StanzaRecipient(abc.ABC):
    """A recipient type sealer implements itself (pyrage's recipients are opaque).

    `labels` follow age's RecipientWithLabels: every recipient of one file must have the same set
    (pyrage's have none), so a "postquantum" recipient is never mixed with a classical one.
    """

    __slots__ = ()
    labels: frozenset[str] = frozenset()

    @abc.abstractmethod
    def wrap(self, file_key: bytes) -> Stanza:
        """The stanza that carries `file_key` to this recipient."""


class StanzaIdentity(abc.ABC):
    """An identity type sealer implements itself."""

    __slots__ = ()

    @abc.abstractmethod
    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key from the first stanza of this type that opens, or None.

        Other stanza types are ignored; a malformed stanza of this type raises a header AgeError.
        """


# --- base64 -------------------------------------------------------------------------------------


def b64decode_raw(text: bytes) -> bytes | None:
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


def b64encode_raw(data: bytes) -> str:
    """Unpadded base64, as age's header writes it."""
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


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


def to_binary(data: bytes) -> bytes:
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
    body = b64decode_raw(b"".join(encoded))
    if body is None:
        raise _header_error("a stanza body is not canonical unpadded base64")
    return body, pos


def _parse_mac(line: bytes) -> bytes:
    mac = b64decode_raw(line[4:])
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
    salt = b64decode_raw(stanza.args[0].encode("ascii"))
    if salt is None or len(salt) != 16:
        raise _header_error("the scrypt salt is not 16 bytes of canonical base64")
    if _WORK_FACTOR.fullmatch(stanza.args[1]) is None:
        raise _header_error("the scrypt work factor is not a plain decimal number")
    if len(stanza.body) != 32:
        raise _header_error("the scrypt stanza body is not 32 bytes")


def header_bytes(stanzas: list[Stanza]) -> bytes:
    """The header as written, up to and including the `---` the MAC covers (no MAC, no LF)."""
    out = [VERSION_LINE]
    for stanza in stanzas:
        out.append(" ".join(["->", stanza.type, *stanza.args]).encode("ascii") + b"\n")
        encoded = b64encode_raw(stanza.body).encode("ascii")
        lines = [encoded[i : i + BODY_COLUMNS] for i in range(0, len(encoded), BODY_COLUMNS)]
        if not lines or len(lines[-1]) == BODY_COLUMNS:
            lines.append(b"")  # the body always ends with a line shorter than 64 columns
        out.extend(line + b"\n" for line in lines)
    out.append(b"---")
    return b"".join(out)


def mac_input(data: bytes, header: Header) -> bytes:
    """The bytes of a parsed binary file that its header MAC covers (up to `---`)."""
    return data[: header.payload_offset - MAC_LINE_LENGTH - 1 + len(b"---")]
