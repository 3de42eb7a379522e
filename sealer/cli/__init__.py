"""The `sealer` command: argument parsing and printing over the library, one handler for errors.

Exit codes (README "Exit codes"): 0 ok, 1 error, 2 usage, 3 no identity can decrypt,
4 integrity failure, 70 internal error, 130 interrupted.

Before anything is read, core dumps are disabled (sealer.fsio.disable_core_dumps) and the
private directories of `sealer edit` runs that were killed with SIGKILL are removed
(sealer.fsio.remove_abandoned_tempdirs: one directory listing when there are none).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from ..errors import EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, SealerError

__all__ = ["main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: unwind like Ctrl-C so temporary plaintext is removed."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def _say(kind: str, message: str) -> None:
    from ..printable import printable

    sys.stderr.write(f"sealer: {kind}: {printable(message)}\n")


def report(exc: SealerError) -> int:
    _say("error", str(exc))
    if exc.hint:
        _say("hint", exc.hint)
    return exc.exit_code


def _lower(message: str) -> str:
    """Click's "No such option: -x." in sealer's style: "no such option: -x"."""
    message = message.strip().removesuffix(".")
    return message[:1].lower() + message[1:]


def _click_errors() -> tuple[type[Exception], type[Exception], type[Exception]]:
    """Typer 0.29 vendors click as typer._click; older releases use click itself."""
    try:
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
        from typer.exceptions import Abort
    except ImportError:  # pragma: no cover - older typer
        from importlib import import_module

        click = import_module("click.exceptions")
        return click.UsageError, click.NoArgsIsHelpError, click.Abort
    return UsageError, NoArgsIsHelpError, Abort


def _run(argv: Sequence[str] | None) -> int:
    from .app import command_for

    usage_error, no_args, abort = _click_errors()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_for(argv)
    try:
        result = command.main(args=argv, prog_name="sealer", standalone_mode=False)
    except no_args as exc:  # the message is the help text, which rich has already printed
        if message := exc.format_message().strip():  # type: ignore[attr-defined]
            sys.stderr.write(message + "\n")
        return EXIT_USAGE
    except usage_error as exc:
        _say("error", _lower(exc.format_message()))  # type: ignore[attr-defined]
        ctx = exc.ctx  # type: ignore[attr-defined]
        _say("hint", f"see `{ctx.command_path if ctx else 'sealer'} --help`")
        return EXIT_USAGE
    except abort:  # click's form of Ctrl-C (and of EOF at a prompt)
        raise KeyboardInterrupt from None
    if result == EXIT_INTERRUPTED:  # typer 0.29 turns KeyboardInterrupt into a silent Exit(130)
        raise KeyboardInterrupt
    return result if isinstance(result, int) else 0


def _require_posix() -> None:
    """sealer needs POSIX (fcntl locks, private modes, execve): elsewhere, one clear line."""
    if os.name != "posix":
        sys.stderr.write(f"sealer: error: sealer runs on POSIX systems only (Linux, macOS, the "
                         f"BSDs), not on {sys.platform}; on Windows, use it in WSL\n")
        sys.exit(EXIT_ERROR)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run, map every outcome to an exit code, never show a traceback."""
    _require_posix()  # first: what follows imports fcntl and uses POSIX signals
    from ..fsio import disable_core_dumps, remove_abandoned_tempdirs

    disable_core_dumps()
    remove_abandoned_tempdirs()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        code = _run(argv)
    except SealerError as exc:
        code = report(exc)
    except KeyboardInterrupt:
        _say("error", "interrupted; nothing was written")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = 1
        _silence_stdout()
    except Exception as exc:
        code = _internal(exc)
    sys.exit(code)


def _internal(exc: Exception) -> int:
    if os.environ.get("SEALER_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc)
    _say("error", f"unexpected internal error ({type(exc).__name__}); this is a bug in sealer")
    _say("hint", "please report it with the command you ran (never include secrets); "
                 "SEALER_DEBUG=1 shows a traceback")
    return EXIT_INTERNAL


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
