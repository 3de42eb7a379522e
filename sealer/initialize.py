"""`sealer init`: a new project's sealer.yaml, set up to sign by default (docs/SECURITY.md: a
forger without a signing key cannot write a file readers accept).

The keys are ones the user already has where possible: their age identity, and as signing key
$SEALER_SIGNING_KEY, else ~/.ssh/id_ed25519, else a new sealer signing key.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import NamedTuple

from . import yamlio
from .config import CONFIG_NAME, load_config
from .errors import SealerError, UsageError
from .fsio import StrPath, as_path, create_private_file

__all__ = ["Initialized", "init_project"]


class Initialized(NamedTuple):
    config: Path
    principal: str
    recipient: str
    signer: str | None  # the signer principal's public key line, None with sign=False
    signing_key: Path | None  # what SEALER_SIGNING_KEY should name
    created: list[Path]  # keys made because none existed


def init_project(directory: StrPath, *, recipient: str | None = None,
                 signing_key: StrPath | None = None, sign: bool = True,
                 name: str | None = None) -> Initialized:
    """Write `directory`/sealer.yaml for one principal (this user) and one environment that
    requires their signature; refuses to overwrite."""
    from .keys import parse_recipient

    config = as_path(directory) / CONFIG_NAME
    if config.exists():
        raise UsageError("already exists; nothing was changed", file=str(config),
                         hint="edit it (docs/CONFIG.md), or init another directory")
    created: list[Path] = []
    recipient = parse_recipient(recipient or _own_recipient(created)).text
    principal = name or _principal_name()
    key_file, signer = _signer(as_path(signing_key) if signing_key else None, created) \
        if sign else (None, None)
    _write(config, principal, recipient, signer)
    load_config(config)  # what was written is a valid sealer.yaml
    return Initialized(config, principal, recipient, signer, key_file, created)


def _principal_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "me"
    cleaned = re.sub(r"[^A-Za-z0-9_.@-]", "-", user).lstrip("-_.@")
    return cleaned or "me"


def _own_recipient(created: list[Path]) -> str:
    from datetime import UTC, datetime

    from .discovery import discover_identities, keygen

    try:
        found = discover_identities([])
    except SealerError:
        found = []
    if found:
        return found[0].recipient
    path, public = keygen(None, now=datetime.now(UTC))
    created.append(Path(path))
    return public


def _signer(explicit: Path | None, created: list[Path]) -> tuple[Path, str]:
    """(private key file, public key line) of the key that will sign."""
    from .environ import SIGNING_KEY_VARIABLE
    from .signing import load_signing_key, signing_keygen

    candidates = [explicit] if explicit else [
        Path(p) for p in (os.environ.get(SIGNING_KEY_VARIABLE), ) if p] + [
        Path.home() / ".ssh" / "id_ed25519", _sealer_signing_key()]
    for path in candidates:
        if path.is_file():
            return path, load_signing_key(path).public
        if explicit:
            raise UsageError("no such signing key", file=str(path),
                             hint="give an SSH private key (ed25519 or RSA), or make one: "
                                  "sealer keygen --signing -o FILE")
    path = _sealer_signing_key()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    public = signing_keygen(path)
    created.append(path)
    return path, " ".join(public.split()[:2])


def _sealer_signing_key() -> Path:
    from .discovery import default_identity_path

    return default_identity_path().parent / "signing.key"


def _write(config: Path, principal: str, recipient: str, signer: str | None) -> None:
    principals = {principal: recipient}
    environment: dict[str, object] = {"recipients": [principal]}
    if signer is not None:
        principals[f"{principal}-signing"] = signer
        environment.update(signers=[f"{principal}-signing"], require_signature=True)
    tree = {
        "version": 1,
        "principals": principals,
        "environments": {"default": environment},
        "creation_rules": [{"path": "**", "environment": "default"}],
    }
    header = ("# sealer.yaml (docs/CONFIG.md). Files below this directory are sealed for the\n"
              "# recipients of their environment and must be signed by one of its signers.\n")
    create_private_file(config, (header + yamlio.dump(tree)).encode("utf-8"))
    config.chmod(0o644)  # a project file, committed: not a secret
