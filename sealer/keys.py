"""Recipients (public keys) and identities (private keys): parsing, and the mixing rule.

Recipients are age X25519 keys (`age1…`), age post-quantum hybrid keys (`age1pq1…`, ML-KEM-768 +
X25519) and SSH `ssh-ed25519` / `ssh-rsa` public keys. Identities come from age identity files (as
`age-keygen` or `age-keygen -pq` writes them, possibly passphrase-protected with `age -p`) and
OpenSSH or PEM private keys (possibly passphrase-protected). Messages name where a key came from
and never repeat key material.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import pyrage

from . import agefile
from .errors import IdentityError, SealerError, UsageError
from .fsio import read_bytes
from .kms import KIND as KMS_KIND
from .kms import is_arn, parse_arn

__all__ = [
    "POST_QUANTUM_KINDS",
    "Identity",
    "PassphraseUnavailable",
    "Prompt",
    "Recipient",
    "check_recipient_mix",
    "loose_permissions",
    "parse_identities",
    "parse_recipient",
    "read_recipients_file",
    "refuse_loose_permissions",
]

Prompt = Callable[[str], str]

MAX_KEY_FILE_BYTES = 1024 * 1024
SSH_KINDS = ("ssh-ed25519", "ssh-rsa")
POST_QUANTUM_KINDS = frozenset({"mlkem768x25519"})
_SSH_BLOB = re.compile(r"[a-z0-9@.-]+ AAAA")  # any OpenSSH public key line: "type base64…"
_PUBLIC_HINT = "give its public key instead: `age-keygen -y FILE` or `ssh-keygen -y -f FILE`"


class Recipient(NamedTuple):
    """A public key to encrypt to. `text` is canonical: lowercase `age1…`, or SSH, no comment."""

    text: str
    kind: str  # "x25519" | "mlkem768x25519" | "ssh-ed25519" | "ssh-rsa" | "aws-kms"
    native: object  # the pyrage recipient, a sealer.age.hybrid.HybridRecipient or a kms.KmsKey

    def __repr__(self) -> str:
        return f"Recipient({self.text!r}, {self.kind!r})"

    def __eq__(self, other: object) -> bool:  # the pyrage object has no equality of its own
        return isinstance(other, Recipient) and (self.text, self.kind) == (other.text, other.kind)

    def __hash__(self) -> int:
        return hash((self.text, self.kind))


class Identity(NamedTuple):
    """A private key. `recipient` is its public key in canonical form (a safe fingerprint)."""

    recipient: str
    kind: str
    native: object  # the pyrage identity or sealer.age.hybrid.HybridIdentity: never printed
    source: str

    def __repr__(self) -> str:
        return f"Identity({self.recipient!r}, {self.kind!r}, source={self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and (self.recipient, self.kind, self.source) == (
            other.recipient, other.kind, other.source)

    def __hash__(self) -> int:
        return hash((self.recipient, self.kind, self.source))


class PassphraseUnavailable(IdentityError):
    """A key is passphrase-protected and there is no way to ask for the passphrase."""


# --- recipients ---------------------------------------------------------------------------------


def _preview(text: str) -> str:
    return repr(text[:8] + "…") if len(text) > 8 else repr(text)


def _looks_private(text: str) -> bool:
    upper = text.upper()
    return "PRIVATE KEY" in upper or upper.startswith(("AGE-SECRET-KEY-", "AGE-PLUGIN-"))


def parse_recipient(text: str, *, source: str | None = None) -> Recipient:
    """Parse `age1…`, `age1pq1…`, `ssh-ed25519 AAAA… [comment]`, `ssh-rsa AAAA… [comment]` or an
    AWS KMS key or alias ARN (`arn:aws:kms:…`, sealer.kms)."""
    stripped = text.strip()
    if _looks_private(stripped):
        raise IdentityError("this looks like a private key, not a recipient; keep it secret",
                            file=source, hint=_PUBLIC_HINT)
    if stripped[:4].lower() == "age1":
        return _age_recipient(stripped, source)
    if stripped.startswith("ssh-") or _SSH_BLOB.match(stripped):
        return _ssh_recipient(stripped, source)
    if is_arn(stripped):
        return Recipient(stripped, KMS_KIND, parse_arn(stripped, source))
    what = f"not a recipient: {_preview(stripped)}" if stripped else "empty recipient"
    raise IdentityError(what, file=source, hint="use an age1… key, an SSH public key line or an "
                                               "AWS KMS key ARN (arn:aws:kms:…)")


def _age_recipient(text: str, source: str | None) -> Recipient:
    lowered = text.lower()
    hrp = lowered[: lowered.rfind("1")]
    if hrp == "age1pq":
        return _hybrid_recipient(text, source)
    if hrp != "age":
        raise IdentityError(_unsupported_age_type(hrp), file=source,
                            hint="use an age1… or age1pq1… recipient, or an SSH public key")
    try:
        if text not in (lowered, text.upper()):
            raise ValueError("mixed case")
        native = pyrage.x25519.Recipient.from_str(lowered)
    except (ValueError, pyrage.RecipientError):
        raise IdentityError(f"invalid age recipient {_preview(text)} (bad length or checksum)",
                            file=source, hint="copy the whole age1… key again") from None
    return Recipient(lowered, "x25519", native)


def _hybrid_recipient(text: str, source: str | None) -> Recipient:
    from .age.hybrid import HybridRecipient, MLKEMUnavailable  # only for post-quantum keys

    try:
        native = HybridRecipient.parse(text)
    except MLKEMUnavailable as exc:
        raise mlkem_unavailable(exc, source) from None
    except ValueError:
        raise IdentityError(f"invalid post-quantum age recipient {_preview(text)} (bad length or "
                            "checksum)", file=source,
                            hint="copy the whole age1pq1… key again (1,959 characters)"
                            ) from None
    return Recipient(str(native), "mlkem768x25519", native)


def mlkem_unavailable(exc: Exception, source: str | None) -> IdentityError:
    """This Python's `cryptography` cannot do ML-KEM, so post-quantum keys cannot be used."""
    return IdentityError(str(exc), file=source,
                         hint="upgrade it: pip install --upgrade 'cryptography>=48'")


def _unsupported_age_type(hrp: str) -> str:
    if hrp in ("age1tag", "age1tagpq"):
        return "hardware (tag) recipients are not supported yet"
    return f"age plugin recipients (age-plugin-{hrp[4:][:20]}) are not supported"


def _ssh_recipient(text: str, source: str | None) -> Recipient:
    parts = text.split()
    kind = parts[0]
    if kind not in SSH_KINDS:
        raise IdentityError(f"SSH key type {kind[:40]!r} cannot be used with age", file=source,
                            hint="use an ssh-ed25519 or ssh-rsa key")
    canonical = " ".join(parts[:2])
    try:
        native = pyrage.ssh.Recipient.from_str(canonical)
    except pyrage.RecipientError:
        raise IdentityError(f"invalid {kind} public key", file=source,
                            hint="copy the whole line of the .pub file again") from None
    return Recipient(canonical, kind, native)


def read_recipients_file(path: Path | str) -> list[Recipient]:
    """Read an age recipients file (`-R`): one recipient per line, `#` comments, blank lines."""
    text = _decode_text(read_key_file(Path(path), what="recipients file"), str(path))
    out: list[Recipient] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(parse_recipient(line, source=f"{path}:{number}"))
    if not out:
        raise IdentityError("no recipients in this file", file=str(path),
                            hint="add one age1… or SSH public key per line")
    return out


# --- reading key files --------------------------------------------------------------------------


def read_key_file(path: Path, *, what: str = "identity file", origin: str | None = None) -> bytes:
    """Read a key file; errors name the environment variable that pointed there, if any."""
    try:
        return read_bytes(path, limit=MAX_KEY_FILE_BYTES)
    except SealerError as exc:
        named = f" named by {origin}" if origin else ""
        raise IdentityError(f"cannot read the {what}{named}: {exc.message}", file=str(path),
                            hint=f"fix or unset {origin}" if origin else "check the path") from None


def loose_permissions(path: Path | str) -> bool:
    """Whether a key file is accessible by group or others (see refuse_loose_permissions)."""
    return _loose_mode(path) is not None


def _loose_mode(path: Path | str) -> int | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    mine = info.st_uid == os.geteuid()
    return mode if mine and stat.S_ISREG(info.st_mode) and mode & 0o077 else None


def refuse_loose_permissions(path: Path, *, what: str = "identity file",
                             origin: str | None = None) -> None:
    """Refuse a private key file that group or others may access, as OpenSSH does, for root too.

    Like OpenSSH, only a file of the user running sealer is judged (another user's file is not
    one they could chmod), and only a regular file (not a pipe such as `-i <(…)`).
    """
    mode = _loose_mode(path)
    if mode is not None:
        import shlex

        named = f" named by {origin}" if origin else ""
        raise IdentityError(f"permissions {mode:04o} are too open for the {what}{named}: a "
                            "private key must not be accessible by others", file=str(path),
                            hint=f"chmod 600 {shlex.quote(str(path))}")


def file_identities(
    path: Path, prompt: Prompt | None, origin: str | None = None
) -> list[Identity]:
    """The identities in an identity file (refused when others may read it)."""
    refuse_loose_permissions(path, origin=origin)
    data = read_key_file(path, origin=origin)
    return parse_identities(data, source=str(path), prompt=prompt)


def _decode_text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise IdentityError("not an age identity file or SSH key (not text)", file=source,
                            hint="pass an age identity file or an SSH private key") from None


def ask(prompt: Prompt | None, message: str, source: str) -> str:
    if prompt is None:
        raise PassphraseUnavailable(
            "is passphrase-protected and sealer cannot ask for the passphrase here",
            file=source, hint="run sealer in a terminal, or use an unprotected identity "
                              "(SEALER_IDENTITY or -i)")
    try:
        return prompt(message)
    except IdentityError as exc:
        exc.file = exc.file or source
        raise


# --- identities ---------------------------------------------------------------------------------


def parse_identities(data: bytes, *, source: str, prompt: Prompt | None) -> list[Identity]:
    """Identities in an age identity file, an SSH private key, or an `age -p` protected file.

    `source` (a path or variable name) is used in messages; `prompt(message)` asks for a
    passphrase when one is needed (None: fail with PassphraseUnavailable).
    """
    if data.startswith(agefile.MAGIC) or agefile.is_armored(data):
        return _protected_identities(data, source, prompt)
    text = _decode_text(data, source)
    if "PRIVATE KEY-----" in text:
        return [ssh_private_identity(data, source, prompt)]
    return _age_identities(text, source)


def ssh_passphrase(prompt: Prompt | None, source: str) -> Callable[[], str]:
    return lambda: ask(prompt, f"Enter passphrase for SSH key {source}: ", source)


def ssh_private_identity(data: bytes, source: str, prompt: Prompt | None) -> Identity:
    from .sshkeys import ssh_identity  # cryptography's SSH code only when needed

    public, kind, native = ssh_identity(data, source, ssh_passphrase(prompt, source))
    return Identity(public, kind, native, source)


def _age_identities(text: str, source: str) -> list[Identity]:
    out: list[Identity] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(_age_identity(line, number, source))
    if not out:
        raise IdentityError("no identities in it", file=source,
                            hint="an identity file has AGE-SECRET-KEY-1… lines (see age-keygen)")
    return out


def _age_identity(line: str, number: int, source: str) -> Identity:
    if line.startswith("AGE-SECRET-KEY-PQ-1"):
        return _hybrid_identity(line, number, source)
    if line.startswith("AGE-PLUGIN-"):
        raise IdentityError("age plugin identities are not supported", file=source)
    if not line.startswith("AGE-SECRET-KEY-1"):
        raise _not_an_identity(line, number, source)
    try:
        native = pyrage.x25519.Identity.from_str(line)
    except pyrage.IdentityError:
        raise IdentityError(f"line {number} is not a valid age secret key (bad checksum)",
                            file=source, hint="copy the whole AGE-SECRET-KEY-1… line") from None
    return Identity(str(native.to_public()), "x25519", native, source)


def _hybrid_identity(line: str, number: int, source: str) -> Identity:
    from .age.hybrid import HybridIdentity, MLKEMUnavailable

    try:
        native = HybridIdentity.parse(line)
    except MLKEMUnavailable as exc:
        raise mlkem_unavailable(exc, source) from None
    except ValueError:
        raise IdentityError(f"line {number} is not a valid post-quantum age secret key (bad "
                            "checksum)", file=source,
                            hint="copy the whole AGE-SECRET-KEY-PQ-1… line") from None
    return Identity(str(native.recipient()), "mlkem768x25519", native, source)


def _not_an_identity(line: str, number: int, source: str) -> IdentityError:
    if line.lower().startswith(("age1", "ssh-")):
        return IdentityError(f"line {number} is a public key (a recipient), not an identity",
                             file=source, hint="give the private key file here")
    return IdentityError(f"line {number} is not an age secret key", file=source,
                         hint="pass an age identity file (age-keygen) or an SSH private key")


def _protected_identities(data: bytes, source: str, prompt: Prompt | None) -> list[Identity]:
    """An identity file encrypted with `age -p`: ask for its passphrase and read what is inside."""
    try:
        protected = agefile.is_passphrase_encrypted(data)
    except agefile.AgeError as exc:
        raise IdentityError(f"not a valid age file: {exc.message}", file=source) from None
    if not protected:
        raise IdentityError("is an age file encrypted to a key, not with a passphrase",
                            file=source, hint="decrypt it first, or pass the identity itself")
    passphrase = ask(prompt, f"Enter passphrase for identity file {source}: ", source)
    try:
        plaintext = agefile.decrypt_with_passphrase(data, passphrase)
    except agefile.AgeError as exc:
        wrong = exc.kind == "no match"
        raise IdentityError("wrong passphrase" if wrong else exc.message, file=source,
                            hint=exc.hint) from None
    return parse_identities(plaintext, source=source, prompt=None)


# --- the mixing rule ----------------------------------------------------------------------------


def check_recipient_mix(recipients: Sequence[Recipient] | None, *, source: str | None = None
                        ) -> None:
    """Refuse recipients that mix post-quantum (age1pq1…) and classical keys.

    age refuses to encrypt one file to both. A sealed file holds one data key, wrapped once per
    recipient: a classical wrap would let a future quantum computer recover that key from the
    file (or its git history) and read every value, so the rule applies to the whole file.
    """
    # a KMS key wraps with AES-256 inside KMS: neither classical nor post-quantum public-key
    kinds = [r.kind in POST_QUANTUM_KINDS for r in recipients or () if r.kind != KMS_KIND]
    if all(kinds) or not any(kinds):
        return
    classical = len(kinds) - sum(kinds)
    file = source or "FILE"
    raise UsageError(
        f"cannot seal for both post-quantum (age1pq1…) and classical recipients ({sum(kinds)} "
        f"post-quantum, {classical} classical): the classical keys would leave every value open "
        "to a future quantum computer", file=source,
        hint="give each reader a post-quantum key (`sealer keygen --pq`) and seal for those only; "
             f"sealing for the new set replaces the data key: `sealer unseal {file} | "
             f"sealer seal - -o {file} -R pq-recipients.txt`")
