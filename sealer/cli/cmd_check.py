"""`sealer check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .common import IdentityOption, check_format, identities, write_stdout


@app.command(epilog="""Examples:

  sealer check                                 # every *.sealed.yaml below here (git-aware)

  sealer check secrets/prod --format sarif > sealer.sarif

  sealer check --format github                 # annotations in GitHub Actions

  sealer check app.sealed.yaml --decrypt       # also verify the MAC and validate values
""")
def check(
    paths: Annotated[list[Path] | None, typer.Argument(
        metavar="[PATH]...", help="Sealed files or directories (default: .).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f",
                                     help="text, json, sarif or github.")] = "text",
    decrypt: Annotated[bool, typer.Option(
        "--decrypt", help="Also open each file: verify its MAC and validate values against "
                          "their schemas (needs an identity).")] = False,
    list_schemas: Annotated[bool, typer.Option(
        "--list-schemas", help="Print the built-in schema names and exit.")] = False,
    identity: IdentityOption = None,
) -> int:
    """Check sealed files against their schemas and the policy in sealer.yaml, without a key.

    Rules: structure, access control (recipients allowed and required per environment),
    schemas, naming, required metadata, secrets left in clear, rotation age. Exit 0 when
    clean (warnings allowed), 1 when any finding is an error, 2 on usage or config errors.
    """
    from ..check import check_files, collect_files
    from ..report import FORMATS, render_findings

    if list_schemas:
        from ..schemas import builtin_names

        write_stdout("\n".join(builtin_names()) + "\n")
        return 0
    check_format(fmt, FORMATS)
    files = collect_files(paths or [Path(".")])
    ids = None
    if decrypt:
        from ..files import resolve_identities

        ids = resolve_identities(identities(identity))
    findings = check_files(files, identities=ids)
    write_stdout(render_findings(findings, fmt, checked=len(files)))
    return 1 if any(f.severity == "error" for f in findings) else 0
