"""The hot commands without Typer: parse their documented forms from the generated table
(sealer/cli/fastspec.py, made from the Typer application by sealer.cli.fastgen) and call the
command's function directly, sparing the ~27 ms Typer and click cost to import.

`parse` answers only when it is sure click would read `argv` the same way: long options with
a separate or `=` value, two-letter short options, flags, repeated options, `--`, and the
arguments click's unpacking gives. Everything else — `--help`, an unknown or misspelt
option, a missing value or argument, a value that looks like an option, `-abc` clusters, a
bad integer, a shell-completion request — returns None and goes to Typer unchanged, so help,
errors and completion are Typer's. tests/test_fast_cli.py holds this to Typer over every
documented form and many generated ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Call = tuple[Callable[..., Any], dict[str, Any]]  # the function and its keyword arguments


class _Decline(Exception):
    """This form is Typer's to parse."""


def parse(argv: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the command's table entry, the keyword arguments Typer would call it with), or None
    when `argv` is not a form this parser reads exactly as Typer does."""
    import os

    if "_SEALER_COMPLETE" in os.environ:  # shell completion asking: click answers it
        return None
    from .fastspec import COMMANDS

    words = 2 if list(argv[:1]) == ["git"] else 1
    spec = COMMANDS.get(" ".join(argv[:words]))
    if spec is None:
        return None
    try:
        return spec, _kwargs(spec, list(argv[words:]))
    except _Decline:
        return None


def resolve(argv: Sequence[str]) -> Call | None:
    """The function to run for `argv` and its arguments, or None for Typer."""
    parsed = parse(argv)
    if parsed is None:
        return None
    spec, kwargs = parsed
    from importlib import import_module

    return getattr(import_module(spec["module"]), spec["function"]), kwargs


def _kwargs(spec: dict[str, Any], args: list[str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if spec["dashdash"]:  # sealer exec: the words after the first -- are the command
        from .declare import COMMAND_KEY, Context

        meta: dict[str, Any] = {}
        if "--" in args:
            at = args.index("--")
            meta[COMMAND_KEY] = args[at + 1:]
            args = args[:at]
        kwargs[spec["context"]] = Context(meta)
    elif spec["context"] is not None:
        raise _Decline
    options: dict[str, tuple[str, str, bool, bool]] = spec["options"]
    given: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            positional.extend(args[i:])
            break
        if word[:1] != "-" or word == "-":
            positional.append(word)
            continue
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if name not in options or (not name.startswith("--") and len(name) != 2):
            raise _Decline  # unknown, --help, a cluster, -x=value: Typer says what it is
        dest, kind, flag, repeated = options[name]
        if flag:
            if eq:
                raise _Decline  # click: "option does not take a value"
            given[dest] = True
            continue
        if not eq:
            if i >= len(args) or _looks_like_option(args[i]):
                raise _Decline
            value = args[i]
            i += 1
        converted = _convert(value, kind)
        if repeated:
            given.setdefault(dest, []).append(converted)
        else:
            given[dest] = converted  # given twice: the last wins, as in click
    kwargs.update(_arguments(spec["arguments"], positional))
    defaults: dict[str, Any] = spec["defaults"]
    for dest, default in defaults.items():
        if dest in kwargs:
            continue
        if dest in given:
            kwargs[dest] = given[dest]
            continue
        kind = _kind_of(spec, dest)
        if isinstance(default, list):
            kwargs[dest] = [_convert(v, kind) for v in default]
        else:
            kwargs[dest] = None if default is None else _convert(default, kind)
    return kwargs


def _looks_like_option(word: str) -> bool:
    """A value click would take, but that a user more likely meant as an option."""
    return word[:1] == "-" and word != "-"


def _convert(value: Any, kind: str) -> Any:
    if kind == "str" or kind == "bool":
        return value
    if kind == "path":
        from pathlib import Path

        return Path(value)
    try:  # int, as click converts it
        return int(value)
    except ValueError:
        raise _Decline from None


def _kind_of(spec: dict[str, Any], dest: str) -> str:
    for argument in spec["arguments"]:
        if argument[0] == dest:
            return str(argument[1])
    for name, kind, _flag, _repeated in spec["options"].values():
        if name == dest:
            return str(kind)
    return "str"


def _arguments(arguments: Sequence[tuple[str, str, int, bool]],
               positional: list[str]) -> dict[str, Any]:
    """click's unpacking, for the shapes the hot commands have: single arguments in order, or
    one argument taking every word. Missing required or extra words: Typer's error."""
    if any(nargs == -1 for _, _, nargs, _ in arguments):
        if len(arguments) != 1:
            raise _Decline  # single arguments around the rest: not a shape fastgen produces
        name, kind, _nargs, required = arguments[0]
        if required and not positional:
            raise _Decline  # "Missing argument"
        return {name: [_convert(word, kind) for word in positional]} if positional else {}
    if len(positional) > len(arguments):
        raise _Decline  # "Got unexpected extra argument"
    out: dict[str, Any] = {}
    for (name, kind, _nargs, required), word in zip(arguments, positional + [None] * (
            len(arguments) - len(positional)), strict=True):
        if word is not None:
            out[name] = _convert(word, kind)
        elif required:
            raise _Decline  # "Missing argument"
    return out
