"""`sealer history`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from .common import check_format, dump, write_stdout
from .declare import Argument, Option, app

if TYPE_CHECKING:
    from ..git.history import Change


@app.command(epilog="""Examples:

  sealer history secrets/prod/db.sealed.yaml

  sealer history secrets/prod/db.sealed.yaml password --format json

  sealer history --all secrets/prod --since 30d     # who changed prod secrets lately
""")
def history(
    paths: Annotated[list[Path] | None, Argument(
        metavar="[FILE [KEY] | PATH...]", help="A sealed file and optionally a key path; with "
                                               "--all, directories to limit to.")] = None,
    all_files: Annotated[bool, Option(
        "--all", help="Every sealed file in the repository.")] = False,
    since: Annotated[str | None, Option(
        help="Only the last N hours, days or weeks: 12h, 30d, 2w.")] = None,
    fmt: Annotated[str, Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """Each commit that changed sealed files: author, date, commit, serial, and which keys were
    added, removed or changed. Needs no key: a ciphertext changes only when its value does."""
    from ..errors import UsageError
    from ..git.history import file_history, repository_history

    check_format(fmt, ("text", "json"))
    window = _window(since)
    args = list(paths or [])
    if all_files:
        changes = repository_history(Path("."), args, since=window)
    elif not args or len(args) > 2:
        raise UsageError("give one sealed file (and optionally a key path), or --all")
    else:
        key = str(args[1]) if len(args) == 2 else None
        changes = file_history(args[0], key, since=window)
    if fmt == "json":
        write_stdout(dump([c._asdict() for c in changes], "json"))
        return
    from ..printable import printable

    for c in changes:
        write_stdout(printable(_line(c)) + "\n")


def _window(since: str | None) -> timedelta | None:
    from ..times import parse_interval

    return None if since is None else parse_interval(since, what="--since")


def _line(c: Change) -> str:
    parts = [f"{label}: {', '.join(keys)}" for label, keys in
             (("added", c.added), ("changed", c.changed), ("removed", c.removed)) if keys]
    if c.recipients_changed:
        parts.append("recipients changed")
    if c.metadata_changed:
        parts.append("metadata changed")
    serial = f"serial {c.serial}" if c.serial is not None else "deleted"
    return (f"{c.date}  {c.commit}  {c.author} <{c.email}>  {c.file}  {serial}  "
            + ("; ".join(parts) or "no key changes"))
