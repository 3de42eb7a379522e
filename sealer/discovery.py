"""Where identities come from (flags, environment, default files), generating new ones, and
asking for passphrases."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from .environ import IDENTITY_VARIABLES
from .errors import IdentityError, SealerError
from .fsio import create_private_file
from .keys import (
    Identity,
    PassphraseUnavailable,
    Prompt,
    file_identities,
    loose_permissions,
    mlkem_unavailable,
    parse_identities,
)

__all__ = [
    "default_identity_path",
    "discover_identities",
    "identity_search_hint",
    "keygen",
    "loose_permissions",
    "tty_prompt",
    "untried_note",
]

_ENV_SOURCES = IDENTITY_VARIABLES
_SSH_DEFAULTS = ("id_ed25519", "id_rsa")


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
    hint = (f"sealer looked in {', '.join(places)}; pass -i FILE, or create a key with "
            "`sealer keygen`")
    untried = untried_note(env)
    return f"{hint}; {untried}" if untried else hint


def untried_note(env: Mapping[str, str] = os.environ) -> str | None:
    """Which default SSH keys discovery skipped because they need a passphrase (and how to use
    them), or None: a "no identity" hint is true only if it says so."""
    protected = [str(p) for p in _ssh_default_paths(env) if _needs_passphrase(p)]
    if not protected:
        return None
    verb = "is" if len(protected) == 1 else "are"
    return (f"{' and '.join(protected)} {verb} passphrase-protected and not tried by default: "
            f"pass -i {protected[0]} to be asked for the passphrase")


def _needs_passphrase(path: Path) -> bool:
    try:
        file_identities(path, None)
    except PassphraseUnavailable:
        return True
    except SealerError:
        return False
    return False


def discover_identities(
    explicit: Sequence[str],
    *,
    env: Mapping[str, str] = os.environ,
    prompt: Prompt | None = None,
) -> list[Identity]:
    """The identities to try: those named explicitly (paths, "-" = stdin), else every default.

    An identity file that group or others may access is refused (IdentityError, hint
    `chmod 600 FILE`), as OpenSSH refuses such private keys; key text from stdin or a variable
    is not a file and is not judged.

    Defaults, all of them, in order: $SEALER_IDENTITY (key text), $SEALER_IDENTITY_FILE,
    $SOPS_AGE_KEY, $SOPS_AGE_KEY_FILE, default_identity_path(), ~/.ssh/id_ed25519 and
    ~/.ssh/id_rsa. A passphrase-protected SSH key there is unlocked (with `prompt`) only when
    nothing before it was found, so it is not unlocked for nothing; otherwise, or when nobody
    can type the passphrase, it is skipped (pass it with -i). Returns [] when none exist;
    callers raise NoIdentityError with identity_search_hint().
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
            out += file_identities(Path(name), prompt)
    return out


def _from_defaults(env: Mapping[str, str], prompt: Prompt | None) -> list[Identity]:
    out: list[Identity] = []
    for variable, is_path in _ENV_SOURCES:
        value = env.get(variable, "")
        if value and is_path:
            out += file_identities(Path(value), prompt, origin=variable)
        elif value:
            out += parse_identities(value.encode("utf-8"), source=variable, prompt=prompt)
    default = default_identity_path(env)
    if default.exists():
        out += file_identities(default, prompt)
    return out + _from_ssh_defaults(env, None if out else prompt, required=not out)


def _from_ssh_defaults(env: Mapping[str, str], prompt: Prompt | None, *,
                       required: bool) -> list[Identity]:
    """~/.ssh keys that exist; protected ones are skipped when there is no `prompt` or nobody
    can type the passphrase. One that cannot be used (readable by others, damaged) is skipped
    as ssh skips it when other identities were found; when none were (`required`), its error
    is what the user needs to see."""
    out: list[Identity] = []
    problems: list[IdentityError] = []
    for path in _ssh_default_paths(env):
        if not path.exists():
            continue
        try:
            out += file_identities(path, prompt)
        except PassphraseUnavailable:
            continue
        except IdentityError as exc:
            problems.append(exc)
    if required and not out and problems:
        raise problems[0]
    return out


# --- generation and prompting -------------------------------------------------------------------


def keygen(path: Path | None, *, now: datetime, pq: bool = False) -> tuple[str, str]:
    """Create a new identity file exactly as `age-keygen` (or, with `pq`, `age-keygen -pq`)
    writes it, mode 0600: X25519, or post-quantum hybrid ML-KEM-768 + X25519.

    Refuses to overwrite. `path` None means default_identity_path(). Returns (path, recipient).
    """
    if now.tzinfo is None:
        raise ValueError("keygen needs a timezone-aware `now`")
    target = path if path is not None else default_identity_path()
    recipient, secret = _new_hybrid_key() if pq else _new_x25519_key()
    created = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"# created: {created}\n# public key: {recipient}\n{secret}\n"
    create_private_file(target, text.encode("ascii"))
    return str(target), recipient


def _new_x25519_key() -> tuple[str, str]:
    native = pyrage.x25519.Identity.generate()
    return str(native.to_public()), str(native)


def _new_hybrid_key() -> tuple[str, str]:
    from .age.hybrid import HybridIdentity, MLKEMUnavailable

    try:
        native = HybridIdentity.generate()
    except MLKEMUnavailable as exc:
        raise mlkem_unavailable(exc, None) from None
    return str(native.recipient()), native.secret_key()


def tty_prompt(message: str) -> str:
    """Read a passphrase from the terminal without echo; PassphraseUnavailable if there is none."""
    import getpass
    import warnings

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
