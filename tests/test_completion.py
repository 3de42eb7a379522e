"""Shell completion as the README documents it: the script `_SEALER_COMPLETE=source_bash sealer`
prints, sourced by a real bash, completes commands and options through the console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import require_tool


def complete(words: str, tmp_path: Path) -> list[str]:
    bash = require_tool("bash")
    sealer = Path(sys.executable).parent / "sealer"
    assert sealer.exists(), "the console script is installed with the package"
    env = {**os.environ, "PATH": f"{sealer.parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(tmp_path), "SHELL": shutil.which("bash") or "bash"}
    shown = subprocess.run([str(sealer)], env={**env, "_SEALER_COMPLETE": "source_bash"},
                           capture_output=True, text=True, check=False)  # as README says
    assert shown.returncode == 0, shown.stderr
    script = shown.stdout
    assert "complete" in script
    program = (f"{script}\nCOMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n"
               "_sealer_completion sealer; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run([bash, "--norc", "-c", program], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


def test_bash_completes_commands_and_options(tmp_path: Path) -> None:
    assert {"rekey", "render", "recipients"} <= set(complete("sealer re", tmp_path))
    assert "--in-place" in complete("sealer seal --in", tmp_path)
