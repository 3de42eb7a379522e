"""The `sealer` command: argument parsing and printing over the library, one handler for errors.

Exit codes (README "Exit codes"): 0 ok, 1 error, 2 usage, 3 no identity can decrypt,
4 integrity failure, 70 internal error, 130 interrupted.

Before anything is read, core dumps are disabled (sealer.fsio.disable_core_dumps) and the
private directories of `sealer edit` runs that were killed with SIGKILL are removed
(sealer.fsio.remove_abandoned_tempdirs: one directory listing when there are none).

SIGINT, SIGTERM and SIGHUP at any moment exit 130 with one line and every clean-up run
(sealer.cli.signals, docs/FAULTS.md); whatever a command raised once one arrived counts as the
interruption.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, SealerError
from . import signals

__all__ = ["main"]


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
    argv = list(sys.argv[1:] if argv is None else argv)
    from .fast import resolve

    call = resolve(argv)  # a hot command's documented form: no Typer (sealer.cli.fast)
    if call is not None:
        function, kwargs = call
        result = function(**kwargs)
        return result if isinstance(result, int) else 0
    from .app import command_for

    usage_error, no_args, abort = _click_errors()
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
    except abort as exc:  # click's form of Ctrl-C (and of EOF at a prompt)
        context = exc.__context__
        raise signals.interrupt_of(context if isinstance(context, KeyboardInterrupt)
                                   else None) from None
    if result == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into a silent Exit(130)
        raise signals.interrupt_of()
    return result if isinstance(result, int) else 0


def _require_posix() -> None:
    """sealer needs POSIX (fcntl locks, private modes, execve): elsewhere, one clear line."""
    if os.name != "posix":
        sys.stderr.write(f"sealer: error: sealer runs on POSIX systems only (Linux, macOS, the "
                         f"BSDs), not on {sys.platform}; on Windows, use it in WSL\n")
        sys.exit(EXIT_ERROR)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run, map every outcome to an exit code, never show a traceback.

    SIGINT, SIGTERM and SIGHUP at any moment exit 130 (sealer.cli.signals). Called with
    `argv` (in-process) it raises SystemExit, the signal dispositions restored; without, it
    owns the process and ends it."""
    signals.hold()  # first: before anything is imported or read
    try:
        code = _outcome(argv)
    except KeyboardInterrupt as exc:  # a signal just as the command returned or failed
        signals.disarm()
        code = _interrupted(exc)
    mask = signals.block()
    if argv is None:
        _exit(code)
    late = signals.late()  # a signal the command did not end with
    signals.restore(mask)
    sys.exit(_late(code) if late else code)


def _exit(code: int) -> NoReturn:
    """End the process with the signals blocked: atexit handlers, flush, then os._exit, so no
    part of the interpreter's shutdown can be interrupted."""
    import atexit

    atexit._run_exitfuncs()
    _flush()
    if signals.late():
        code = _late(code)
        _flush()
    os._exit(code)


def _late(code: int) -> int:
    if code != EXIT_INTERRUPTED:
        _say("error", "interrupted as the command ended")
    return EXIT_INTERRUPTED


def _flush() -> None:
    import contextlib

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing reaches it
            stream.flush()


def _outcome(argv: Sequence[str] | None) -> int:
    try:
        _require_posix()  # before anything that imports fcntl or uses POSIX signals
        signals.arm()
        from ..fsio import disable_core_dumps, remove_abandoned_tempdirs

        disable_core_dumps()
        remove_abandoned_tempdirs()
        code = _run(argv)
    except BaseException as exc:
        signals.disarm()  # the report is not interrupted: a signal now is only recorded
        return _failure(exc)
    signals.disarm()  # from here on a signal is only recorded (`late`)
    return code


def _failure(exc: BaseException) -> int:
    """The exit code for what the command raised. After a signal, whatever it raised is an
    interruption (a library may turn the KeyboardInterrupt into an error of its own)."""
    if isinstance(exc, SystemExit):  # a command's own exit code (`exec --file`)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR if exc.code else 0
    if isinstance(exc, SealerError):
        code = report(exc)
        return EXIT_INTERRUPTED if signals.received() else code
    if isinstance(exc, KeyboardInterrupt):
        return _interrupted(exc)
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return EXIT_INTERRUPTED if signals.received() else EXIT_ERROR
    if signals.received():  # an Exception, or pyo3's PanicException (a BaseException)
        return _interrupted(KeyboardInterrupt())
    if not isinstance(exc, Exception):
        raise exc
    return _internal(exc)


def _interrupted(exc: KeyboardInterrupt) -> int:
    """Say what an interrupted command left: a KeyboardInterrupt carrying a SealerError (an
    interrupted rotation says what it recorded) shows it; else nothing was written."""
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], SealerError) else None
    if detail is not None:
        report(detail)
    else:
        _say("error", "interrupted; nothing was written")
    return EXIT_INTERRUPTED


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
