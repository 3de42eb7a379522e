"""SSH private keys: read (and unlock) them with cryptography; as age identities, hand pyrage an
unprotected copy that exists only in memory. Imported only when an SSH key is used. Depends on
nothing of sealer's but its errors: `keys` wraps what this returns into an `Identity`."""

from __future__ import annotations

from collections.abc import Callable

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

from .errors import IdentityError

__all__ = ["load_ssh_key", "ssh_identity"]

Passphrase = Callable[[], str]  # asks for the key's passphrase (or raises)


def ssh_identity(data: bytes, source: str, passphrase: Passphrase) -> tuple[str, str, object]:
    """(public key line, kind, pyrage identity) of an SSH private key, decrypted here if needed;
    pyrage gets an unprotected in-memory copy."""
    key = load_ssh_key(data, source, passphrase)
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
    return public.decode("ascii"), kind, native


def _ssh_loader(data: bytes) -> Callable[[bytes, bytes | None], object]:
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return load_ssh_private_key
    return load_pem_private_key


def load_ssh_key(data: bytes, source: str, passphrase: Passphrase) -> object:
    """The private key object; `passphrase()` is called only when the key is protected."""
    loader = _ssh_loader(data)
    try:
        return loader(data, None)
    except TypeError:  # protected: it needs a passphrase
        pass
    except (ValueError, UnsupportedAlgorithm):
        raise IdentityError("cannot read this SSH private key (damaged or unsupported)",
                            file=source, hint="check it with `ssh-keygen -y -f FILE`") from None
    try:
        return loader(data, passphrase().encode("utf-8"))
    except ValueError:
        raise IdentityError("wrong passphrase for this SSH key", file=source) from None
    except UnsupportedAlgorithm:
        raise IdentityError("reading passphrase-protected SSH keys needs the bcrypt package",
                            file=source, hint="pip install bcrypt") from None
