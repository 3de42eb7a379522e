"""The documentation is part of the interface: the quick start runs, every command has help text
with an example, and the README documents every command and exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from sealer import errors
from sealer.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[tuple[str, object]]:
    root = get_command(app)
    out = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        if subs:
            out += [(f"{name} {sub}", c) for sub, c in subs.items()]
        else:
            out.append((name, command))
    return out


@pytest.mark.parametrize(("name", "command"), commands())
def test_every_command_has_help_and_an_example(name: str, command: object) -> None:
    assert (getattr(command, "help", "") or "").strip(), f"{name} has no help text"
    assert "Example" in (getattr(command, "epilog", "") or ""), f"{name} has no example"
    result = subprocess.run([sys.executable, "-m", "sealer", *name.split(), "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Example" in result.stdout


@pytest.mark.parametrize(("name", "command"), commands())
def test_readme_documents_every_command(name: str, command: object) -> None:
    assert f"sealer {name}" in README


def test_readme_lists_every_exit_code() -> None:
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    table = set(map(int, re.findall(r"^\| (\d+) \|", README, flags=re.MULTILINE)))
    assert codes == table


def test_quick_start_demo_runs() -> None:
    """README quick start, command 1 (minus the install): examples/demo.sh end to end."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(["sh", str(ROOT / "examples" / "demo.sh")], capture_output=True,
                            text=True, env=env, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "n3w-passw0rd" in result.stdout and "ENC[str," in result.stdout
    assert "Traceback" not in result.stderr


def test_quick_start_commands_are_in_the_readme() -> None:
    assert "sh examples/demo.sh" in README
    assert "python -m pytest" in README
    assert ".venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest" in (
        ROOT / ".ci" / "run").read_text(encoding="utf-8")
