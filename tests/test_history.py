"""sealer history against a real git repository: commits, authors, serials and key-level
changes, read without any key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_helpers import run
from sealing import new_identity

from sealer import yamlio
from sealer.files import recipients_add, seal_file, set_value, unset_values
from sealer.history import file_history, repository_history

ALICE, ALICE_R = new_identity()
BOB, BOB_R = new_identity()


def git(repo: Path, *args: str, author: str = "Alice <alice@example.com>") -> None:
    name, email = author.rstrip(">").split(" <")
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
           "GIT_COMMITTER_EMAIL": email, "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    prod = tmp_path / "prod"
    prod.mkdir()
    db = prod / "db.sealed.yaml"
    seal_file(yamlio.dump({"password": "p1", "host": "h"}).encode(), db, source="t",
              recipients=[ALICE_R])
    (tmp_path / "dev.sealed.yaml").write_text(db.read_text())
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "add db")
    set_value(db, "password", "p2", [ALICE])
    git(tmp_path, "commit", "-qam", "rotate", author="Bob <bob@example.com>")
    set_value(db, "port", 5432, [ALICE])
    unset_values(db, ["host"], [ALICE])
    recipients_add(db, [BOB_R], [ALICE])
    git(tmp_path, "commit", "-qam", "port, no host, bob")
    return tmp_path


def test_file_history_names_changed_keys(repo: Path) -> None:
    newest, middle, first = file_history(repo / "prod" / "db.sealed.yaml")
    assert (first.added, first.serial, first.author) == (["password", "host"], 1, "Alice")
    assert (middle.changed, middle.added, middle.serial, middle.author) == (
        ["password"], [], 2, "Bob")
    assert (newest.added, newest.removed, newest.changed) == (["port"], ["host"], [])
    assert newest.recipients_changed and newest.serial == 5
    assert middle.email == "bob@example.com" and len(middle.commit) == 12


def test_key_filter(repo: Path) -> None:
    changes = file_history(repo / "prod" / "db.sealed.yaml", "password")
    assert [c.author for c in changes] == ["Bob", "Alice"]


def test_all_files_and_scope(repo: Path) -> None:
    everything = repository_history(repo)
    assert {c.file for c in everything} == {"prod/db.sealed.yaml", "dev.sealed.yaml"}
    scoped = repository_history(repo, [repo / "prod"])
    assert {c.file for c in scoped} == {"prod/db.sealed.yaml"}


def test_cli(repo: Path) -> None:
    result = run("history", "prod/db.sealed.yaml", "--format", "json", cwd=repo)
    assert result.code == 0 and [c["serial"] for c in json.loads(result.out)] == [5, 2, 1]
    text = run("history", "--all", "prod", "--since", "30d", cwd=repo)
    assert "Bob <bob@example.com>  prod/db.sealed.yaml  serial 2  changed: password" in text.out
    bad = run("history", "--since", "forever", "--all", cwd=repo)
    assert bad.code == 2 and "invalid --since 'forever'" in bad.err
    outside = run("history", Path("/") / "tmp", cwd=Path("/"))
    assert outside.code != 0 and "Traceback" not in outside.err
