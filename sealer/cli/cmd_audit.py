"""`sealer audit verify`, `sealer audit repair` and `sealer audit show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from .common import check_format, dump, note, write_stdout
from .declare import App, Option, app

audit_app = App(help="Inspect the hash-chained log of every decryption.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")

LogOption = Annotated[Path | None, Option(
    "--log", metavar="FILE", help="The audit log (default: $SEALER_AUDIT_LOG, else "
                                  "$XDG_STATE_HOME/sealer/audit.log).")]


@audit_app.command("verify", epilog="Example:\n\n  sealer audit verify && echo intact")
def verify(log: LogOption = None) -> int:
    """Check the hash chain: an edited, removed or reordered entry is reported with its line.

    A torn last entry (a write cut short) is reported with its byte offset: `sealer audit
    repair` moves it aside. Prints the head hash: keep it elsewhere to detect entries cut from
    the end.
    """
    from ..audit import log_path
    from ..audit import verify as check_chain

    path = log or log_path()
    count, head = check_chain(path)
    note(f"{path}: {count} entries, chain intact")
    write_stdout(head + "\n")
    return 0


@audit_app.command("repair", epilog="Example:\n\n  sealer audit repair && sealer audit verify")
def repair(log: LogOption = None) -> int:
    """Move a torn last entry (a write cut short by a crash) to a side file beside the log.

    The bytes go to LOG.torn-TIME (mode 0600) and an entry with action "repair" naming that
    file is appended, so the chain stays intact. The next entry written does the same itself.
    """
    from ..audit import log_path
    from ..audit import repair as move_aside

    path = log or log_path()
    side = move_aside(path)
    if side is None:
        note(f"{path}: the last entry is whole: nothing to repair")
    else:
        note(f"{path}: moved {side.stat().st_size} bytes of an incomplete entry to {side}")
    return 0


@audit_app.command("show", epilog="""Examples:

  sealer audit show --file secrets/prod/db.sealed.yaml

  sealer audit show --since 2026-11-01 --format json | jq .
""")
def show(
    log: LogOption = None,
    file: Annotated[Path | None, Option(help="Only this sealed file.")] = None,
    key: Annotated[str | None, Option(help="Only entries naming this key path.")] = None,
    identity: Annotated[str | None, Option(
        help="Only this recipient (public key, or its beginning).")] = None,
    since: Annotated[str | None, Option(help="Only from this time (ISO 8601).")] = None,
    fmt: Annotated[str, Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """List audit entries, filtered by file, key, identity or time."""
    from ..audit import entries, log_path

    check_format(fmt, ("text", "json"))
    wanted = str(file.absolute()) if file else None
    rows = [e for e in entries(log or log_path())
            if (wanted is None or e.get("file") == wanted)
            and (key is None or key in e.get("keys", []))
            and (identity is None or str(e.get("recipient") or "").startswith(identity))
            and (since is None or str(e.get("time", "")) >= since)]
    if fmt == "json":
        write_stdout(dump(rows, "json"))
        return
    from ..printable import printable

    for e in rows:
        who = str(e.get("recipient") or "-")[:24]
        keys = ",".join(map(str, e.get("keys", []))) or "*"
        write_stdout(printable(f"{e.get('time')}  {e.get('action'):<8} {e.get('outcome'):<10} "
                               f"{e.get('user')}@{e.get('host')}  {who}  {e.get('file')}  "
                               f"{keys}") + "\n")
