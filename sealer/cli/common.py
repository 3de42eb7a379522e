"""Options and helpers shared by the commands. Library modules are imported inside functions so
that `sealer --help` and one-key `get` only load what they use."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from .declare import Argument, Option

if TYPE_CHECKING:
    from ..keys import Identity, Recipient
    from ..rotation.versions import WriteIntent

IdentityOption = Annotated[
    list[str] | None,
    Option(
        "--identity", "-i", metavar="FILE",
        help="Identity (private key) file: age key file, SSH private key, or passphrase-protected "
             "age file; '-' reads it from stdin. Repeatable. Default: all of $SEALER_IDENTITY, "
             "$SEALER_IDENTITY_FILE, $SOPS_AGE_KEY, $SOPS_AGE_KEY_FILE, "
             "~/.config/sealer/keys.txt, ~/.ssh/id_ed25519, ~/.ssh/id_rsa.",
    ),
]
RecipientOption = Annotated[
    list[str] | None,
    Option("--recipient", "-r", metavar="RECIPIENT",
                 help="Public key to seal for: age1… or an SSH public key. Repeatable."),
]
RecipientsFileOption = Annotated[
    list[Path] | None,
    Option("--recipients-file", "-R", metavar="FILE",
                 help="File of recipients, one per line (# comments allowed). Repeatable."),
]
FileOnlyOption = Annotated[bool, Option(
    "--file-only", help="A key with a rotator: change only the file, because its target already "
                        "has the new value (else refused: `sealer rotate` changes both).")]
AllowRevertOption = Annotated[bool, Option(
    "--allow-revert", help="A rotated key: write a value an older version had, as a new "
                           "version (else refused: it is what re-sealing a stale copy does).")]
FilesArgument = Annotated[list[Path], Argument(metavar="FILE...", help="Sealed files.")]
FileArgument = Annotated[Path, Argument(metavar="FILE", help="A sealed file.")]


def write_intent(file_only: bool = False, allow_revert: bool = False,
                 token: str | None = None) -> WriteIntent:
    """What the user allowed a write of a rotated key to do (FORMAT.md §10)."""
    from ..rotation.versions import WriteIntent

    return WriteIntent(token=token, file_only=file_only, allow_revert=allow_revert)


def identities(explicit: list[str] | None) -> list[Identity] | None:
    """Identities named with -i (read now, so mistakes surface early); None = discover lazily."""
    if not explicit:
        return None
    from ..discovery import discover_identities, tty_prompt

    return discover_identities(explicit, prompt=tty_prompt)


def recipients(texts: list[str] | None, files: list[Path] | None,
               context: Path | None = None) -> list[Recipient] | None:
    """Recipients from -r and -R; None when neither was given.

    -r also takes principal and group names from the sealer.yaml governing `context`.
    """
    if not texts and not files:
        return None
    from ..keys import parse_recipient, read_recipients_file

    out = [parse_recipient(t, source="--recipient") for t in _named(texts or [], context)]
    for file in files or []:
        out.extend(read_recipients_file(file))
    return out


def _named(texts: list[str], context: Path | None) -> list[str]:
    """Replace principal/group names by their keys; keys pass through unchanged."""
    import re

    names = [t for t in texts if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]*", t)
             and not t.lower().startswith("age1")]
    if not names or context is None:
        return texts
    from ..config import project_for

    project = project_for(context)
    if project is None:
        return texts
    known = [n for n in names if n in project.principals or n in project.groups]
    keys = project.resolve_names(known)
    return [t for t in texts if t not in known] + keys


def write_stdout(data: bytes | str, *, binary: bool = False, force: bool = False) -> None:
    """Write to stdout; refuse binary data on a terminal unless forced (as age does)."""
    from ..errors import UsageError

    if binary and not force and sys.stdout.isatty():
        raise UsageError("refusing to print binary data to a terminal",
                         hint="redirect the output to a file, or pass --force")
    sys.stdout.flush()
    out = sys.stdout.buffer
    if isinstance(data, bytes):
        out.write(data)
    else:  # encoded a piece at a time: a big value is not copied whole once more
        for start in range(0, len(data), _PIECE):
            # surrogateescape: a file name that is not UTF-8 goes out as its own bytes
            out.write(data[start:start + _PIECE].encode("utf-8", "surrogateescape"))
    out.flush()


_PIECE = 1 << 20


def note(message: str) -> None:
    """A status line on stderr (stdout stays clean for pipes); control characters escaped."""
    from ..printable import printable

    sys.stderr.write(f"sealer: {printable(message, newlines=True)}\n")


def dump(value: Any, fmt: str) -> str:
    """A plaintext tree as YAML or JSON text (JSON renders bytes as base64)."""
    if fmt == "json":
        import json

        return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    from ..yamlio import dump as dump_yaml

    return dump_yaml(value)


def _json_default(value: Any) -> Any:
    import base64

    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(type(value).__name__)


def check_format(fmt: str, allowed: tuple[str, ...], *, what: str = "format") -> None:
    if fmt not in allowed:
        from ..errors import UsageError

        raise UsageError(f"unknown {what} {fmt!r}", hint=f"use one of: {', '.join(allowed)}")
