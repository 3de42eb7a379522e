"""`sealer import sops` and `sealer import sops-config`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from .common import IdentityOption, RecipientOption, RecipientsFileOption, identities, note
from .declare import App, Argument, Option, app

importing = App(help="Bring secrets from other tools into sealer (SOPS).",
                        no_args_is_help=True)
app.add_typer(importing, name="import")


@importing.command("sops", epilog="""Examples:

  sealer import sops secrets/app.enc.yaml          # writes secrets/app.sealed.yaml

  sealer import sops .env.enc -o .env.sealed.yaml -r age1ql3z…

  sealer import sops --in-place secrets/            # a tree: SOPS files become sealed files
""")
def sops(
    paths: Annotated[list[Path], Argument(
        metavar="PATH...", help="SOPS files, or directories to search for them.")],
    output: Annotated[Path | None, Option(
        "--output", "-o", metavar="FILE", help="Sealed output (one SOPS file only). "
                                              "Default: NAME.sealed.yaml beside it.")] = None,
    recipient: RecipientOption = None,
    recipients_file: RecipientsFileOption = None,
    identity: IdentityOption = None,
    input_type: Annotated[str | None, Option(
        "--input-type", metavar="STORE", help="yaml, json, dotenv, ini or binary. Default: "
                                              "from the extension, as sops does.")] = None,
    in_place: Annotated[bool, Option(
        "--in-place", help="Remove each SOPS file once its sealed form is written.")] = False,
    keep_going: Annotated[bool, Option(
        "--continue", help="Import the files that can be imported even when others "
                           "cannot.")] = False,
    accept_unauthenticated: Annotated[bool, Option(
        "--accept-unauthenticated", help="Import values the SOPS MAC does not authenticate "
                                         "(clear values, nulls, empty strings), after "
                                         "reviewing them; each is listed.")] = False,
) -> None:
    """Decrypt SOPS files with your age identities, verify them exactly as sops does (each
    value, the MAC), and write sealed files for the recipients of the matching creation rule
    in sealer.yaml (or -r/-R). Nothing is written for a file that fails, and with several
    files nothing at all unless --continue."""
    from ..errors import EXIT_ERROR
    from ..importing import import_sops
    from ..sops import STORES
    from .common import check_format, recipients

    if input_type is not None:
        check_format(input_type, STORES, what="input type")
    report = import_sops(paths, identities=identities(identity),
                         recipients=recipients(recipient, recipients_file,
                                               context=output or paths[0]),
                         output=output, in_place=in_place, keep_going=keep_going,
                         accept_unauthenticated=accept_unauthenticated, store=input_type)
    for item in report.converted:
        for where, why in item.unauthenticated:
            note(f"{item.source}: warning: {where} is {why}")
        state = "converted" if in_place else "imported"
        note(f"{item.source} -> {item.output} ({state})")
    for source, error in report.failed:
        note(f"{source}: not imported: {error.message}")
    if report.failed:
        raise SystemExit(EXIT_ERROR)


@importing.command("sops-config", epilog="""Examples:

  sealer import sops-config .sops.yaml              # writes sealer.yaml beside it

  sealer import sops-config .sops.yaml -o -         # print it instead
""")
def sops_config(
    path: Annotated[Path, Argument(metavar="FILE", help="A .sops.yaml.")],
    output: Annotated[Path | None, Option(
        "--output", "-o", metavar="FILE", help="Where to write ('-' = stdout). Default: "
                                              "sealer.yaml beside FILE.")] = None,
) -> None:
    """Write the sealer.yaml equivalent to a .sops.yaml: each creation rule an environment
    (its path_regex as a glob, its age keys as principals, its unencrypted suffix or regex as
    `clear`), and list on stderr what has no equivalent (PGP and KMS keys, Shamir thresholds,
    encrypted_regex, …). Refuses to overwrite a file."""
    from ..importing import import_sops_config
    from .common import write_stdout

    stdout = output is not None and str(output) == "-"
    result = import_sops_config(path, None if stdout else output, to_stdout=stdout)
    if stdout:
        write_stdout(result.text)
    for line in result.missing:
        note(f"{path}: no equivalent: {line}")
    if result.output is not None:
        note(f"{path} -> {result.output}")
