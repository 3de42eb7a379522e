"""The CLI's declarations, written without importing Typer.

Every command module declares its commands the Typer way — `@app.command(...)` on a function
whose parameters are `Annotated[T, Option("--name", help=…)]` — but with the stand-ins below,
which only record what they are given. `sealer.cli.app` replays the records onto real
`typer.Typer` applications (`build`), so Typer stays the one definition of the CLI: its help,
errors, completion and parsing. What the stand-ins buy is that a command's function can be
imported and called without Typer (~27 ms of imports): `sealer.cli.fast` runs the documented
forms of the hot commands that way, from a table generated from the Typer application
(`sealer.cli.fastgen`) and held to it by tests/test_fast_cli.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

COMMAND_KEY = "sealer.exec.command"
"""Where `sealer exec` finds the words after its first `--` (Context.meta)."""


class OptionDecl:
    """`typer.Option(*decls, **settings)`, recorded. (Plain classes here: a NamedTuple class
    costs a hot command's start-up ~0.1-0.2 ms to create.)"""

    __slots__ = ("decls", "settings")

    def __init__(self, decls: tuple[str, ...], settings: dict[str, Any]) -> None:
        self.decls, self.settings = decls, settings


class ArgumentDecl:
    """`typer.Argument(**settings)`, recorded."""

    __slots__ = ("settings",)

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings


def Option(*decls: str, **settings: Any) -> OptionDecl:
    """Declare an option, as `typer.Option(*decls, **settings)` would."""
    return OptionDecl(decls, settings)


def Argument(**settings: Any) -> ArgumentDecl:
    """Declare an argument, as `typer.Argument(**settings)` would."""
    return ArgumentDecl(settings)


class Context:
    """What a command may ask of its click context: `meta`. Under Typer the real context is
    passed (the parameter is annotated with this class, which app.py maps to typer.Context);
    the fast path passes one of these."""

    def __init__(self, meta: dict[str, Any] | None = None) -> None:
        self.meta: dict[str, Any] = meta if meta is not None else {}


class Command:
    __slots__ = ("callback", "name", "settings")

    def __init__(self, name: str | None, callback: Callable[..., Any],
                 settings: dict[str, Any]) -> None:
        self.name, self.callback, self.settings = name, callback, settings


class App:
    """`typer.Typer(**settings)`, recorded: its commands and its sub-applications, in order."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.commands: list[Command] = []
        self.groups: list[tuple[str, App]] = []

    def command(self, name: str | None = None, **settings: Any) -> Callable[[F], F]:
        """Declare a command, as `typer.Typer.command(name, **settings)` would.

        `words_after_dashdash=True`: everything after the first `--` is kept away from option
        parsing and given to the command in `ctx.meta[COMMAND_KEY]` (`sealer exec`)."""
        def record(callback: F) -> F:
            self.commands.append(Command(name, callback, settings))
            return callback
        return record

    def add_typer(self, sub: App, *, name: str) -> None:
        self.groups.append((name, sub))


app = App()
"""The root application's commands; its own settings (help, --version) are in app.py."""
