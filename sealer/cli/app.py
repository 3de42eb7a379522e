"""The Typer application: one module per group of commands registers itself here."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import Any

import typer

from .._version import __version__

app = typer.Typer(
    name="sealer",
    help="Encrypted secrets in git: seal YAML for named age/SSH keys, read and change it, "
         "and keep every change reviewable.\n\nRun `sealer COMMAND --help` for examples.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sealer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Encrypted secrets in git."""


from . import (  # noqa: E402,F401  (registration)
    cmd_access,
    cmd_audit,
    cmd_check,
    cmd_edit,
    cmd_gen,
    cmd_git,
    cmd_history,
    cmd_import,
    cmd_keys,
    cmd_render,
    cmd_rotate,
    cmd_seal,
    cmd_serve,
    cmd_values,
)


def command_for(argv: Sequence[str]) -> Any:
    """The click command to run `argv` with.

    Typer turns every registered command into a click command on each run (about 7 ms for all
    of them, paid on every pre-commit hook call). When argv starts with a command name, build a
    root group holding only that command; anything else (help, --version, typos) gets the full
    application, so its help and "no such command" errors are unchanged.
    """
    from typer.main import get_command, get_command_name

    name = argv[0] if argv and not argv[0].startswith("-") else None
    commands = [c for c in app.registered_commands
                if (c.name or get_command_name(c.callback.__name__ if c.callback else "")) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return _prepared(get_command(app))
    lean = copy.copy(app)
    lean.registered_commands, lean.registered_groups = commands, groups
    return _prepared(get_command(lean))


def _prepared(command: Any) -> Any:
    """`command` and its subcommands, made to leave two things to sealer's own handler.

    - An unreadable file is the library's to report ("cannot read: Permission denied", exit 1,
      README "Exit codes"), not click's "Path … is not readable" usage error (exit 2).
    - A KeyboardInterrupt a command raises is kept (click turns it into a bare exit code
      130), so that what it carries reaches the user (an interrupted rotation's state).
    """
    for param in command.params:
        if getattr(param.type, "readable", None) is True:
            param.type.readable = False
    if command.callback is not None:
        command.callback = _keeping_interrupts(command.callback)
    for sub in getattr(command, "commands", {}).values():
        _prepared(sub)
    return command


def _keeping_interrupts(callback: Callable[..., Any]) -> Callable[..., Any]:
    from . import signals

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt as exc:
            signals.remember(exc)
            raise
    return run
