"""The hot commands' fast path (sealer.cli.fast) reads every form exactly as Typer does.

Typer stays the one definition of the CLI: the fast path's table is generated from the Typer
application (sealer.cli.fastgen) and must be current, and for every documented form of every
hot command — README, docs/, the commands' own examples — and for thousands of generated
ones, the fast parser either declines (Typer runs) or produces exactly the keyword arguments
Typer would call the command's function with. Typer's side is the real Typer application,
with each command's function swapped for a recorder.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import random
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sealer.cli import fast, fastgen
from sealer.cli.declare import COMMAND_KEY, Context

ROOT = Path(__file__).resolve().parent.parent
HOT = [" ".join(path) for path in fastgen.HOT]


def test_the_table_is_generated_from_the_typer_application() -> None:
    assert fastgen.TARGET.read_text(encoding="utf-8") == fastgen.generate(), (
        "sealer/cli/fastspec.py is out of date: run `python -m sealer.cli.fastgen`")


class TyperReader:
    """The real Typer application, each hot command's function replaced by a recorder."""

    def __init__(self) -> None:
        from typer.main import get_command

        from sealer.cli.app import _prepared, app

        self.calls: list[dict[str, Any]] = []
        self.command = _prepared(get_command(self._recording(app)))

    def _recording(self, typer_app: Any) -> Any:
        lean = copy.copy(typer_app)
        lean.registered_commands = [self._recorder(info) for info in typer_app.registered_commands]
        groups = []
        for info in typer_app.registered_groups:
            group = copy.copy(info)
            group.typer_instance = self._recording(info.typer_instance)
            groups.append(group)
        lean.registered_groups = groups
        return lean

    def _recorder(self, info: Any) -> Any:
        run = info.callback
        calls = self.calls

        def record(*args: Any, **kwargs: Any) -> None:
            assert not args
            calls.append(kwargs)

        record.__signature__ = inspect.signature(run)  # type: ignore[attr-defined]
        record.__annotations__ = run.__annotations__
        record.__name__, record.__doc__ = run.__name__, run.__doc__
        recorded = copy.copy(info)
        recorded.callback = record
        return recorded

    def read(self, argv: list[str]) -> dict[str, Any] | None:
        """The keyword arguments Typer calls the command with, or None (an error, help)."""
        import typer

        from sealer.cli import _click_errors

        usage_error = _click_errors()[0]
        self.calls.clear()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                self.command.main(args=list(argv), prog_name="sealer", standalone_mode=False)
            except (usage_error, typer.Exit):
                return None
        if not self.calls:
            return None  # help printed
        assert len(self.calls) == 1
        return _comparable(self.calls[0])


def _comparable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The click context (exec) as what the command reads of it."""
    out = {}
    for name, value in kwargs.items():
        if isinstance(value, Context) or hasattr(value, "meta"):
            value = ("meta", value.meta.get(COMMAND_KEY))
        out[name] = value
    return out


@pytest.fixture(scope="module")
def typer_reader() -> TyperReader:
    return TyperReader()


def _fast(argv: list[str]) -> dict[str, Any] | None:
    parsed = fast.parse(argv)
    return None if parsed is None else _comparable(parsed[1])


# -- documented forms ----------------------------------------------------------------------

_FORM = re.compile(r"\bsealer (" + "|".join(re.escape(h) for h in HOT) + r")(?= |$)([^\n]*)")
_CUT = re.compile(r"\s(?:\||&&|;|#|>|<|2>)|[`)]")


def _texts() -> Iterator[tuple[str, str]]:
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        yield path.name, path.read_text(encoding="utf-8")
    from typer.main import get_command

    from sealer.cli.app import app

    root: Any = get_command(app)
    for name in HOT:
        command = root
        for word in name.split():
            command = command.commands[word]
        yield f"`sealer {name} --help`", (command.epilog or "") + "\n" + (command.help or "")


def documented_forms() -> list[tuple[str, list[str]]]:
    forms: dict[tuple[str, ...], str] = {}
    for where, text in _texts():
        for match in _FORM.finditer(text):
            rest = _CUT.split(match.group(2), maxsplit=1)[0]
            try:
                words = shlex.split(rest)
            except ValueError:
                continue
            if any(w in ("…", "...", "FILE...", "[ARGS...]") or "…" in w for w in words):
                continue  # a synopsis, not a form
            forms.setdefault((*match.group(1).split(), *words), where)
    return [(where, list(argv)) for argv, where in forms.items()]


DOCUMENTED = documented_forms()


def test_the_documentation_has_forms_of_every_hot_command() -> None:
    seen = {next(h for h in HOT if " ".join(argv).startswith(h + " ") or " ".join(argv) == h)
            for _, argv in DOCUMENTED}
    assert seen == set(HOT), f"no documented form of {set(HOT) - seen}"
    assert len(DOCUMENTED) > 60


def test_every_documented_form_is_read_as_typer_reads_it(typer_reader: TyperReader) -> None:
    declined = []
    for where, argv in DOCUMENTED:
        expected = typer_reader.read(argv)
        got = _fast(argv)
        if got is None:
            if expected is not None:
                declined.append((where, argv))
            continue
        assert got == expected, f"{where}: sealer {shlex.join(argv)}"
    # every documented form Typer accepts runs without Typer, but for an option value that
    # looks like an option (which the fast path leaves to Typer on purpose)
    odd = [(where, argv) for where, argv in declined if not _dashed_value(argv)]
    assert not odd, f"documented forms the fast path leaves to Typer: {odd}"


def _dashed_value(argv: list[str]) -> bool:
    from sealer.cli.fastspec import COMMANDS

    words = 2 if argv[0] == "git" else 1
    options = COMMANDS[" ".join(argv[:words])]["options"]
    rest = argv[words:]
    return any(word in options and not options[word][2] and rest[i + 1:i + 2] != []
               and rest[i + 1].startswith("-") and rest[i + 1] != "-"
               for i, word in enumerate(rest))


# -- generated forms -----------------------------------------------------------------------

VALUES = ["app.sealed.yaml", "-", "", "db.password", "a b", "5", "-x", "--", "k=v", "json",
          "--force", "0x10", " 7", "é", "-5"]
JUNK = ["-h", "--help", "--nope", "-zz", "-fjson", "-f=json", "--force=1", "--", "-", "--=x",
        "--version", "-i", "---x"]


def _generated(name: str, spec: dict[str, Any], rng: random.Random) -> list[str]:
    words = name.split()
    if rng.random() < 0.7:  # the arguments a call needs, then anything
        for _arg, _kind, nargs, required in spec["arguments"]:
            if required or rng.random() < 0.5:
                words.extend(rng.choice(VALUES[:6]) for _ in range(1 if nargs == 1 else
                                                                    rng.randrange(1, 4)))
    spellings = list(spec["options"])
    for _ in range(rng.randrange(0, 8)):
        roll = rng.random()
        if roll < 0.35:
            words.append(rng.choice(VALUES))
        elif roll < 0.9:
            opt = rng.choice(spellings)
            _dest, _kind, flag, _many = spec["options"][opt]
            if flag:
                words.append(opt)
            elif opt.startswith("--") and rng.random() < 0.3:
                words.append(f"{opt}={rng.choice(VALUES)}")
            else:
                words.extend([opt, rng.choice(VALUES)])
        else:
            words.append(rng.choice(JUNK))
    return words


@pytest.mark.parametrize("name", HOT)
def test_generated_forms_are_read_as_typer_reads_them(name: str,
                                                      typer_reader: TyperReader) -> None:
    from sealer.cli.fastspec import COMMANDS

    rng = random.Random(f"fast-cli-{name}")
    accepted = refused = 0
    for _ in range(600):
        argv = _generated(name, COMMANDS[name], rng)
        expected = typer_reader.read(argv)
        got = _fast(argv)
        if got is not None:
            assert got == expected, f"sealer {shlex.join(argv)}"
            accepted += 1
        elif expected is None:
            refused += 1
    # the comparison means something: many forms ran fast, and Typer's errors were all left
    # to Typer (a form Typer refuses is never accepted above)
    assert accepted > 60, accepted
    assert refused > 30, refused


@pytest.mark.parametrize("argv", [
    ["get", "--help"], ["get", "f", "k", "-h"], ["get", "f"], ["get", "f", "k", "extra"],
    ["get", "f", "k", "--nope"], ["get", "f", "k", "--format"], ["get", "f", "k", "-fjson"],
    ["get", "f", "k", "--force=yes"], ["seal", "x.yaml", "--threshold", "two"],
    ["unseal"], ["git"], ["git", "setup"], ["git", "textconv"], ["get", "f", "k", "-f", "-x"],
    ["--version"], ["versions", "f"], [],
])
def test_forms_left_to_typer(argv: list[str]) -> None:
    assert fast.parse(argv) is None


def test_completion_requests_are_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fast.parse(["get", "f", "k"]) is not None
    monkeypatch.setenv("_SEALER_COMPLETE", "complete_bash")
    assert fast.parse(["get", "f", "k"]) is None


def test_typer_path_still_reports_what_the_fast_path_declines(tmp_path: Path) -> None:
    """An unknown option of a hot command: Typer's error, sealer's style, exit 2."""
    result = subprocess.run([sys.executable, "-m", "sealer", "get", "a.sealed.yaml", "k",
                             "--nope"], cwd=tmp_path, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("sealer: error: no such option: --nope")

