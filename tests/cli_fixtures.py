"""Fixtures for CLI tests: a demo identity made with `age-keygen` and a sealed example file.

Test modules load them with `pytest_plugins = ["cli_fixtures"]`. The identities are made, and the
example sealed, once per session, then copied into each test's own directory, so every test can
change its files freely.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import EXAMPLE, Demo, make_identity, run


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """Made once: two age-keygen identities and the example sealed for the first."""
    base = tmp_path_factory.mktemp("demo")
    home = tmp_path_factory.mktemp("demo-home")
    recipient = make_identity(base / "alice.key")
    other = make_identity(base / "mallory.key")
    (base / "app.yaml").write_text(EXAMPLE, encoding="utf-8")
    sealed = run("seal", "app.yaml", "-r", recipient, cwd=base,
                 env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})
    assert sealed.code == 0, sealed.err
    return Demo(base, recipient, other)


@pytest.fixture
def demo(demo_template: Demo, tmp_path: Path) -> Demo:
    """A private copy of the demo files in `tmp_path / "work"` (keys stay mode 0600)."""
    work = tmp_path / "work"
    shutil.copytree(demo_template.dir, work)
    return Demo(work, demo_template.recipient, demo_template.other_recipient)


@pytest.fixture
def identity_file(demo: Demo) -> Path:
    """The demo identity made with age-keygen (absolute path)."""
    return demo.key


@pytest.fixture
def sealed_file(demo: Demo) -> Path:
    """The example sealed for the demo identity (absolute path)."""
    return demo.sealed
