"""`sealer check`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from .common import IdentityOption, check_format, identities, write_stdout
from .declare import Argument, Option, app

if TYPE_CHECKING:
    from ..policy import Finding


@app.command(epilog="""Examples:

  sealer check                                 # every *.sealed.yaml below here (git-aware)

  sealer check secrets/prod --format sarif > sealer.sarif

  sealer check --format github                 # annotations in GitHub Actions

  sealer check app.sealed.yaml --decrypt       # also verify the MAC and validate values

  sealer check --staged                        # what `git commit` is about to record

  sealer check --base origin/main              # in CI: no file older than on main

  sealer check --staged --no-plaintext         # block plaintext secrets and leaked keys

  sealer check --hook secrets/db.sealed.yaml   # as the pre-commit hook runs it
""")
def check(
    paths: Annotated[list[Path] | None, Argument(
        metavar="[PATH]...", help="Sealed files or directories (default: .).")] = None,
    fmt: Annotated[str, Option("--format", "-f",
                                     help="text, json, sarif or github.")] = "text",
    decrypt: Annotated[bool, Option(
        "--decrypt", help="Also open each file: verify its MAC and validate values against "
                          "their schemas (needs an identity).")] = False,
    staged: Annotated[bool, Option(
        "--staged", help="Check the git index, not the working tree, and refuse rollbacks "
                         "(serial going down) and replaced files.")] = False,
    hook: Annotated[bool, Option(
        "--hook", help="As a pre-commit hook: check the files named (default: the staged "
                       "ones) in the working tree, and their staged versions where those "
                       "differ; a sealer.yaml, or a schema it names, stands for every sealed "
                       "file below it. Rollback rules compare with --base, else "
                       "$PRE_COMMIT_FROM_REF, else HEAD.")] = False,
    no_plaintext: Annotated[bool, Option(
        "--no-plaintext", help="With --staged or --hook: instead look at every file for "
                               "plaintext secrets (where sealer.yaml expects a sealed file, "
                               "sealer's rendered outputs, the plaintext beside its sealed "
                               "file) and for private keys and well-known tokens.")] = False,
    base: Annotated[str | None, Option(
        "--base", metavar="REV", help="Compare each file with its version at this git "
                                      "revision (e.g. origin/main in CI): a serial going down "
                                      "or a changed file id is an error.")] = None,
    allow_replace: Annotated[bool, Option(
        "--allow-replace", help="With --staged or --base: accept a sealed file whose id "
                                "changed (after "
                                "seal --replace). Also SEALER_ALLOW_REPLACE=1.")] = False,
    allow_rekey: Annotated[bool, Option(
        "--allow-rekey", help="With --staged or --base: accept a changed data key without a "
                              "signer's signature (after your own rekey). Also "
                              "SEALER_ALLOW_REKEY=1.")] = False,
    list_schemas: Annotated[bool, Option(
        "--list-schemas", help="Print the built-in schema names and exit.")] = False,
    identity: IdentityOption = None,
) -> int:
    """Check sealed files against their schemas and the policy in sealer.yaml, without a key.

    Rules: structure, access control (recipients allowed and required per environment),
    schemas, naming, required metadata, secrets left in clear, rotation age; with --staged also
    rollback protection. Exit 0 when clean (warnings allowed), 1 when any finding is an error,
    2 on usage or config errors.
    """
    from ..report import FORMATS, render_findings

    if list_schemas:
        from ..schemas import builtin_names

        write_stdout("\n".join(builtin_names()) + "\n")
        return 0
    check_format(fmt, FORMATS)
    allow_replace = allow_replace or os.environ.get("SEALER_ALLOW_REPLACE") == "1"
    allow_rekey = allow_rekey or os.environ.get("SEALER_ALLOW_REKEY") == "1"
    if staged and hook:
        from ..errors import UsageError

        raise UsageError("--staged and --hook exclude each other",
                         hint="--hook is what the pre-commit hooks run; --staged reads only "
                              "the git index")
    if hook:
        findings, checked = _hook(paths, no_plaintext, base, allow_replace, allow_rekey)
    elif staged:
        findings, checked = _staged(paths, no_plaintext, allow_replace, allow_rekey)
    else:
        findings, checked = _tree(paths, identity if decrypt else None, decrypt, base,
                                  allow_replace, allow_rekey)
    noun = "sealed file"
    if no_plaintext and (staged or hook):
        noun = "staged file" if staged else "file"
    write_stdout(render_findings(findings, fmt, checked=checked, noun=noun))
    return 1 if any(f.severity == "error" for f in findings) else 0


def _tree(paths: list[Path] | None, identity: list[str] | None, decrypt: bool,
          base: str | None, allow_replace: bool, allow_rekey: bool
          ) -> tuple[list[Finding], int]:
    from ..check import Baseline, check_files
    from ..sealedfiles import sealed_files

    files = sealed_files(paths or [Path(".")])
    baseline = None
    if base is not None:
        from ..git import repository_root

        baseline = Baseline(repository_root(Path.cwd()), base, allow_replace=allow_replace,
                            allow_rekey=allow_rekey)
    ids = None
    if decrypt:
        from ..access import resolve_identities

        ids = resolve_identities(identities(identity))
    return check_files(files, identities=ids, baseline=baseline), len(files)


def _staged(paths: list[Path] | None, no_plaintext: bool, allow_replace: bool,
            allow_rekey: bool) -> tuple[list[Finding], int]:
    from ..check import Staged, check_files
    from ..git import repository_root, staged_paths
    from ..sealedfiles import is_sealed_name

    root = repository_root(Path.cwd())
    files = staged_paths(root)
    if paths:
        wanted = {p.absolute() for p in paths}
        files = [f for f in files if f.absolute() in wanted]
    index = Staged(root, allow_replace=allow_replace, allow_rekey=allow_rekey)
    if no_plaintext:
        from ..leaks import scan_files

        return scan_files(files, index.content), len(files)
    sealed = [f for f in files if is_sealed_name(f.name)]
    return check_files(sealed, staged=index), len(sealed)


def _hook(paths: list[Path] | None, no_plaintext: bool, base: str | None, allow_replace: bool,
          allow_rekey: bool) -> tuple[list[Finding], int]:
    from ..check import check_hook
    from ..git import repository_root, staged_paths

    root = repository_root(Path.cwd())
    base = base or os.environ.get("PRE_COMMIT_FROM_REF") or "HEAD"
    return check_hook(root, paths or staged_paths(root), no_plaintext=no_plaintext, base=base,
                      allow_replace=allow_replace, allow_rekey=allow_rekey)
