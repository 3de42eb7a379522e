"""sealer history against a real git repository: commits, authors, serials and key-level
changes, read without any key."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run
from sealing import new_identity

from sealer import yamlio
from sealer.files import recipients_add, seal_file, set_value, unset_values
from sealer.git.history import file_history, repository_history

ALICE, ALICE_R = new_identity()
BOB, BOB_R = new_identity()


def git(repo: Path, *args: str, author: str = "Alice <alice@example.com>",
        committed: datetime | None = None, authored: datetime | None = None) -> None:
    name, email = author.rstrip(">").split(" <")
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
           "GIT_COMMITTER_EMAIL": email, "PATH": "/usr/bin:/bin"}
    for variable, when in (("GIT_COMMITTER_DATE", committed), ("GIT_AUTHOR_DATE", authored)):
        if when is not None:
            env[variable] = f"@{int(when.timestamp())} +0000"
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def seal(path: Path, values: dict[str, object]) -> Path:
    seal_file(yamlio.dump(values).encode(), path, source="t", recipients=[ALICE_R])
    return path


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
    assert bad.code == 2 and "--since: malformed interval 'forever'" in bad.err
    outside = run("history", Path("/") / "tmp", cwd=Path("/"))
    assert outside.code != 0 and "Traceback" not in outside.err


def test_author_with_unusual_characters(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    seal(tmp_path / "a.sealed.yaml", {"k": "v"})
    git(tmp_path, "add", "-A")
    odd = "Zoë\t|Åsa \x1f Ørsted | 名前"
    git(tmp_path, "commit", "-qm", "add", author=f"{odd} <zo|e+x@example.com>")
    (change,) = file_history(tmp_path / "a.sealed.yaml")
    assert (change.author, change.email, change.added) == (odd, "zo|e+x@example.com", ["k"])


def test_deleted_and_re_added(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    secret = seal(tmp_path / "s.sealed.yaml", {"old": "1"})
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "add")
    git(tmp_path, "rm", "-q", "s.sealed.yaml")
    git(tmp_path, "commit", "-qm", "delete")
    seal(secret, {"new": "2"})
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "re-add")
    re_added, deleted, added = file_history(secret)
    assert (added.added, added.removed, added.serial) == (["old"], [], 1)
    assert (deleted.added, deleted.removed, deleted.serial) == ([], ["old"], None)
    assert deleted.recipients_changed and deleted.metadata_changed
    assert (re_added.added, re_added.removed, re_added.serial) == (["new"], [], 1)
    assert re_added.recipients_changed
    assert [c.serial for c in repository_history(tmp_path)] == [1, None, 1]


def test_merge_commit_compares_with_its_first_parent(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    secret = seal(tmp_path / "s.sealed.yaml", {"a": "1"})
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "add")
    git(tmp_path, "checkout", "-qb", "side")
    set_value(secret, "side", "s", [ALICE])
    git(tmp_path, "commit", "-qam", "side", author="Bob <bob@example.com>")
    git(tmp_path, "checkout", "-q", "main")
    set_value(secret, "main", "m", [ALICE])
    git(tmp_path, "commit", "-qam", "main")
    # keep main's version, plus one more key: the merge differs from both of its parents
    git(tmp_path, "merge", "-q", "-s", "ours", "--no-commit", "side")
    set_value(secret, "merged", "x", [ALICE])
    git(tmp_path, "commit", "-qam", "merge side")
    changes = file_history(secret)
    merge = changes[0]  # "main" is in its first parent, "side" only in the second
    assert (merge.added, merge.removed, merge.changed, merge.serial) == (["merged"], [], [], 3)
    assert sorted(c.added[0] for c in changes) == ["a", "main", "merged", "side"]
    side = next(c for c in changes if c.author == "Bob")
    assert (side.added, side.changed, side.serial) == (["side"], [], 2)


def test_since_cuts_off_older_commits(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    git(tmp_path, "init", "-q")
    secret = seal(tmp_path / "s.sealed.yaml", {"a": "1"})
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "old", committed=now - timedelta(days=90), authored=now)
    set_value(secret, "b", "2", [ALICE])
    git(tmp_path, "commit", "-qam", "new", committed=now - timedelta(days=2),
        authored=now - timedelta(days=200))
    assert len(file_history(secret)) == 2
    (recent,) = file_history(secret, since=timedelta(days=30))
    assert recent.added == ["b"]
    assert recent.date == (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # committer's
    assert [c.added for c in repository_history(tmp_path, since=timedelta(days=30))] == [["b"]]
    assert file_history(secret, since=timedelta(days=1)) == []


def test_hostile_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(tmp_path, "init", "-q")
    names = ["-rf.sealed.yaml", "a.sealed.yaml", "[a].sealed.yaml", "new\nline.sealed.yaml"]
    for name in names:
        seal(tmp_path / name, {"k": "v"})
        git(tmp_path, "add", "--", name)
        git(tmp_path, "commit", "-qm", name)
    for name in names:  # each file only: "[a]" is no pattern and "-rf" no option
        assert [(c.file, c.added) for c in file_history(tmp_path / name)] == [(name, ["k"])]
    assert sorted(c.file for c in repository_history(tmp_path)) == sorted(names)
    monkeypatch.setattr(yamlio, "MAX_BYTES", 100)  # too large to be read: not a sealed file
    (change,) = file_history(tmp_path / "a.sealed.yaml")
    assert (change.added, change.serial) == ([], None)
