"""`sealer keygen`, `sealer recipients …` and `sealer rekey`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

if TYPE_CHECKING:
    from ..keys import Recipient
from .common import (
    FilesArgument,
    IdentityOption,
    RecipientOption,
    RecipientsFileOption,
    check_format,
    dump,
    identities,
    note,
    recipients,
    write_stdout,
)
from .declare import App, Argument, Option, app


@app.command(epilog="""Examples:

  sealer keygen                         # ~/.config/sealer/keys.txt

  sealer keygen -o ci-deploy.key        # prints the public key to share

  sealer keygen --signing -o signing.key   # a key that signs seals (SEALER_SIGNING_KEY)

  sealer keygen --pq -o me-pq.key       # post-quantum: prints age1pq1…
""")
def keygen(
    output: Annotated[Path | None, Option(
        "--output", "-o", metavar="FILE",
        help="Where to write the identity. Default: $XDG_CONFIG_HOME/sealer/keys.txt.")] = None,
    pq: Annotated[bool, Option(
        "--pq", help="Make a post-quantum hybrid key (ML-KEM-768 + X25519, age1pq1…), as "
                     "`age-keygen -pq` does. A file's recipients must all be post-quantum or "
                     "all classical.")] = False,
    signing: Annotated[bool, Option(
        "--signing", help="Make a signing key instead (Ed25519, OpenSSH format) for "
                          "SEALER_SIGNING_KEY; needs -o. Prints the public line for "
                          "allowed_signers and sealer.yaml.")] = False,
) -> None:
    """Create an age identity file (mode 0600, never overwritten) and print its public key.

    The file is exactly what age-keygen writes, so `age` and SOPS can use it too.

    With --pq it is what `age-keygen -pq` writes: age 1.3 or later reads it.
    """
    from datetime import UTC, datetime

    from ..discovery import keygen as make_key

    if signing:
        from ..errors import UsageError
        from ..signing import signing_keygen

        if output is None or pq:
            raise UsageError("--signing needs -o FILE (and no --pq)",
                             hint="sealer keygen --signing -o ~/.config/sealer/signing.key")
        public_line = signing_keygen(output)
        note(f"wrote a new signing key to {output}; set SEALER_SIGNING_KEY={output}")
        write_stdout(public_line + "\n")
        return
    path, public = make_key(output, now=datetime.now(UTC), pq=pq)
    note(f"wrote a new identity to {path}; keep it secret and back it up")
    write_stdout(public + "\n")


recipients_app = App(
    help="List, add or remove the recipients (public keys) a sealed file is encrypted for.",
    no_args_is_help=True,
)
app.add_typer(recipients_app, name="recipients")


def _wanted(recipient: list[str] | None, recipients_file: list[Path] | None, file: Path,
            *, adding: bool) -> list[Recipient]:
    """-r/-R, or else what sealer.yaml says: the environment's missing or disallowed keys."""
    wanted = recipients(recipient, recipients_file, context=file)
    if wanted is not None:
        return wanted
    from ..files import environment_changes

    return environment_changes(file, adding=adding)


@recipients_app.command("list", epilog="""Examples:

  sealer recipients list app.sealed.yaml

  sealer recipients list secrets/*.sealed.yaml --format json | jq -r '.[].recipient'
""")
def recipients_list(
    files: FilesArgument,
    fmt: Annotated[str, Option("--format", "-f", help="text or json (a list of "
                                                            "{file, recipient}, and group in "
                                                            "files with key groups).")] = "text",
) -> None:
    """Print the recipients of each file, one per line (prefixed by the file when several;
    by `group N:` in a file with key groups)."""
    from ..files import recipient_groups

    check_format(fmt, ("text", "json"))
    if fmt == "json":
        rows = [{"file": str(file), "recipient": text, **({"group": g} if g else {})}
                for file in files for g, text in recipient_groups(file)]
        write_stdout(dump(rows, "json"))
        return
    for file in files:
        for group, text in recipient_groups(file):
            line = f"group {group}: {text}" if group else text
            write_stdout(f"{file}: {line}\n" if len(files) > 1 else line + "\n")


@recipients_app.command("add", epilog="""Examples:

  sealer recipients add app.sealed.yaml -r age1new…

  sealer recipients add prod/*.sealed.yaml -R ci-deploy.pub
""")
def recipients_add(
    files: FilesArgument,
    recipient: RecipientOption = None,
    recipients_file: RecipientsFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """Give more keys access: the existing data key is wrapped for them; values don't change."""
    from ..files import recipients_add_many

    ids = identities(identity)
    changes = [(file, _wanted(recipient, recipients_file, file, adding=True)) for file in files]
    recipients_add_many(changes, ids, done=lambda file, written: note(
        f"{file}: {'recipients added' if written.changed else 'unchanged'}"))


@recipients_app.command("remove", epilog="""Example:

  sealer recipients remove app.sealed.yaml -r age1old…
""")
def recipients_remove(
    files: FilesArgument,
    recipient: RecipientOption = None,
    recipients_file: RecipientsFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """Revoke keys: a new data key is generated and every value re-encrypted.

    The removed key cannot open the new version. (It can still open old versions in git
    history: rotate the secrets it could read.)
    """
    from ..files import recipients_remove_many

    ids = identities(identity)
    changes = [(file, _wanted(recipient, recipients_file, file, adding=False)) for file in files]
    recipients_remove_many(changes, ids, done=lambda file, written: note(
        f"{file}: recipients removed; new data key" if written.changed else f"{file}: unchanged"))


@app.command(epilog="Example:\n\n  sealer rekey secrets/*.sealed.yaml")
def rekey(files: FilesArgument, identity: IdentityOption = None) -> None:
    """Replace the data key of each file (same recipients) and re-encrypt every value."""
    from ..files import rekey_many

    ids = identities(identity)
    rekey_many(files, ids, done=lambda file, written: note(
        f"{file}: new data key (serial {written.document.header.serial})"))


@app.command(epilog="""Examples:

  SEALER_SIGNING_KEY=~/.ssh/id_ed25519 sealer sign secrets/prod/*.sealed.yaml

  SEALER_SIGNING_KEY=~/.config/sealer/signing.key sealer sign app.sealed.yaml -i ci.key
""")
def sign(files: FilesArgument, identity: IdentityOption = None) -> None:
    """Sign each file with $SEALER_SIGNING_KEY (content, data key and serial unchanged).

    The way to re-sign a file whose signature is missing or no longer accepted (for example
    after a signer was replaced). The signer must be one the file's readers accept, and one of
    your identities must open the file: you vouch only for content that verifies.
    """
    from ..files import sign_file

    ids = identities(identity)
    for file in files:
        written = sign_file(file, ids)
        note(f"{file}: signed (serial {written.document.header.serial})")


@app.command(epilog="""Examples:

  sealer init                        # sealer.yaml here: your age key, signed by your SSH key

  sealer init secrets/ --signing-key ~/.ssh/id_ed25519

  sealer init --no-sign              # no signatures (check will warn about it)
""")
def init(
    directory: Annotated[Path, Argument(help="Where sealer.yaml goes (default: .).")
                         ] = Path("."),
    recipient: Annotated[str | None, Option(
        "--recipient", "-r", help="Your public key (default: your identity's, or a new one).")
                         ] = None,
    signing_key: Annotated[Path | None, Option(
        "--signing-key", metavar="FILE", help="The private key that will sign (default: "
        "$SEALER_SIGNING_KEY, ~/.ssh/id_ed25519, or a new sealer signing key).")] = None,
    no_sign: Annotated[bool, Option(
        "--no-sign", help="Do not require signatures (anyone with the public keys can then "
                          "write files readers accept).")] = False,
) -> None:
    """Start a project: a sealer.yaml with you as recipient and, by default, as required signer.

    Uses the keys you already have; makes new ones only where you have none.
    """
    from ..initialize import init_project

    result = init_project(directory, recipient=recipient, signing_key=signing_key,
                          sign=not no_sign)
    for path in result.created:
        note(f"created {path} (mode 0600): keep it secret and back it up")
    note(f"wrote {result.config}: principal {result.principal!r} reads files below it")
    if result.signing_key is not None:
        note(f"every write must be signed: export SEALER_SIGNING_KEY={result.signing_key}")
    else:
        note("signatures are not required: `sealer check` will warn about it")
