"""Concepts that used to be written in several places and drifted: sealed-file discovery (both
suffixes everywhere), intervals (bounded, a clear exit 2), and the key-bearing variables
(stripped from every child process)."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cli_helpers import run
from sealing import new_identity

from sealer.core import seal
from sealer.environ import KEY_VARIABLES, child_environment
from sealer.errors import UsageError
from sealer.keys import Identity
from sealer.rotation.protocol import configure_rotation, rotate_due
from sealer.rotation.versions import rotation_status
from sealer.times import MAX_INTERVAL, parse_interval


def sealed_yml(tmp_path: Path) -> tuple[Path, Identity]:
    identity, recipient = new_identity()
    path = tmp_path / "sub" / "app.sealed.yml"
    path.parent.mkdir()
    path.write_text(seal({"token": "t"}, recipients=[recipient], source=str(path)).to_yaml())
    configure_rotation(path, "token", [identity], every="1h")
    return path, identity


def test_rotation_status_and_rotate_due_find_sealed_yml(tmp_path: Path) -> None:
    _path, identity = sealed_yml(tmp_path)
    rows = rotation_status([tmp_path])
    assert [(Path(r.file).name, r.key) for r in rows] == [("app.sealed.yml", "token")]
    results = rotate_due([tmp_path], [identity])
    assert [(r.file.name, r.key, r.error) for r in results] == [("app.sealed.yml", "token", None)]
    status = run("rotation", "status", tmp_path, "--format", "json")
    assert [row["key"] for row in json.loads(status.out)] == ["token"]


@pytest.mark.parametrize("text", ["36600d", "5228w", "878400h"])
def test_intervals_up_to_a_century(text: str) -> None:
    assert parse_interval(text) <= MAX_INTERVAL


@pytest.mark.parametrize("text", ["99999999d", "5300w", "1000000h", "0d", "1.5d", "30", "", "d"])
def test_bad_intervals_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="interval"):
        parse_interval(text)


def test_huge_max_rotation_age_is_a_config_error_not_a_bug(tmp_path: Path) -> None:
    _, recipient = new_identity()
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {recipient.text}\nenvironments:\n  prod:\n"
        "    recipients: [me]\n    max_rotation_age: 9999999999999d\n"
        "creation_rules:\n  - {path: '**', environment: prod}\n")
    path = tmp_path / "app.sealed.yaml"
    path.write_text(seal({"a": "b"}, recipients=[recipient], source=str(path)).to_yaml())
    result = run("check", tmp_path)
    assert result.code == 2, result.err
    assert "max_rotation_age: interval '9999999999999d' is too long" in result.err
    assert "line 7" in result.err and "bug" not in result.err


@pytest.mark.parametrize("since", ["99999999999w", "forever"])
def test_history_since_is_bounded(tmp_path: Path, since: str) -> None:
    result = run("history", "--all", "--since", since, cwd=tmp_path)
    assert result.code == 2 and "--since:" in result.err and "bug" not in result.err


def test_status_due_within_is_bounded(tmp_path: Path) -> None:
    result = run("rotation", "status", tmp_path, "--due-within", "99999999999d")
    assert result.code == 2 and "--due-within: interval" in result.err


def test_key_variables_are_one_list() -> None:
    assert {"SEALER_IDENTITY", "SEALER_IDENTITY_FILE", "SEALER_SIGNING_KEY", "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_FILE"} <= set(KEY_VARIABLES)
    env = child_environment({name: "x" for name in KEY_VARIABLES} | {"KEEP": "1"})
    assert env == {"KEEP": "1"}


def test_exec_does_not_pass_the_signing_key_on(tmp_path: Path) -> None:
    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    path.write_text(seal({"token": "t"}, recipients=[recipient], source=str(path)).to_yaml())
    env = {name: f"value-of-{name}" for name in KEY_VARIABLES}
    from sealer.render import secret_environment

    result = secret_environment([path], [identity], base=env | {"HOME": "/h"})
    assert set(result) == {"HOME", "token"}


def test_editor_and_command_rotator_get_no_key_variables(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The editor and a rotator command are real child processes: each dumps its
    environment, and none of the key variables is in it."""
    dump = tmp_path / "env.json"
    script = tmp_path / "dump-env"
    script.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                      f"json.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n"
                      "if len(sys.argv) > 1 and sys.argv[-1] == 'create':\n"
                      "    print(json.dumps('new-value'))\n")
    script.chmod(0o755)
    for name in KEY_VARIABLES:
        monkeypatch.setenv(name, f"/nonexistent/{name}")
    monkeypatch.delenv("SEALER_IDENTITY")
    monkeypatch.delenv("SOPS_AGE_KEY")
    from sealer.rotation.rotators.command import CommandRotator

    CommandRotator().create("old", {"command": [str(script)]})
    seen = json.loads(dump.read_text())
    assert not set(KEY_VARIABLES) & set(seen)
    from sealer.editor import run_editor

    dump.unlink()
    target = tmp_path / "file.yaml"
    target.write_text("a: b\n")
    run_editor([str(script)])(target)
    assert not set(KEY_VARIABLES) & set(json.loads(dump.read_text()))
    assert os.environ["SEALER_SIGNING_KEY"]  # this process keeps its own


def test_interval_bounds_are_exact() -> None:
    assert parse_interval("1h") == timedelta(hours=1)
    with pytest.raises(UsageError, match="too long"):
        parse_interval(f"{MAX_INTERVAL.days + 1}d")
