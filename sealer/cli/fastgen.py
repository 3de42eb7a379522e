"""Generate sealer/cli/fastspec.py, the table `sealer.cli.fast` parses hot commands with, from
the Typer application itself: `python -m sealer.cli.fastgen` (tests/test_fast_cli.py fails
while the committed table differs from what this prints).

Only what the fast parser models is accepted: strings, integers, paths without checks and
boolean flags; options taking one value, once or repeated; arguments taking one value or all
the rest. A hot command declaring anything else (an environment variable, a callback, a
prompt, a choice, a `--x/--no-x` pair, …) makes this script fail, naming it: either the fast
parser learns it, or the command leaves HOT.
"""

from __future__ import annotations

import sys
from pathlib import Path
from pprint import pformat
from typing import Any

HOT: tuple[tuple[str, ...], ...] = (
    ("get",), ("unseal",), ("render",), ("exec",), ("seal",), ("set",), ("check",),
    ("git", "textconv"), ("git", "merge-driver"),
)
"""The commands `sealer.cli.fast` runs without Typer: the ones scripts, hooks, git and
deploys call many times (docs/PERFORMANCE.md)."""

TARGET = Path(__file__).with_name("fastspec.py")


def _type(param: Any, where: str) -> str:
    kind = type(param.type).__name__
    if kind == "TyperPath" or kind == "Path":
        t = param.type
        if (t.exists or not t.file_okay or not t.dir_okay or t.writable or t.readable
                or t.resolve_path or t.allow_dash or t.type is not None):
            raise SystemExit(f"{where}: a path with checks; teach sealer.cli.fast or drop it")
        return "path"
    simple = {"StringParamType": "str", "IntParamType": "int", "BoolParamType": "bool"}
    if kind in simple:
        return simple[kind]
    raise SystemExit(f"{where}: type {param.type!r} is not one sealer.cli.fast parses")


def _check(param: Any, where: str) -> None:
    unsupported = {
        "envvar": param.envvar, "callback": param.callback, "is_eager": param.is_eager,
        "prompt": getattr(param, "prompt", None), "count": getattr(param, "count", False),
        "secondary_opts": param.secondary_opts, "nargs>1": param.nargs > 1,
    }
    found = [name for name, value in unsupported.items() if value]
    if found:
        raise SystemExit(f"{where}: {', '.join(found)}: not modelled by sealer.cli.fast")


def spec_for(path: tuple[str, ...], command: Any, callback: Any, *,
             dashdash: bool) -> dict[str, Any]:
    where = "sealer " + " ".join(path)
    if (not command.allow_interspersed_args or command.allow_extra_args
            or command.ignore_unknown_options or command.no_args_is_help):
        raise SystemExit(f"{where}: parsing settings sealer.cli.fast does not model")
    arguments: list[tuple[Any, ...]] = []
    options: dict[str, tuple[str, str, bool, bool]] = {}
    defaults: dict[str, Any] = {}
    context = None
    for param in command.params:
        name = param.name
        _check(param, f"{where} {name}")
        kind = _type(param, f"{where} {name}")
        many = param.multiple or param.nargs == -1
        default = list(param.default) if many and param.default is not None else param.default
        if not all(v is None or type(v) in (str, int, bool)
                   for v in (default if isinstance(default, list) else [default])):
            raise SystemExit(f"{where} {name}: default {default!r} is not a literal")
        defaults[name] = default
        if type(param).__name__.endswith("Argument"):
            arguments.append((name, kind, param.nargs, param.required))
            continue
        if kind == "bool" and not param.is_flag:
            raise SystemExit(f"{where} {name}: a boolean that takes a value")
        for opt in param.opts:
            options[opt] = (name, kind, bool(param.is_flag), bool(param.multiple))
    import inspect

    for name, parameter in inspect.signature(callback).parameters.items():
        if name not in defaults:
            context = name  # Typer passes the click context to the one unannotated parameter
            if "Context" not in str(parameter.annotation):
                raise SystemExit(f"{where}: parameter {name} is neither option nor argument")
    if sum(1 for a in arguments if a[2] == -1) > 1:
        raise SystemExit(f"{where}: two arguments taking the rest")
    return {
        "module": callback.__module__,
        "function": callback.__name__,
        "context": context,
        "dashdash": dashdash,
        "arguments": tuple(arguments),
        "options": options,
        "defaults": defaults,
    }


def generate() -> str:
    from typer.main import get_command

    from . import declare
    from .app import ExecCommand, _prepared, app

    root = _prepared(get_command(app))  # as sealer runs it: readability is not checked
    table: dict[str, dict[str, Any]] = {}
    for path in HOT:
        command = root
        declared = declare.app
        for word in path:
            command = command.commands[word]
        for word in path[:-1]:
            declared = dict(declared.groups)[word]
        callback = next(c.callback for c in declared.commands
                        if (c.name or c.callback.__name__.replace("_", "-")) == path[-1])
        table[" ".join(path)] = spec_for(path, command, callback,
                                         dashdash=isinstance(command, ExecCommand))
    body = pformat(table, width=100, sort_dicts=False)
    return (f'"""Generated by `python -m sealer.cli.fastgen` from the Typer application: do not '
            f'edit.\n\nFor each hot command: where its function is, its arguments (name, type, '
            f'nargs, required),\nits options (spelling: name, type, flag, repeatable) and the '
            f'defaults click gives.\n"""\n\nfrom typing import Any\n\n'
            f'COMMANDS: dict[str, dict[str, Any]] = {body}\n')


def main() -> None:
    text = generate()
    if "--check" in sys.argv[1:]:
        if TARGET.read_text(encoding="utf-8") != text:
            raise SystemExit(f"{TARGET} is out of date: run python -m sealer.cli.fastgen")
        return
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
