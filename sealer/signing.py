"""Signed seals (docs/FORMAT.md §11, docs/SIGNING.md): SSH signatures in OpenSSH's SSHSIG format
over the content the MAC covers, a trust list in git's `allowed_signers` format, and the one
check every reader applies when a trust anchor is configured.

A signature needs no decryption key to verify: it says who wrote the file, not who may read it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .environ import SIGNING_KEY_VARIABLE
from .errors import ConfigError, IntegrityError

if TYPE_CHECKING:
    from .document import SealedDocument
    from .keys import Prompt

__all__ = [
    "NAMESPACE",
    "SIGNATURE_FORMAT",
    "Signature",
    "SignatureError",
    "SigningKey",
    "TrustedSigner",
    "enforce_trust",
    "load_signing_key",
    "parse_allowed_signers",
    "sign",
    "sign_document",
    "signed_message",
    "signer_of",
    "trusted_signers_from_env",
    "verify",
]

NAMESPACE = "sealer"
SIGNATURE_FORMAT = "sshsig"
MESSAGE_PREFIX = b"sealer signature v1\x00"
SIGNING_KEY_ENV = SIGNING_KEY_VARIABLE
TRUSTED_SIGNERS_ENV = "SEALER_TRUSTED_SIGNERS"
_MAGIC = b"SSHSIG"
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")


class SignatureError(IntegrityError):
    """A signature is missing, malformed, invalid or by a key that is not trusted."""


class Signature(NamedTuple):
    """One entry of a sealed file's `signatures` list."""

    signer: str  # "ssh-ed25519 AAAA…", no comment
    format: str
    signature: str  # armored SSHSIG

    def as_tree(self) -> dict[str, str]:
        return {"signer": self.signer, "format": self.format, "signature": self.signature}


class TrustedSigner(NamedTuple):
    """One line of an allowed_signers file."""

    principals: tuple[str, ...]
    key: str  # "ssh-ed25519 AAAA…"
    namespaces: tuple[str, ...] | None  # None: any namespace
    valid_after: str = ""  # YYYYMMDDHHMMSS (UTC) or ""
    valid_before: str = ""

    def allows(self, namespace: str, now: datetime | None = None) -> bool:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
        return ((self.namespaces is None or namespace in self.namespaces)
                and (not self.valid_after or stamp >= self.valid_after)
                and (not self.valid_before or stamp < self.valid_before))


# -- SSH wire encoding -----------------------------------------------------------------------


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.raw(4))[0]
        return value

    def string(self) -> bytes:
        return self.raw(self.u32())

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ValueError("trailing bytes")


def _signed_blob(namespace: str, hash_alg: str, message: bytes) -> bytes:
    digest = _HASHES[hash_alg](message).digest()
    return (_MAGIC + _string(namespace.encode()) + _string(b"") + _string(hash_alg.encode())
            + _string(digest))


def _armor(blob: bytes) -> str:
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def _dearmor(armored: str) -> bytes:
    lines = [line.strip() for line in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _BEGIN or lines[-1] != _END:
        raise ValueError("not an armored SSH signature")
    return base64.b64decode("".join(lines[1:-1]), validate=True)


# -- keys ------------------------------------------------------------------------------------


def public_key_text(blob: bytes) -> str:
    """`type base64` for a public key blob (the form used in `signer` and allowed_signers)."""
    kind = _Reader(blob).string().decode("ascii", "replace")
    return f"{kind} {base64.b64encode(blob).decode('ascii')}"


def _key_blob(text: str) -> bytes:
    parts = text.split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise ValueError("unsupported key type")
    blob = base64.b64decode(parts[1], validate=True)
    if _Reader(blob).string().decode("ascii", "replace") != parts[0]:
        raise ValueError("key type mismatch")
    return blob


def canonical_key(text: str) -> str | None:
    """`type base64` without comment, or None when `text` is not an SSH ed25519/RSA key."""
    try:
        return public_key_text(_key_blob(text))
    except (ValueError, binascii.Error):
        return None


def _load_private(path: Path, prompt: Prompt | None) -> Any:
    from .fsio import read_bytes
    from .keys import refuse_loose_permissions, ssh_passphrase
    from .sshkeys import load_ssh_key

    refuse_loose_permissions(path, what="signing key")
    try:
        return load_ssh_key(read_bytes(path), str(path), ssh_passphrase(prompt, str(path)))
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key: {exc.strerror}", file=str(path),
                          hint=f"check ${SIGNING_KEY_ENV} or --sign-with") from None


# -- sign and verify -------------------------------------------------------------------------


class SigningKey:
    """A private signing key loaded once (a passphrase is asked at most once per command)."""

    def __init__(self, key: Any, source: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise ConfigError("this key type cannot sign sealed files", file=source,
                              hint="use an ssh-ed25519 or ssh-rsa key")
        self._key = key
        self.source = source
        public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
        self.public_blob = base64.b64decode(public.split()[1])
        self.public = public_key_text(self.public_blob)  # canonical `type base64`

    def sign(self, message: bytes, *, namespace: str = NAMESPACE) -> str:
        """An armored SSHSIG signature of `message` (what `ssh-keygen -Y sign` makes)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ed25519, padding

        blob = _signed_blob(namespace, "sha512", message)
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            signature = _string(b"ssh-ed25519") + _string(self._key.sign(blob))
        else:
            raw = self._key.sign(blob, padding.PKCS1v15(), hashes.SHA512())
            signature = _string(b"rsa-sha2-512") + _string(raw)
        return _armor(_MAGIC + struct.pack(">I", 1) + _string(self.public_blob) + _string(
            namespace.encode()) + _string(b"") + _string(b"sha512") + _string(signature))


def load_signing_key(path: Path, *, prompt: Prompt | None = None) -> SigningKey:
    return SigningKey(_load_private(path, prompt), str(path))


def sign(message: bytes, private_key_file: Path, *, namespace: str = NAMESPACE,
         prompt: Prompt | None = None) -> str:
    """An armored SSHSIG signature of `message` (what `ssh-keygen -Y sign -n NAMESPACE` makes)."""
    return load_signing_key(private_key_file, prompt=prompt).sign(message, namespace=namespace)


def verify(message: bytes, armored: str, *, namespace: str = NAMESPACE,
           source: str | None = None) -> str:
    """The signer's public key (`type base64`) if `armored` is a valid signature of `message`."""
    try:
        return _verify(message, armored, namespace)
    except Exception:
        raise SignatureError("signature verification failed", file=source,
                             hint="the file was changed after it was signed, or the signature "
                                  "is damaged; re-sign it with SEALER_SIGNING_KEY") from None


def _verify(message: bytes, armored: str, namespace: str) -> str:
    reader = _Reader(_dearmor(armored))
    if reader.raw(6) != _MAGIC or reader.u32() != 1:
        raise ValueError("not SSHSIG v1")
    public_blob, ns, _reserved = reader.string(), reader.string(), reader.string()
    hash_alg, signature = reader.string().decode("ascii"), reader.string()
    reader.done()
    if ns != namespace.encode() or hash_alg not in _HASHES:
        raise ValueError("wrong namespace or hash")
    _check(public_blob, signature, _signed_blob(namespace, hash_alg, message))
    return public_key_text(public_blob)


def _check(public_blob: bytes, signature: bytes, blob: bytes) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    key = load_ssh_public_key(public_key_text(public_blob).encode("ascii"))
    sig = _Reader(signature)
    kind, raw = sig.string(), sig.string()
    sig.done()
    if isinstance(key, ed25519.Ed25519PublicKey) and kind == b"ssh-ed25519":
        key.verify(raw, blob)
    elif isinstance(key, rsa.RSAPublicKey) and kind in (b"rsa-sha2-512", b"rsa-sha2-256"):
        algorithm = hashes.SHA512() if kind == b"rsa-sha2-512" else hashes.SHA256()
        key.verify(raw, blob, padding.PKCS1v15(), algorithm)
    else:
        raise ValueError("unsupported signature algorithm")


# -- sealed documents ------------------------------------------------------------------------


def signed_message(document: SealedDocument) -> bytes:
    """What a signature covers: the MAC's content (FORMAT.md §11)."""
    from .envelope import canonical

    return MESSAGE_PREFIX + canonical(document.authenticated_tree())


def signer_of(document: SealedDocument, entry: Signature) -> str:
    """The verified signer key of one entry (SignatureError when it does not verify)."""
    key = verify(signed_message(document), entry.signature, source=document.source)
    if entry.format != SIGNATURE_FORMAT or canonical_key(entry.signer) != key:
        raise SignatureError("signature verification failed", file=document.source)
    return key


def sign_document(document: SealedDocument, key: SigningKey | Path, *,
                  prompt: Prompt | None = None) -> None:
    """Add (or replace) this key's signature; signatures by others are dropped unless they still
    verify."""
    if not isinstance(key, SigningKey):
        key = load_signing_key(key, prompt=prompt)
    armored = key.sign(signed_message(document))
    kept = [s for s in document.signatures if canonical_key(s.signer) != key.public
            and _still_valid(document, s)]
    document.signatures = sorted([*kept, Signature(key.public, SIGNATURE_FORMAT, armored)],
                                 key=lambda s: s.signer)


def _still_valid(document: SealedDocument, entry: Signature) -> bool:
    try:
        signer_of(document, entry)
    except SignatureError:
        return False
    return True


def signing_key_from_env(env: Mapping[str, str] = os.environ) -> Path | None:
    value = env.get(SIGNING_KEY_ENV)
    return Path(value) if value else None


# -- trust -----------------------------------------------------------------------------------


def parse_allowed_signers(text: str, *, source: str) -> list[TrustedSigner]:
    """git's / OpenSSH's allowed_signers format: `principals [options] keytype base64 [comment]`."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(_allowed_line(line, f"{source}:{number}"))
    return out


def _allowed_line(line: str, where: str) -> TrustedSigner:
    fields = line.split()
    principals = tuple(p for p in fields[0].split(",") if p)
    rest = fields[1:]
    options = {} if rest and rest[0] in _KEY_TYPES else _options(rest.pop(0) if rest else "")
    if "cert-authority" in options:
        raise ConfigError("cert-authority lines are not supported", file=where,
                          hint="list each signer's own public key instead")
    key = canonical_key(" ".join(rest[:2]))
    if not principals or key is None:
        raise ConfigError("expected `principals [options] ssh-ed25519|ssh-rsa KEY`", file=where)
    namespaces = options.get("namespaces")
    after, before = _window(options, where)
    return TrustedSigner(principals, key, tuple(namespaces.split(",")) if namespaces else None,
                         after, before)


def _options(text: str) -> dict[str, str]:
    """`name[="value"]` options separated by commas outside quotes."""
    out = {}
    for option in re.findall(r'(?:[^,"]|"[^"]*")+', text):
        name, _, value = option.partition("=")
        out[name.lower()] = value.strip('"')
    return out


def _window(options: dict[str, str], where: str) -> tuple[str, str]:
    """valid-after / valid-before as comparable `YYYYMMDDHHMMSS` strings (UTC)."""
    out = []
    for name, pad in (("valid-after", "0"), ("valid-before", "9")):
        value = options.get(name, "").rstrip("Zz")
        if value and not re.fullmatch(r"[0-9]{8}(?:[0-9]{4}(?:[0-9]{2})?)?", value):
            raise ConfigError(f"{name} must be YYYYMMDD[HHMM[SS]]", file=where)
        out.append(value.ljust(14, pad) if value else "")
    return out[0], out[1]


def read_trusted_signers(path: Path) -> list[TrustedSigner]:
    from .fsio import read_bytes

    try:
        text = read_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the trusted signers file: {exc}", file=str(path),
                          hint=f"check ${TRUSTED_SIGNERS_ENV} or --trusted-signers") from None
    return parse_allowed_signers(text, source=str(path))


def trusted_signers_from_env(env: Mapping[str, str] = os.environ) -> list[TrustedSigner] | None:
    """The deploy-time trust anchor from $SEALER_TRUSTED_SIGNERS, or None when not set."""
    value = env.get(TRUSTED_SIGNERS_ENV)
    return read_trusted_signers(Path(value)) if value else None


def valid_signers(document: SealedDocument) -> tuple[list[str], int]:
    """(verified signer keys, number of signatures that did not verify)."""
    keys, bad = [], 0
    for entry in document.signatures:
        try:
            keys.append(signer_of(document, entry))
        except SignatureError:
            bad += 1
    return keys, bad


def enforce_trust(document: SealedDocument,
                  trusted: Sequence[TrustedSigner] | None = None) -> None:
    """Refuse a document without a valid signature by a trusted key (when a trust anchor is
    configured: `trusted`, or $SEALER_TRUSTED_SIGNERS)."""
    if trusted is None:
        trusted = trusted_signers_from_env()
        if trusted is None:
            return
    allowed = {t.key: t for t in trusted if t.allows(NAMESPACE)}
    keys, _bad = valid_signers(document)
    if any(k in allowed for k in keys):
        return
    expected = _names(allowed.values())
    if not document.signatures:
        raise SignatureError("is not signed; signatures are required here",
                             file=document.source, hint=f"expected a signature by {expected}")
    found = ", ".join(short_key(k) for k in keys) or "no valid signature"
    raise SignatureError(f"not signed by a trusted key (found: {found})",
                         file=document.source, hint=f"expected a signature by {expected}")


def _names(signers: Iterable[TrustedSigner]) -> str:
    names = sorted({p for s in signers for p in s.principals})
    return ", ".join(names) or "(nobody: the trusted signers list is empty)"


def short_key(key: str) -> str:
    kind, _, body = key.partition(" ")
    return f"{kind} {body[:16]}…"


def signing_keygen(path: Path, *, comment: str = "sealer signing key") -> str:
    """sealer's own signing key: a new Ed25519 key in OpenSSH format, mode 0600, never
    overwritten (so ssh-keygen -Y and git's allowed_signers work with it too). Returns the
    public key line for allowed_signers and sealer.yaml."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    from .fsio import create_private_file

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    create_private_file(path, private)
    return f"{public} {comment}"


def enforce_required(document: SealedDocument, allowed: set[str] | frozenset[str],
                     names: Sequence[str]) -> None:
    """Without a deploy-time trust anchor, still refuse an unsigned file whose environment
    sets require_signature: it needs a valid signature by one of that environment's signers
    (`allowed` keys, `names` for the message; config.required_signer_keys gives both)."""
    keys, _bad = valid_signers(document)
    if not any(k in allowed for k in keys):
        what = "is not signed" if not document.signatures else "is not signed by its signers"
        raise SignatureError(f"{what}; its environment requires a signature",
                             file=document.source,
                             hint=f"expected a signature by {', '.join(names) or 'nobody'} "
                                  "(re-sign it: SEALER_SIGNING_KEY=KEY sealer sign FILE)")
