"""`sealer rotate`, `sealer rotation status|configure`, `sealer versions`, `sealer rollback`
(docs/ROTATION.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

from .common import FileArgument, IdentityOption, check_format, dump, identities, note, write_stdout
from .declare import App, Argument, Option, app

rotation = App(help="Rotation settings and due dates.", no_args_is_help=True)
app.add_typer(rotation, name="rotation")


@app.command(epilog="""Examples:

  sealer rotate db.sealed.yaml db                 # create, set, test, finish

  sealer rotate db.sealed.yaml db --resume        # after a failure or a crash

  sealer rotate db.sealed.yaml db --abandon       # drop the PENDING version

  sealer rotate --due secrets/                    # everything that is due

  sealer rotate --due secrets/ --format json      # [{file, key, result, error}, …]

  sealer rotate --due secrets/ --commit --push    # the scheduler's command

  sealer rotate db.sealed.yaml db --wait-for './deploy.sh'   # finish after the deploy

  sealer rotate --exposed secrets/                # what a removed recipient could know
""")
def rotate(
    args: Annotated[list[str] | None, Argument(
        metavar="FILE KEY.PATH | --due [PATH...]",
        help="The sealed file and the secret; with --due or --exposed, files or "
             "directories.")] = None,
    resume: Annotated[bool, Option("--resume", help="Continue an interrupted rotation.")
                      ] = False,
    abandon: Annotated[bool, Option("--abandon", help="Drop the PENDING version (and put "
                                                            "CURRENT back on the target).")
                       ] = False,
    due: Annotated[bool, Option(
        "--due", help="Rotate every due secret in the given files or directories (default: "
                      "the current directory), continuing past failures.")] = False,
    exposed: Annotated[bool, Option(
        "--exposed", help="Like --due, for the secrets whose current values a former "
                          "recipient could know (`sealer exposure`); needs your key.")
    ] = False,
    fmt: Annotated[str, Option(
        "--format", "-f", help="With --due: text, or json (a list of {file, key, result, "
                               "error} on stdout).")] = "text",
    commit: Annotated[bool, Option(
        "--commit", help="With --due: commit each finished rotation on its own (the message "
                         "names the file, key and version, never a value).")] = False,
    push: Annotated[bool, Option(
        "--push", help="With --commit: push once all rotations are done.")] = False,
    remote: Annotated[str | None, Option(
        "--remote", metavar="NAME", help="With --push: the remote (default: the branch's "
                                         "upstream).")] = None,
    wait_for: Annotated[str | None, Option(
        "--wait-for", metavar="CMD", help="Run CMD after test and finish only when it exits 0 "
                                          "(e.g. a deploy hook); it gets $SEALER_ROTATION_FILE, "
                                          "_KEY and _VERSION.")] = None,
    identity: IdentityOption = None,
) -> int:
    """Rotate a secret in four recorded steps: create, set on the target, test, finish."""
    import shlex

    from ..errors import UsageError
    from ..rotation.protocol import rotate as do_rotate

    check_format(fmt, ("text", "json"))
    if push and not commit:
        raise UsageError("--push needs --commit", hint="sealer rotate --due --commit --push")
    if due and exposed:
        raise UsageError("--due and --exposed exclude each other")
    if (commit or remote) and not (due or exposed):
        raise UsageError("--commit, --push and --remote apply to --due and --exposed",
                         hint="commit a single rotation with git yourself")
    command = shlex.split(wait_for) if wait_for else None
    if wait_for is not None and not command:
        raise UsageError("--wait-for needs a command")
    if due or exposed:
        return _rotate_due([Path(a) for a in args or ["."]], identity, fmt, commit=commit,
                           push=push, remote=remote, wait_for=command, exposed=exposed)
    if fmt != "text":
        raise UsageError("--format applies to --due", hint="one rotation reports on stderr")
    if not args or len(args) != 2:
        raise UsageError("give FILE and KEY.PATH, or --due [PATH...]",
                         hint="see `sealer rotate --help`")
    file, key = Path(args[0]), args[1]
    outcome = do_rotate(file, key, identities(identity), resume=resume, abandon=abandon,
                        progress=lambda step: note(f"{file}: {key}: {step} done"),
                        wait_for=command)
    for line in outcome.notes:
        note(f"{file}: {key}: {line}")
    note(f"{file}: {key} {outcome.action} (version {outcome.version})")
    return 0


def _rotate_due(paths: list[Path], identity: list[str] | None, fmt: str, *,
                commit: bool = False, push: bool = False, remote: str | None = None,
                wait_for: list[str] | None = None, exposed: bool = False) -> int:
    from ..errors import SealerError
    from ..rotation.protocol import rotate_due

    ids = identities(identity)
    if exposed:
        results = _rotate_exposed(paths, ids, commit=commit, wait_for=wait_for)
    else:
        results = rotate_due(paths, ids, progress=note, commit=commit, wait_for=wait_for)
    failed = [r for r in results if r.error]
    pushed: str | None = None
    if push and any(r.commit for r in results):
        from ..git import work_tree_of
        from ..rotation.publish import push as do_push

        roots = {work_tree_of(r.file) for r in results if r.commit}
        try:
            for root in sorted(r for r in roots if r is not None):
                do_push(root, remote)
            pushed = "pushed"
        except SealerError as exc:
            pushed = f"push failed: {exc.message}"
            note(f"{exc.file}: {pushed}" + (f"\n  hint: {exc.hint}" if exc.hint else ""))
    if fmt == "json":
        write_stdout(dump([{"file": str(r.file), "key": r.key,
                            "result": "failed" if r.error else "rotated", "error": r.error,
                            "version": r.version, "commit": r.commit,
                            **({"push": pushed} if r.commit and pushed else {})}
                           for r in results], "json"))
    committed = sum(1 for r in results if r.commit)
    note(f"{len(results) - len(failed)} rotated, {len(failed)} failed"
         + (f", {committed} committed" if commit else "")
         + (f", {pushed}" if pushed else "")
         + "".join(f"\n  failed: {r.file} {r.key}: {r.error}" for r in failed))
    return 1 if failed or (pushed is not None and pushed != "pushed") else 0


def _rotate_exposed(paths: list[Path], ids: Any, *, commit: bool,
                    wait_for: list[str] | None) -> list[Any]:
    """Rotate what `sealer exposure` finds; an exposed key without rotation settings fails,
    saying how to replace it by hand."""
    from ..exposure import exposure, rotation_targets
    from ..git import repository_root
    from ..rotation.protocol import DueResult, rotate_keys

    report = exposure(paths, ids)
    if not report.exposures:
        note("no current value is known to a former recipient: nothing to rotate")
        return []
    start = (paths[0] if paths else Path()).absolute()
    root = repository_root(start if start.is_dir() else start.parent).resolve()
    targets, manual = rotation_targets(report, root)
    results = rotate_keys(targets, ids, progress=note, commit=commit, wait_for=wait_for)
    return results + [DueResult(file, key, "no rotation settings: give it a new value "
                                f"(`sealer set {file} {key}`) or configure rotation")
                      for file, key in manual]


@rotation.command("status", epilog="""Examples:

  sealer rotation status secrets/

  sealer rotation status app.sealed.yaml --format json --due-within 14d
""")
def status(
    paths: Annotated[list[Path] | None, Argument(metavar="[PATH...]",
                                                       help="Sealed files or directories.")
                     ] = None,
    fmt: Annotated[str, Option("--format", "-f", help="text or json.")] = "text",
    due_within: Annotated[str, Option("--due-within", help="What counts as due soon.")
                          ] = "7d",
) -> int:
    """Last rotation, next window and state of every secret with rotation settings.

    The window opens at the due date and closes after the schedule's duration; a secret is
    `due` while it is open and `overdue` after. Needs no key. Exits 1 when anything is overdue,
    expired or has an invalid schedule, so CI can gate on it.
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
    return 1 if any(r.state in ("overdue", "expired", "invalid") for r in rows) else 0


def _table(rows: list[Any]) -> str:
    head = ("FILE", "KEY", "SCHEDULE", "ROTATED", "NEXT WINDOW (UTC)", "DAYS", "STATE")
    cells = [head] + [(r.file, r.key, r.schedule or "-", r.rotated_at or "-",
                       f"{r.window_start}/{r.window_end}" if r.window_start else "-",
                       "-" if r.days_left is None else str(r.days_left), r.state) for r in rows]
    from ..printable import printable

    cells = [tuple(printable(c) for c in row) for row in cells]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                   + "\n" for row in cells)


@rotation.command("configure", epilog="""Examples:

  sealer rotation configure app.sealed.yaml api.token --every 30d

  sealer rotation configure app.sealed.yaml api.token --schedule 'rate(30 days)'

  sealer rotation configure app.sealed.yaml api.token --schedule 'cron(0 4 ? * SUN *)' \\
      --duration 2h --no-rotate-immediately

  sealer rotation configure db.sealed.yaml db --every 90d --rotator postgres --admin db_admin

  sealer rotation configure db.sealed.yaml db --every 30d --rotator postgres \\
      --strategy alternating-users --admin admin.sealed.yaml#postgres
""")
def configure(
    file: FileArgument,
    key: Annotated[str, Argument(metavar="KEY.PATH", help="The secret.")],
    every: Annotated[str | None, Option("--every", help="Interval: 12h, 30d, 12w.")
                     ] = None,
    schedule: Annotated[str | None, Option(
        "--schedule", metavar="EXPR", help="Instead of --every, AWS's rate(N hours|days) or "
                                           "cron(0 H DOM MON DOW *), in UTC.")] = None,
    duration: Annotated[str | None, Option(
        "--duration", help="Rotation window from the scheduled time, 1h-24h (AWS's Duration; "
                           "default 1h for hourly schedules, else to the end of the day).")
                        ] = None,
    rotate_immediately: Annotated[bool, Option(
        "--rotate-immediately/--no-rotate-immediately",
        help="Rotate once now, as AWS's RotateImmediately (default), or only record the "
             "schedule.")] = True,
    rotator: Annotated[str | None, Option("--rotator", help="postgres, mysql or command; "
                                                "without it, rotate only generates a value.")
                       ] = None,
    strategy: Annotated[str | None, Option(
        "--strategy", help="postgres, mysql: single-user or alternating-users.")] = None,
    admin: Annotated[str | None, Option(
        "--admin", metavar="REF",
        help="postgres, mysql: admin credential, KEYPATH or OTHERFILE#KEYPATH.")] = None,
    command: Annotated[list[str] | None, Option("--command", metavar="PROG",
                                                      help="command: argv, repeatable.")] = None,
    generator: Annotated[str | None, Option("--generator",
                                                  help="Generator kind (default password).")
                         ] = None,
    length: Annotated[int | None, Option(
        "--length", help="Length of generated passwords (for postgres, mysql: the new ones)."
    )] = None,
    exclude_characters: Annotated[str | None, Option(
        "--exclude-characters", help="Characters generated passwords must not contain.")] = None,
    keep: Annotated[int | None, Option(
        "--keep", help="Unlabelled earlier versions kept (default: sealer.yaml keep_versions, "
                       "else 3).")] = None,
    identity: IdentityOption = None,
) -> None:
    """Set a secret's rotation schedule and rotator (authenticated metadata; needs a key).

    Then rotates it once, as AWS's RotateImmediately; --no-rotate-immediately only records the
    settings. A failed rotation keeps the settings and can be resumed with `sealer rotate`.
    """
    from ..rotation.protocol import configure_rotation
    from ..rotation.protocol import rotate as do_rotate

    settings: dict[str, Any] = {k: v for k, v in (("strategy", strategy), ("admin", admin),
                                                  ("command", command)) if v}
    options = {k: v for k, v in (("length", length),
                                 ("exclude_characters", exclude_characters)) if v}
    gen: dict[str, Any] | None = None
    if rotator in ("postgres", "mysql") and options:
        settings["password"] = options  # the database rotators make their own passwords
    elif generator or options:
        gen = {"kind": generator or "password", **options}
    ids = identities(identity)
    configure_rotation(file, key, ids, every=every, schedule=schedule, duration=duration,
                       rotator=rotator, settings=settings, generator=gen, keep=keep)
    window = f", window {duration}" if duration else ""
    note(f"{file}: {key}: rotation {f'every {every}' if every else schedule}{window}")
    if rotate_immediately:
        outcome = do_rotate(file, key, ids,
                            progress=lambda step: note(f"{file}: {key}: {step} done"))
        note(f"{file}: {key} {outcome.action} (version {outcome.version})")


@app.command(epilog="""Examples:

  sealer versions db.sealed.yaml

  sealer versions db.sealed.yaml db

  sealer versions db.sealed.yaml --format json    # [{file, key, id, stages, created}, …]
""")
def versions(
    file: FileArgument,
    key: Annotated[str | None, Argument(metavar="[KEY.PATH]", help="One secret.")] = None,
    fmt: Annotated[str, Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """List the versions of rotated secrets: ids, labels, creation times (never values)."""
    from ..document import read_sealed
    from ..paths import format_path, parse_path
    from ..rotation.versions import current_of, rotation_entries

    check_format(fmt, ("text", "json"))
    doc = read_sealed(file)
    wanted = format_path(parse_path(key)) if key else None
    rows: list[dict[str, Any]] = []
    for text, rot in rotation_entries(doc.metadata):
        if wanted and text != wanted:
            continue
        current = current_of(rot, doc.header.created)
        rows.append({"file": str(file), "key": text, "id": current.id,
                     "stages": ["CURRENT", *current.labels], "created": current.created})
        rows += [{"file": str(file), "key": text, "id": e["id"], "stages": list(e["stages"]),
                  "created": e["created"]} for e in doc.versions.get(text, [])]
    if fmt == "json":
        write_stdout(dump(rows, "json"))
        return
    from ..printable import printable

    sys.stdout.write("".join(printable(f"{r['key']}\t{r['id']}\t{','.join(r['stages']) or '-'}"
                                       f"\t{r['created'] or '-'}") + "\n" for r in rows))


@app.command(epilog="""Examples:

  sealer stage db.sealed.yaml db CURRENT --to 5f1c9a7e-…     # make that version current

  sealer stage db.sealed.yaml db stable --to CURRENT          # a label of your own

  sealer stage db.sealed.yaml db stable --from 5f1c9a7e-…     # remove it again
""")
def stage(
    file: FileArgument,
    key: Annotated[str, Argument(metavar="KEY.PATH", help="The rotated secret.")],
    label: Annotated[str, Argument(metavar="LABEL",
                                         help="CURRENT, PREVIOUS or a label of your own.")],
    to: Annotated[str | None, Option(
        "--to", metavar="VERSION", help="Attach the label to this version (an id, or a label "
                                        "it has, e.g. PREVIOUS).")] = None,
    from_: Annotated[str | None, Option(
        "--from", metavar="VERSION", help="Remove the label from this version.")] = None,
    identity: IdentityOption = None,
) -> None:
    """Move a staging label between versions (AWS: UpdateSecretVersionStage).

    Versions never change; labels move. Moving CURRENT makes that version's value the one in
    the file (the old CURRENT becomes PREVIOUS) and, for a secret with a rotator, sets it on the
    target and tests it first. PENDING is moved only by `sealer rotate`. Labelled versions are
    never pruned.
    """
    from ..rotation.protocol import move_stage

    outcome = move_stage(file, key, label, to_version=to, from_version=from_,
                         identities=identities(identity))
    for line in outcome.notes:
        note(f"{file}: {key}: {line}")
    where = f"on version {outcome.version}" if to is not None else "removed"
    note(f"{file}: {key}: {label} {where}" if outcome.action != "unchanged"
         else f"{file}: {key}: {label} unchanged")


@app.command(epilog="""Example:

  sealer rollback db.sealed.yaml db
""")
def rollback(
    file: FileArgument,
    key: Annotated[str, Argument(metavar="KEY.PATH", help="The secret.")],
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
