"""`sealer rotate`, `sealer rotation status|configure`, `sealer versions`, `sealer rollback`
(docs/ROTATION.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .app import app
from .common import FileArgument, IdentityOption, check_format, dump, identities, note, write_stdout

rotation = typer.Typer(help="Rotation settings and due dates.", no_args_is_help=True)
app.add_typer(rotation, name="rotation")


@app.command(epilog="""Examples:

  sealer rotate db.sealed.yaml db                 # create, set, test, finish

  sealer rotate db.sealed.yaml db --resume        # after a failure or a crash

  sealer rotate db.sealed.yaml db --abandon       # drop the PENDING version

  sealer rotate --due secrets/                    # everything that is due

  sealer rotate --due secrets/ --format json      # [{file, key, result, error}, …]
""")
def rotate(
    args: Annotated[list[str] | None, typer.Argument(
        metavar="FILE KEY.PATH | --due [PATH...]",
        help="The sealed file and the secret; with --due, files or directories.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted rotation.")
                      ] = False,
    abandon: Annotated[bool, typer.Option("--abandon", help="Drop the PENDING version (and put "
                                                            "CURRENT back on the target).")
                       ] = False,
    due: Annotated[bool, typer.Option(
        "--due", help="Rotate every due secret in the given files or directories (default: "
                      "the current directory), continuing past failures.")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="With --due: text, or json (a list of {file, key, result, "
                               "error} on stdout).")] = "text",
    identity: IdentityOption = None,
) -> int:
    """Rotate a secret in four recorded steps: create, set on the target, test, finish."""
    from ..errors import UsageError
    from ..rotation.protocol import rotate as do_rotate

    check_format(fmt, ("text", "json"))
    if due:
        return _rotate_due([Path(a) for a in args or ["."]], identity, fmt)
    if fmt != "text":
        raise UsageError("--format applies to --due", hint="one rotation reports on stderr")
    if not args or len(args) != 2:
        raise UsageError("give FILE and KEY.PATH, or --due [PATH...]",
                         hint="see `sealer rotate --help`")
    file, key = Path(args[0]), args[1]
    outcome = do_rotate(file, key, identities(identity), resume=resume, abandon=abandon,
                        progress=lambda step: note(f"{file}: {key}: {step} done"))
    for line in outcome.notes:
        note(f"{file}: {key}: {line}")
    note(f"{file}: {key} {outcome.action} (version {outcome.version})")
    return 0


def _rotate_due(paths: list[Path], identity: list[str] | None, fmt: str) -> int:
    from ..rotation.protocol import rotate_due

    results = rotate_due(paths, identities(identity), progress=note)
    failed = [r for r in results if r.error]
    if fmt == "json":
        write_stdout(dump([{"file": str(r.file), "key": r.key,
                            "result": "failed" if r.error else "rotated", "error": r.error}
                           for r in results], "json"))
    note(f"{len(results) - len(failed)} rotated, {len(failed)} failed"
         + "".join(f"\n  failed: {r.file} {r.key}: {r.error}" for r in failed))
    return 1 if failed else 0


@rotation.command("status", epilog="""Examples:

  sealer rotation status secrets/

  sealer rotation status app.sealed.yaml --format json --due-within 14d
""")
def status(
    paths: Annotated[list[Path] | None, typer.Argument(metavar="[PATH...]",
                                                       help="Sealed files or directories.")
                     ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    due_within: Annotated[str, typer.Option("--due-within", help="What counts as due soon.")
                          ] = "7d",
) -> int:
    """Last rotation, due date and state of every secret with rotation settings.

    Needs no key. Exits 1 when anything is overdue or expired, so CI can gate on it.
    """
    from ..rotation.versions import rotation_status
    from ..times import parse_interval

    check_format(fmt, ("text", "json"))
    rows = rotation_status(paths or [Path(".")],
                           due_within=parse_interval(due_within, what="--due-within"))
    if fmt == "json":
        write_stdout(dump([r.as_json() for r in rows], "json"))
    else:
        write_stdout(_table(rows))
    return 1 if any(r.state in ("overdue", "expired") for r in rows) else 0


def _table(rows: list[Any]) -> str:
    head = ("FILE", "KEY", "ROTATED", "DUE", "DAYS", "STATE")
    cells = [head] + [(r.file, r.key, r.rotated_at or "-", r.due or "-",
                       "-" if r.days_left is None else str(r.days_left), r.state) for r in rows]
    from ..printable import printable

    cells = [tuple(printable(c) for c in row) for row in cells]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                   + "\n" for row in cells)


@rotation.command("configure", epilog="""Examples:

  sealer rotation configure app.sealed.yaml api.token --every 30d

  sealer rotation configure db.sealed.yaml db --every 90d --rotator postgres --admin db_admin

  sealer rotation configure db.sealed.yaml db --every 30d --rotator postgres \\
      --strategy alternating-users --admin admin.sealed.yaml#postgres
""")
def configure(
    file: FileArgument,
    key: Annotated[str, typer.Argument(metavar="KEY.PATH", help="The secret.")],
    every: Annotated[str, typer.Option("--every", help="Interval: 12h, 30d, 12w.")],
    rotator: Annotated[str | None, typer.Option("--rotator", help="postgres or command; "
                                                "without it, rotate only generates a value.")
                       ] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="postgres: single-user "
                                                 "or alternating-users.")] = None,
    admin: Annotated[str | None, typer.Option("--admin", metavar="REF", help="postgres: admin "
                                              "credential, KEYPATH or OTHERFILE#KEYPATH.")] = None,
    command: Annotated[list[str] | None, typer.Option("--command", metavar="PROG",
                                                      help="command: argv, repeatable.")] = None,
    generator: Annotated[str | None, typer.Option("--generator",
                                                  help="Generator kind (default password).")
                         ] = None,
    length: Annotated[int | None, typer.Option(
        "--length", help="Length of generated passwords (for postgres: of the new passwords)."
    )] = None,
    exclude_characters: Annotated[str | None, typer.Option(
        "--exclude-characters", help="Characters generated passwords must not contain.")] = None,
    keep: Annotated[int | None, typer.Option("--keep", help="Earlier versions to keep (3).")
                    ] = None,
    identity: IdentityOption = None,
) -> None:
    """Set a secret's rotation settings (authenticated metadata; needs a key)."""
    from ..rotation.protocol import configure_rotation

    settings: dict[str, Any] = {k: v for k, v in (("strategy", strategy), ("admin", admin),
                                                  ("command", command)) if v}
    options = {k: v for k, v in (("length", length),
                                 ("exclude_characters", exclude_characters)) if v}
    gen: dict[str, Any] | None = None
    if rotator == "postgres" and options:
        settings["password"] = options  # the postgres rotator makes its own passwords
    elif generator or options:
        gen = {"kind": generator or "password", **options}
    configure_rotation(file, key, identities(identity), every=every, rotator=rotator,
                       settings=settings, generator=gen, keep=keep)
    note(f"{file}: {key}: rotation every {every}")


@app.command(epilog="""Examples:

  sealer versions db.sealed.yaml

  sealer versions db.sealed.yaml db

  sealer versions db.sealed.yaml --format json    # [{file, key, id, stages, created}, …]
""")
def versions(
    file: FileArgument,
    key: Annotated[str | None, typer.Argument(metavar="[KEY.PATH]", help="One secret.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """List the versions of rotated secrets: ids, labels, creation times (never values)."""
    from ..document import read_sealed
    from ..paths import format_path, parse_path
    from ..rotation.versions import rotation_entries

    check_format(fmt, ("text", "json"))
    doc = read_sealed(file)
    wanted = format_path(parse_path(key)) if key else None
    rows: list[dict[str, Any]] = []
    for text, rot in rotation_entries(doc.metadata):
        if wanted and text != wanted:
            continue
        rows.append({"file": str(file), "key": text, "id": rot.get("version", 1),
                     "stages": ["CURRENT"], "created": rot.get("rotated_at")})
        rows += [{"file": str(file), "key": text, "id": e["id"], "stages": list(e["stages"]),
                  "created": e["created"]} for e in doc.versions.get(text, [])]
    if fmt == "json":
        write_stdout(dump(rows, "json"))
        return
    from ..printable import printable

    sys.stdout.write("".join(printable(f"{r['key']}\t{r['id']}\t{','.join(r['stages']) or '-'}"
                                       f"\t{r['created'] or '-'}") + "\n" for r in rows))


@app.command(epilog="""Example:

  sealer rollback db.sealed.yaml db
""")
def rollback(
    file: FileArgument,
    key: Annotated[str, typer.Argument(metavar="KEY.PATH", help="The secret.")],
    identity: IdentityOption = None,
) -> None:
    """Make PREVIOUS the CURRENT value again (and CURRENT the PREVIOUS).

    For a secret with a rotator, the previous value is first set on the target and tested.
    """
    from ..rotation.protocol import rollback as do_rollback

    outcome = do_rollback(file, key, identities(identity))
    for line in outcome.notes:
        note(f"{file}: {key}: {line}")
    note(f"{file}: {key} rolled back to version {outcome.version}")
