"""Rotation that reaches the application: `sealer rotate --due --commit --push` against a real
local bare remote (one commit per finished rotation, never a value in a message, a non-zero exit
when anything failed), and `--wait-for CMD` holding finish until a deploy hook succeeds."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import run
from git_helpers import git
from sealing import new_identity

from sealer.core import seal
from sealer.document import read_sealed
from sealer.files import get_value
from sealer.keys import Identity, Recipient
from sealer.rotation.protocol import configure_rotation, rotate

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
TRUST = {"SEALER_TRUST_UNSIGNED_ROTATORS": "1"}


@pytest.fixture(autouse=True)
def trust_unsigned_rotators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_TRUST_UNSIGNED_ROTATORS", "1")


def clone(tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    for args in (["config", "user.email", "r@example.com"], ["config", "user.name", "rotator"],
                 ["config", "commit.gpgsign", "false"], ["checkout", "-q", "-b", "main"]):
        git(work, *args)
    return remote, work


def due_secret(work: Path, name: str, identity: Identity, recipient: Recipient,
               rotator: list[str] | None = None) -> Path:
    path = work / name
    path.write_text(seal({"api": {"token": f"{name}-old-token"}}, recipients=[recipient],
                         source=str(path)).to_yaml())
    configure_rotation(path, "api.token", [identity], every="30d",
                       rotator="command" if rotator else None,
                       settings={"command": rotator} if rotator else None)
    rotate(path, "api.token", [identity], now=LONG_AGO)  # rotated long ago: due now
    return path


def key_file(tmp_path: Path, identity: Identity) -> Path:
    key = tmp_path / "rotator.key"
    key.write_text(str(identity.native) + "\n")
    key.chmod(0o600)
    return key


def test_rotate_due_commits_each_rotation_and_pushes(tmp_path: Path) -> None:
    remote, work = clone(tmp_path)
    identity, recipient = new_identity()
    ok = due_secret(work, "app.sealed.yaml", identity, recipient)
    failing = due_secret(work, "other.sealed.yaml", identity, recipient)
    (work / "notes.txt").write_text("not part of any rotation\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "start")
    git(work, "push", "-q", "-u", "origin", "main")
    configure_rotation(failing, "api.token", [identity], every="30d", rotator="command",
                       settings={"command": [sys.executable, "-c", "import sys; sys.exit(4)"]})
    git(work, "commit", "-qam", "a rotator that fails")
    (work / "notes.txt").write_text("staged, and must stay uncommitted\n")
    git(work, "add", "notes.txt")
    result = run("rotate", "--due", work, "--commit", "--push", "--format", "json",
                 "-i", key_file(tmp_path, identity), env=TRUST)
    assert result.code == 1, result.err  # one secret failed
    import json

    rows = {Path(r["file"]).name: r for r in json.loads(result.out)}
    assert rows["app.sealed.yaml"]["result"] == "rotated" and rows["app.sealed.yaml"]["commit"]
    assert rows["app.sealed.yaml"]["push"] == "pushed"
    assert rows["other.sealed.yaml"]["result"] == "failed"
    assert "1 rotated, 1 failed, 1 committed, pushed" in result.err
    log = git(remote, "log", "--format=%s%n%b", "main").stdout
    assert "Rotate api.token in app.sealed.yaml" in log
    new = get_value(ok, "api.token", [identity])
    assert new not in log and "old-token" not in log  # never a value
    shown = git(remote, "show", "--stat", "--format=", "main").stdout
    assert "app.sealed.yaml" in shown and "notes.txt" not in shown  # the rotated file only
    assert git(work, "diff", "--cached", "--name-only").stdout.split() == ["notes.txt"]
    remote_copy = git(remote, "show", "main:app.sealed.yaml").stdout
    assert read_sealed(ok).to_yaml() == remote_copy


def test_a_rejected_push_is_a_failure_that_loses_nothing(tmp_path: Path) -> None:
    remote, work = clone(tmp_path)
    identity, recipient = new_identity()
    path = due_secret(work, "app.sealed.yaml", identity, recipient)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "start")
    git(work, "push", "-q", "-u", "origin", "main")
    other = tmp_path / "other"  # someone else pushes first
    git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "x.txt").write_text("x\n")
    git(other, "add", "x.txt")
    git(other, "-c", "user.email=o@example.com", "-c", "user.name=o", "commit", "-qm", "x")
    git(other, "push", "-q")
    result = run("rotate", "--due", work, "--commit", "--push",
                 "-i", key_file(tmp_path, identity), env=TRUST)
    assert result.code == 1 and "push failed" in result.err, result.err
    assert "committed locally" in result.err
    assert "Rotate api.token" in git(work, "log", "-1", "--format=%s").stdout  # kept
    assert read_sealed(path).metadata["keys"]["api.token"]["rotation"].get("pending") is None


def test_push_and_commit_need_their_context(tmp_path: Path) -> None:
    assert run("rotate", "--due", tmp_path, "--push").code == 2
    assert run("rotate", "a.sealed.yaml", "k", "--commit").code == 2


def test_wait_for_holds_finish_until_the_hook_succeeds(tmp_path: Path) -> None:
    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    path.write_text(seal({"token": "t1"}, recipients=[recipient], source=str(path)).to_yaml())
    configure_rotation(path, "token", [identity], every="30d")
    record = tmp_path / "hook.txt"
    hook = tmp_path / "hook.py"
    hook.write_text("import os, sys\n"
                    f"open({str(record)!r}, 'a').write(' '.join(os.environ[k] for k in "
                    "('SEALER_ROTATION_FILE', 'SEALER_ROTATION_KEY', 'SEALER_ROTATION_VERSION'))"
                    " + '\\n')\nsys.exit(int(sys.argv[1]))\n")
    key = key_file(tmp_path, identity)
    failed = run("rotate", path, "token", "--wait-for", f"{sys.executable} {hook} 5", "-i", key)
    assert failed.code != 0 and "exited with status 5" in failed.err, failed.err
    assert "--resume" in failed.err
    assert get_value(path, "token", [identity]) == "t1"  # CURRENT unchanged
    rot = read_sealed(path).metadata["keys"]["token"]["rotation"]
    assert rot["pending"]["step"] == "test"
    assert record.read_text().split() == [str(path), "token", str(rot["pending"]["version"])]
    done = run("rotate", path, "token", "--resume", "--wait-for", f"{sys.executable} {hook} 0",
               "-i", key)
    assert done.code == 0, done.err
    assert get_value(path, "token", [identity]) != "t1"
    assert "t1" not in record.read_text()  # the hook is told where, never the value
