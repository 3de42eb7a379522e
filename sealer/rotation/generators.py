"""New secret values: passwords, tokens, random bytes, UUIDs, SSH keys and TLS certificates.

All randomness comes from the operating system's CSPRNG (`secrets`, `os.urandom`). `password`
follows AWS Secrets Manager's GetRandomPassword: the same options, defaults, limits and
punctuation set. `generate(kind, options)` is the one entry point for rotation settings.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import UsageError

__all__ = [
    "KINDS",
    "PUNCTUATION",
    "generate",
    "password",
    "random_bytes",
    "ssh_ed25519",
    "tls_self_signed",
    "token",
    "uuid",
]

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # GetRandomPassword's set (string.punctuation)
MAX_PASSWORD_LENGTH = 4096
MAX_RANDOM_BYTES = 1024 * 1024
TLS_KEY_TYPES = ("ec-p256", "rsa-2048", "ed25519")


def password(
    *,
    length: int = 32,
    exclude_characters: str = "",
    exclude_numbers: bool = False,
    exclude_punctuation: bool = False,
    exclude_uppercase: bool = False,
    exclude_lowercase: bool = False,
    include_space: bool = False,
    require_each_included_type: bool = True,
) -> str:
    """A random password with GetRandomPassword's semantics.

    Letters, digits and PUNCTUATION, each class unless excluded, minus `exclude_characters`; a
    space only with `include_space` (never a required type, as in AWS). With
    `require_each_included_type`, every class that has characters left appears at least once.

    Unbiased: every password that satisfies the rules is equally likely. Each character is a
    `secrets.choice` from the whole pool, and a draw that misses a required class is discarded
    and drawn again (rejection sampling). Even the worst legal case (length 4, three classes cut
    to one character each) succeeds in about 1 draw in 2,200, i.e. within milliseconds.
    """
    _check_range("the password length", length, 1, MAX_PASSWORD_LENGTH)
    classes = _classes(exclude_characters, exclude_numbers, exclude_punctuation,
                       exclude_uppercase, exclude_lowercase)
    pool = "".join(classes) + (" " if include_space and " " not in exclude_characters else "")
    if not pool:
        raise UsageError("every character is excluded; there is nothing to make a password from",
                         hint="exclude fewer character types or characters")
    required = classes if require_each_included_type else []
    if len(required) > length:
        raise UsageError(
            f"a {length}-character password cannot include all {len(required)} required "
            "character types",
            hint=f"use a length of at least {len(required)}, exclude a character type, or turn "
                 "off require_each_included_type")
    while True:
        candidate = "".join(secrets.choice(pool) for _ in range(length))
        if all(any(c in cls for c in candidate) for cls in required):
            return candidate


def _classes(exclude: str, numbers: bool, punctuation: bool, upper: bool, lower: bool
             ) -> list[str]:
    """The included character classes, each minus the excluded characters; empty ones dropped."""
    wanted = [(string.ascii_lowercase, lower), (string.ascii_uppercase, upper),
              (string.digits, numbers), (PUNCTUATION, punctuation)]
    kept = ("".join(c for c in chars if c not in exclude) for chars, excluded in wanted
            if not excluded)
    return [chars for chars in kept if chars]


def token(nbytes: int = 32) -> str:
    """`nbytes` random bytes as URL-safe base64 without padding (43 characters for 32)."""
    _check_range("a token's number of random bytes", nbytes, 1, MAX_RANDOM_BYTES)
    return secrets.token_urlsafe(nbytes)


def random_bytes(n: int = 32) -> bytes:
    """`n` random bytes."""
    _check_range("the number of bytes", n, 1, MAX_RANDOM_BYTES)
    return secrets.token_bytes(n)


def uuid() -> str:
    """A random (version 4) UUID in its canonical lowercase form."""
    import uuid as uuid_module

    return str(uuid_module.uuid4())


def ssh_ed25519(comment: str = "") -> dict[str, str]:
    """A new Ed25519 SSH key pair: `private_key` (OpenSSH format, unencrypted) and `public_key`
    (one authorized_keys line, with `comment` appended when given)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _check_line("comment", comment)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode("ascii")
    return {"private_key": private, "public_key": f"{public} {comment}".rstrip()}


def tls_self_signed(
    common_name: str,
    *,
    days: int = 365,
    dns_names: Sequence[str] = (),
    key_type: str = "ec-p256",
) -> dict[str, str]:
    """A self-signed TLS server/client certificate: `certificate` and `private_key` (PKCS#8),
    both PEM. Subject alternative names are `dns_names` (IP addresses allowed), or the common
    name itself when none are given; valid from now for `days` days."""
    from . import x509cert

    _check_line("common_name", common_name)
    if not common_name:
        raise UsageError("a TLS certificate needs a common name", hint="e.g. db.internal")
    _check_range("a certificate's validity in days", days, 1, 36500)
    if key_type not in TLS_KEY_TYPES:
        raise UsageError(f"unknown TLS key type {key_type!r}",
                         hint=f"use one of: {', '.join(TLS_KEY_TYPES)}")
    for name in dns_names:
        _check_line("dns_names", name)
    return x509cert.self_signed(common_name, days, list(dns_names) or [common_name], key_type)


def _check_range(what: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UsageError(f"{what} must be between {low} and {high}, not {value}")


def _check_line(name: str, value: str) -> None:
    if any(c in value for c in "\r\n\0"):
        raise UsageError(f"{name} must be a single line")


# name -> (function, {option: accepted type}). `bool` is checked before `int` (bool is an int).
_Spec = tuple[Callable[..., Any], dict[str, type | tuple[type, ...]]]
KINDS: dict[str, _Spec] = {
    "password": (password, {
        "length": int, "exclude_characters": str, "exclude_numbers": bool,
        "exclude_punctuation": bool, "exclude_uppercase": bool, "exclude_lowercase": bool,
        "include_space": bool, "require_each_included_type": bool}),
    "token": (token, {"nbytes": int}),
    "bytes": (random_bytes, {"n": int}),
    "uuid": (uuid, {}),
    "ssh-ed25519": (ssh_ed25519, {"comment": str}),
    "tls-self-signed": (tls_self_signed, {
        "common_name": str, "days": int, "dns_names": (list, tuple), "key_type": str}),
}


def generate(kind: str, options: Mapping[str, Any] | None = None) -> Any:
    """Run generator `kind` with `options` (as in a rotation setting; `-` and `_` both work
    in option names). Unknown kinds, unknown options and wrongly typed values are UsageErrors."""
    if kind not in KINDS:
        raise UsageError(f"unknown generator {kind!r}", hint=f"use one of: {', '.join(KINDS)}")
    function, spec = KINDS[kind]
    kwargs = {_option_name(kind, str(name), spec): value for name, value in (options or {}).items()}
    for name, value in kwargs.items():
        _check_type(kind, name, value, spec[name])
    if kind == "tls-self-signed" and "common_name" not in kwargs:
        raise UsageError("generator 'tls-self-signed' needs the option common_name")
    return function(**kwargs)


def _option_name(kind: str, name: str, spec: Mapping[str, object]) -> str:
    key = name.replace("-", "_")
    if key not in spec:
        valid = ", ".join(spec) or "none"
        raise UsageError(f"generator {kind!r} has no option {name!r}", hint=f"its options: {valid}")
    return key


def _check_type(kind: str, name: str, value: Any, wanted: type | tuple[type, ...]) -> None:
    ok = isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))
    if ok and isinstance(value, list | tuple):
        ok = all(isinstance(item, str) for item in value)
    if not ok:
        expected = {int: "an integer", bool: "true or false", str: "a string"}.get(
            wanted if isinstance(wanted, type) else list, "a list of strings")
        raise UsageError(f"generator {kind!r}: option {name} must be {expected}")
