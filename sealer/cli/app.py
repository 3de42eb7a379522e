"""The Typer application, built from what the command modules declare (sealer.cli.declare)."""

from __future__ import annotations

import copy
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

import typer
from typer.core import TyperCommand

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
    declare,
)


class ExecCommand(TyperCommand):
    """Everything after the first `--` is the command to run, kept away from option parsing
    (`words_after_dashdash=True`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[declare.COMMAND_KEY] = args[at + 1:]
            args = args[:at]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "--", "CMD", "[ARGS]..."]


def _replay(declared: declare.App, into: typer.Typer) -> None:
    """Register what the command modules declared (sealer.cli.declare) on a Typer app."""
    for command in declared.commands:
        settings = dict(command.settings)
        if settings.pop("words_after_dashdash", False):
            settings["cls"] = ExecCommand
        into.command(command.name, **settings)(_typed(command.callback))
    for name, sub in declared.groups:
        group = typer.Typer(**sub.settings)
        _replay(sub, group)
        into.add_typer(group, name=name)


def _typed(callback: Callable[..., Any]) -> Callable[..., Any]:
    """`callback` as Typer reads it: its declare.Option/Argument/Context annotations turned
    into typer.Option/Argument/Context (the function itself is left as it is)."""
    hints = typing.get_type_hints(callback, include_extras=True)
    converted = {name: _typer_annotation(hint) for name, hint in hints.items()}
    signature = inspect.signature(callback)
    parameters = [p.replace(annotation=converted.get(p.name, p.annotation))
                  for p in signature.parameters.values()]

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    run.__annotations__ = converted
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=converted.get("return", signature.empty))
    return run


def _typer_annotation(hint: Any) -> Any:
    if hint is declare.Context:
        return typer.Context
    if typing.get_origin(hint) is not typing.Annotated:
        return hint
    base, *extras = typing.get_args(hint)
    out = []
    for extra in extras:
        if isinstance(extra, declare.OptionDecl):
            out.append(typer.Option(*extra.decls, **extra.settings))
        elif isinstance(extra, declare.ArgumentDecl):
            out.append(typer.Argument(**extra.settings))
        else:
            out.append(extra)
    return typing.Annotated[(base, *out)]


_replay(declare.app, app)


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
