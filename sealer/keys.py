"""Recipients (public keys) and identities (private keys): parsing, discovery and generation.

Recipients are age X25519 keys (`age1…`) and SSH `ssh-ed25519` / `ssh-rsa` public keys. Identities
come from age identity files (as `age-keygen` writes them, possibly passphrase-protected with
`age -p`) and OpenSSH or PEM private keys (possibly passphrase-protected). Messages name where a key
came from and never repeat key material.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyrage
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_ssh_private_key,
)

from . import agefile
from .errors import IdentityError, SealerError
from .fsio import create_private_file, read_bytes

__all__ = [
    "Identity",
    "PassphraseUnavailable",
    "Prompt",
    "Recipient",
    "default_identity_path",
    "discover_identities",
    "identity_search_hint",
    "keygen",
    "loose_permissions",
    "parse_identities",
    "parse_recipient",
    "read_recipients_file",
    "tty_prompt",
]

Prompt = Callable[[str], str]

MAX_KEY_FILE_BYTES = 1024 * 1024
SSH_KINDS = ("ssh-ed25519", "ssh-rsa")
_ENV_SOURCES = (  # (variable, holds a path), in discovery order
    ("SEALER_IDENTITY", False),
    ("SEALER_IDENTITY_FILE", True),
    ("SOPS_AGE_KEY", False),
    ("SOPS_AGE_KEY_FILE", True),
)
_SSH_DEFAULTS = ("id_ed25519", "id_rsa")
_SSH_BLOB = re.compile(r"[a-z0-9@.-]+ AAAA")  # any OpenSSH public key line: "type base64…"
_PUBLIC_HINT = "give its public key instead: `age-keygen -y FILE` or `ssh-keygen -y -f FILE`"


@dataclass(frozen=True)
class Recipient:
    """A public key to encrypt to. `text` is canonical: lowercase `age1…`, or SSH, no comment."""

    text: str
    kind: str  # "x25519" | "ssh-ed25519" | "ssh-rsa"
    native: object = field(repr=False, compare=False)


@dataclass(frozen=True)
class Identity:
    """A private key. `recipient` is its public key in canonical form (a safe fingerprint)."""

    recipient: str
    kind: str
    native: object = field(repr=False, compare=False)
    source: str


class PassphraseUnavailable(IdentityError):
    """A key is passphrase-protected and there is no way to ask for the passphrase."""


# --- recipients ---------------------------------------------------------------------------------


def _preview(text: str) -> str:
    return repr(text[:8] + "…") if len(text) > 8 else repr(text)


def _looks_private(text: str) -> bool:
    upper = text.upper()
    return "PRIVATE KEY" in upper or upper.startswith(("AGE-SECRET-KEY-", "AGE-PLUGIN-"))


def parse_recipient(text: str, *, source: str | None = None) -> Recipient:
    """Parse `age1…`, `ssh-ed25519 AAAA… [comment]` or `ssh-rsa AAAA… [comment]`."""
    stripped = text.strip()
    if _looks_private(stripped):
        raise IdentityError("this looks like a private key, not a recipient; keep it secret",
                            file=source, hint=_PUBLIC_HINT)
    if stripped[:4].lower() == "age1":
        return _age_recipient(stripped, source)
    if stripped.startswith("ssh-") or _SSH_BLOB.match(stripped):
        return _ssh_recipient(stripped, source)
    what = f"not a recipient: {_preview(stripped)}" if stripped else "empty recipient"
    raise IdentityError(what, file=source, hint="use an age1… key or an SSH public key line")


def _age_recipient(text: str, source: str | None) -> Recipient:
    lowered = text.lower()
    hrp = lowered[: lowered.rfind("1")]
    if hrp != "age":
        raise IdentityError(_unsupported_age_type(hrp), file=source,
                            hint="use an X25519 recipient (age1…) or an SSH public key")
    try:
        if text not in (lowered, text.upper()):
            raise ValueError("mixed case")
        native = pyrage.x25519.Recipient.from_str(lowered)
    except (ValueError, pyrage.RecipientError):
        raise IdentityError(f"invalid age recipient {_preview(text)} (bad length or checksum)",
                            file=source, hint="copy the whole age1… key again") from None
    return Recipient(lowered, "x25519", native)


def _unsupported_age_type(hrp: str) -> str:
    if hrp in ("age1pq", "age1tagpq"):
        return "post-quantum recipients are not supported yet"
    if hrp == "age1tag":
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
    text = _decode_text(_read_key_file(Path(path), what="recipients file"), str(path))
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


def _read_key_file(path: Path, *, what: str = "identity file", origin: str | None = None) -> bytes:
    """Read a key file; errors name the environment variable that pointed there, if any."""
    try:
        return read_bytes(path, limit=MAX_KEY_FILE_BYTES)
    except SealerError as exc:
        named = f" named by {origin}" if origin else ""
        raise IdentityError(f"cannot read the {what}{named}: {exc.message}", file=str(path),
                            hint=f"fix or unset {origin}" if origin else "check the path") from None


def _file_identities(
    path: Path, prompt: Prompt | None, origin: str | None = None
) -> list[Identity]:
    data = _read_key_file(path, origin=origin)
    return parse_identities(data, source=str(path), prompt=prompt)


def _decode_text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise IdentityError("not an age identity file or SSH key (not text)", file=source,
                            hint="pass an age identity file or an SSH private key") from None


def _ask(prompt: Prompt | None, message: str, source: str) -> str:
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
        return [_ssh_identity(data, source, prompt)]
    return _age_identities(text, source)


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
        raise IdentityError("post-quantum identities are not supported yet", file=source,
                            hint="use an X25519 identity (AGE-SECRET-KEY-1…) for now")
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
    passphrase = _ask(prompt, f"Enter passphrase for identity file {source}: ", source)
    try:
        plaintext = agefile.decrypt_with_passphrase(data, passphrase)
    except agefile.AgeError as exc:
        wrong = exc.kind == "no match"
        raise IdentityError("wrong passphrase" if wrong else exc.message, file=source,
                            hint=exc.hint) from None
    return parse_identities(plaintext, source=source, prompt=None)


# --- SSH identities -----------------------------------------------------------------------------


def _ssh_identity(data: bytes, source: str, prompt: Prompt | None) -> Identity:
    """An SSH private key, decrypted here if needed; pyrage gets an unprotected in-memory copy."""
    key = _load_ssh_key(data, source, prompt)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        kind = "ssh-ed25519"
    elif isinstance(key, rsa.RSAPrivateKey):
        kind = "ssh-rsa"
    else:
        raise IdentityError("this SSH key type cannot be used with age", file=source,
                            hint="use an ed25519 or RSA key")
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    unprotected = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    try:
        native = pyrage.ssh.Identity.from_buffer(unprotected)
    except pyrage.IdentityError:
        raise IdentityError("age cannot use this SSH key", file=source) from None
    return Identity(public.decode("ascii"), kind, native, source)


def _ssh_loader(data: bytes) -> Callable[[bytes, bytes | None], object]:
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return load_ssh_private_key
    return load_pem_private_key


def _load_ssh_key(data: bytes, source: str, prompt: Prompt | None) -> object:
    loader = _ssh_loader(data)
    try:
        return loader(data, None)
    except TypeError:  # protected: it needs a passphrase
        pass
    except (ValueError, UnsupportedAlgorithm):
        raise IdentityError("cannot read this SSH private key (damaged or unsupported)",
                            file=source, hint="check it with `ssh-keygen -y -f FILE`") from None
    passphrase = _ask(prompt, f"Enter passphrase for SSH key {source}: ", source)
    try:
        return loader(data, passphrase.encode("utf-8"))
    except ValueError:
        raise IdentityError("wrong passphrase for this SSH key", file=source) from None
    except UnsupportedAlgorithm:
        raise IdentityError("reading passphrase-protected SSH keys needs the bcrypt package",
                            file=source, hint="pip install bcrypt") from None


# --- discovery ----------------------------------------------------------------------------------


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME", "")
    return Path(home) if home else Path.home()


def default_identity_path(env: Mapping[str, str] = os.environ) -> Path:
    """$XDG_CONFIG_HOME/sealer/keys.txt, or ~/.config/sealer/keys.txt."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else _home(env) / ".config"
    return base / "sealer" / "keys.txt"


def _ssh_default_paths(env: Mapping[str, str]) -> list[Path]:
    return [_home(env) / ".ssh" / name for name in _SSH_DEFAULTS]


def identity_search_hint(env: Mapping[str, str] = os.environ) -> str:
    """Where discovery looked, for the hint under "no identity"."""
    places = [f"${name}" for name, _ in _ENV_SOURCES]
    places += [str(default_identity_path(env))] + [str(p) for p in _ssh_default_paths(env)]
    return (f"sealer looked in {', '.join(places)}; pass -i FILE, or create a key with "
            "`sealer keygen`")


def discover_identities(
    explicit: Sequence[str],
    *,
    env: Mapping[str, str] = os.environ,
    prompt: Prompt | None = None,
) -> list[Identity]:
    """The identities to try: those named explicitly (paths, "-" = stdin), else every default.

    Defaults, in order: $SEALER_IDENTITY (key text), $SEALER_IDENTITY_FILE, $SOPS_AGE_KEY,
    $SOPS_AGE_KEY_FILE, default_identity_path(); only when none of those exists,
    ~/.ssh/id_ed25519 and ~/.ssh/id_rsa (so a passphrase-protected SSH key is not unlocked
    for nothing). Returns [] when none exist; callers raise NoIdentityError with
    identity_search_hint().
    """
    found = _from_explicit(explicit, prompt) if explicit else _from_defaults(env, prompt)
    unique: dict[str, Identity] = {}
    for identity in found:
        unique.setdefault(identity.recipient, identity)
    return list(unique.values())


def _from_explicit(explicit: Sequence[str], prompt: Prompt | None) -> list[Identity]:
    out: list[Identity] = []
    for name in explicit:
        if name == "-":
            out += parse_identities(sys.stdin.buffer.read(), source="stdin", prompt=prompt)
        else:
            out += _file_identities(Path(name), prompt)
    return out


def _from_defaults(env: Mapping[str, str], prompt: Prompt | None) -> list[Identity]:
    out: list[Identity] = []
    for variable, is_path in _ENV_SOURCES:
        value = env.get(variable, "")
        if value and is_path:
            out += _file_identities(Path(value), prompt, origin=variable)
        elif value:
            out += parse_identities(value.encode("utf-8"), source=variable, prompt=prompt)
    default = default_identity_path(env)
    if default.exists():
        out += _file_identities(default, prompt)
    return out or _from_ssh_defaults(env, prompt)


def _from_ssh_defaults(env: Mapping[str, str], prompt: Prompt | None) -> list[Identity]:
    """~/.ssh keys that exist; protected ones are skipped when nobody can type the passphrase."""
    out: list[Identity] = []
    for path in _ssh_default_paths(env):
        if not path.exists():
            continue
        try:
            out += _file_identities(path, prompt)
        except PassphraseUnavailable:
            continue
    return out


def loose_permissions(path: Path | str) -> bool:
    """Whether group or others have any access to a key file (OpenSSH's rule)."""
    try:
        return bool(os.stat(path).st_mode & 0o077)
    except OSError:
        return False


# --- generation and prompting -------------------------------------------------------------------


def keygen(path: Path | None, *, now: datetime) -> tuple[str, str]:
    """Create a new X25519 identity file exactly as `age-keygen` writes it (mode 0600).

    Refuses to overwrite. `path` None means default_identity_path(). Returns (path, recipient).
    """
    if now.tzinfo is None:
        raise ValueError("keygen needs a timezone-aware `now`")
    target = path if path is not None else default_identity_path()
    native = pyrage.x25519.Identity.generate()
    recipient = str(native.to_public())
    created = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"# created: {created}\n# public key: {recipient}\n{native}\n"
    create_private_file(target, text.encode("ascii"))
    return str(target), recipient


def tty_prompt(message: str) -> str:
    """Read a passphrase from the terminal without echo; PassphraseUnavailable if there is none."""
    unavailable = PassphraseUnavailable(
        "a passphrase is needed but there is no terminal to ask for it",
        hint="run sealer in a terminal, or use an unprotected identity (SEALER_IDENTITY or -i)")
    try:
        with open("/dev/tty", "rb"):
            pass
    except OSError:
        raise unavailable from None
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(message)
        except (getpass.GetPassWarning, EOFError):
            raise unavailable from None
