"""sealer is POSIX-only: the metadata says so, and elsewhere the CLI fails with one clear line
(it used to crash with exit 70 on `import fcntl`). No Windows runs here, so the platform is
simulated in-process: os.name and sys.platform are monkeypatched for the call to main()."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest

from sealer.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_a_non_posix_platform_gets_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "name", "nt")  # simulated Windows
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    captured = capsys.readouterr()
    assert exited.value.code == 1 and captured.out == ""
    assert captured.err == ("sealer: error: sealer runs on POSIX systems only (Linux, macOS, "
                            "the BSDs), not on win32; on Windows, use it in WSL\n")


def test_the_metadata_says_posix_and_names_the_license_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "Operating System :: POSIX" in project["classifiers"]
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
