"""`sealer access`, `sealer access diff BASE..HEAD`, `sealer report` and `sealer exposure`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from .common import IdentityOption, check_format, identities, note, write_stdout
from .declare import Argument, Option, app


@app.command(epilog="""Examples:

  sealer access                                   # every sealed file below here

  sealer access secrets/prod --format json

  sealer access diff origin/main..HEAD            # what this branch changes

  sealer access diff origin/main...HEAD --format markdown > access.md

  sealer access diff origin/main..HEAD --fail-on read-gain:prod   # exit 1 on a new prod reader
""")
def access(
    args: Annotated[list[str] | None, Argument(
        metavar="[PATH...] | diff BASE..HEAD [PATH...]",
        help="Sealed files or directories (default: the current directory); or `diff` and "
             "two git revisions.")] = None,
    fmt: Annotated[str, Option(
        "--format", "-f", help="text or json; for diff also sarif and markdown.")] = "text",
    fail_on: Annotated[list[str] | None, Option(
        "--fail-on", metavar="read-gain[:ENV]",
        help="diff: exit 1 when a principal gains read (in environment ENV). "
             "Repeatable.")] = None,
) -> int:
    """Who can read each sealed file (its recipients, as principals of sealer.yaml; keys no
    principal has are shown as unknown with a fingerprint), who must (the environment's
    required principals), who may sign (its signers) and who did — per file and per
    environment, without any key.

    `diff BASE..HEAD` shows what a change does to access: principals gaining or losing read
    per file, signers gained or lost, required principals added or removed. `BASE...HEAD`
    compares from the merge base, as a pull request does.
    """
    items = list(args or [])
    if items and items[0] == "diff":
        return _diff(items[1:], fmt, fail_on or [])
    if fail_on:
        from ..errors import UsageError

        raise UsageError("--fail-on goes with `sealer access diff BASE..HEAD`")
    from ..accessmap import access_map
    from ..accessreport import MAP_FORMATS, render_map

    check_format(fmt, MAP_FORMATS)
    write_stdout(render_map(access_map([Path(p) for p in items]), fmt))
    return 0


def _diff(items: list[str], fmt: str, fail_on: list[str]) -> int:
    from ..accessmap import access_diff, parse_fail_on
    from ..accessreport import DIFF_FORMATS, render_diff
    from ..errors import UsageError
    from ..git import repository_root

    check_format(fmt, DIFF_FORMATS)
    gates = parse_fail_on(fail_on)
    if not items:
        raise UsageError("which revisions? sealer access diff BASE..HEAD",
                         hint="e.g. sealer access diff origin/main..HEAD")
    diff = access_diff(items[0], [Path(p) for p in items[1:]])
    write_stdout(render_diff(diff, fmt, root=repository_root(Path.cwd()).resolve()))
    failed = [env or "any environment" for env in gates if diff.gains_read(env)]
    if failed:
        note(f"a principal gains read ({', '.join(failed)}): failing as --fail-on asks")
        return 1
    return 0


@app.command(epilog="""Example:

  sealer report -o report.html secrets/     # open report.html in a browser

  sealer report -o report.html --exposure   # with your key: what removed recipients know
""")
def report(
    paths: Annotated[list[Path] | None, Argument(
        metavar="[PATH...]", help="Sealed files or directories (default: the current "
                                  "directory).")] = None,
    output: Annotated[Path, Option(
        "--output", "-o", metavar="FILE", help="Where to write the HTML page.")] = Path(
        "report.html"),
    with_exposure: Annotated[bool, Option(
        "--exposure", help="Add the exposure list (`sealer exposure`): needs a key that "
                           "opens the history.")] = False,
    identity: IdentityOption = None,
) -> int:
    """One self-contained HTML page: the access matrix (principals by environment and file,
    with totals), the rotation calendar (last rotated, next due, overdue in red) and, with
    --exposure and your key, what former recipients could know. No script, nothing loaded
    from the network; without --exposure no key is used."""
    from ..accesshtml import write_report

    found = None
    if with_exposure:
        from ..exposure import exposure as find_exposure

        found = find_exposure(list(paths or []), identities(identity))
    count = write_report(list(paths or []), output, exposure=found)
    note(f"wrote {output}: {count} sealed file{'s' if count != 1 else ''}")
    return 0


@app.command(epilog="""Examples:

  sealer exposure secrets/prod          # what removed recipients could still know

  sealer exposure --format json | jq -r '.exposures[] | "\\(.file) \\(.key)"' | sort -u
""")
def exposure(
    paths: Annotated[list[Path] | None, Argument(
        metavar="[PATH...]", help="Sealed files or directories (default: the current "
                                  "directory).")] = None,
    fmt: Annotated[str, Option("--format", "-f", help="text or json.")] = "text",
    identity: IdentityOption = None,
) -> int:
    """For each current value, who is no longer a recipient but could know it: the same value
    was sealed for them in an earlier commit (with the commit where that began). Needs a key
    that opens the history; every version read is audited. Rotate what they could know."""
    from ..exposure import exposure as find_exposure

    check_format(fmt, ("text", "json"))
    found = find_exposure(list(paths or []), identities(identity))
    if fmt == "json":
        import json

        write_stdout(json.dumps(found.as_json(), indent=2, ensure_ascii=False) + "\n")
        return 0
    from ..printable import printable

    for e in found.exposures:
        write_stdout(printable(f"{e.file} {e.key}: {e.principal} could know it "
                               f"(since {e.since}, {e.date})") + "\n")
    keys = sorted({(e.file, e.key) for e in found.exposures})
    write_stdout(f"{len(keys)} value{'s' if len(keys) != 1 else ''} a former recipient could "
                 f"know, in {found.files} sealed file{'s' if found.files != 1 else ''} "
                 f"({found.versions} earlier version{'s' if found.versions != 1 else ''} "
                 "opened" + (f", {found.skipped} not opened" if found.skipped else "") + ")\n")
    for file, key in keys:
        note(printable(f"hint: rotate it: sealer rotate {file} {key} (or sealer set)"))
    return 0
