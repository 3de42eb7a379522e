"""The two gates (sealer/access.py): every reader is audited and trust-checked, every writer is
refused before anything changes where its result could not be read back. Real git, real
subprocesses of the installed `sealer`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyrage
import pytest
from cli_helpers import run
from conftest import require_tool
from git_helpers import driver_repo, git
from sealing import forge

from sealer import yamlio
from sealer.errors import PolicyError
from sealer.files import seal_file
from sealer.keys import parse_identities, parse_recipient
from sealer.rotation.protocol import configure_rotation, rotate

SECRET = str(pyrage.x25519.Identity.generate())
ME = parse_identities(SECRET.encode(), source="test", prompt=None)[0]
ME_R = parse_recipient(ME.recipient)
THEM = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))
CANARY = "canary-7f3a9e-value"


@pytest.fixture
def repo(tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require_tool("git")
    return driver_repo(tmp_path, isolated_home, monkeypatch, SECRET)


def commit_sealed(repo: Path, config: str) -> Path:
    (repo / "sealer.yaml").write_text(config)
    sealed = repo / "app.sealed.yaml"
    seal_file(yamlio.dump({"token": CANARY}).encode(), sealed, source="t", recipients=[ME_R])
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    return sealed


AUDITED = f"""version: 1
principals:
  me: {ME_R.text}
environments:
  prod:
    recipients: [me]
creation_rules:
  - path: '**'
    environment: prod
audit:
  required: true
"""


def test_git_diff_writes_an_audit_entry(repo: Path, tmp_path: Path) -> None:
    sealed = commit_sealed(repo, AUDITED)
    log = tmp_path / "audit.log"
    env = {**os.environ, "SEALER_AUDIT_LOG": str(log)}
    run("set", sealed, "token", "changed-value", env={"SEALER_AUDIT_LOG": str(log)})
    before = len(log.read_text().splitlines())
    diff = git(repo, "diff", env=env)
    assert "changed-value" in diff.stdout and CANARY in diff.stdout
    entries = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    assert {e["action"] for e in entries} == {"diff"}
    assert all(e["outcome"] == "ok" for e in entries) and len(entries) == 2  # both sides


def test_git_diff_with_a_required_unwritable_log_prints_no_value(repo: Path,
                                                                 tmp_path: Path) -> None:
    sealed = commit_sealed(repo, AUDITED)
    run("set", sealed, "token", "changed-value", env={"SEALER_AUDIT_LOG": str(tmp_path / "a")})
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    env = {**os.environ, "SEALER_AUDIT_LOG": str(blocked / "audit.log")}
    diff = git(repo, "diff", env=env)
    assert diff.returncode == 0
    assert CANARY not in diff.stdout + diff.stderr
    assert "changed-value" not in diff.stdout + diff.stderr
    assert "values redacted (not decrypted: cannot write the audit log" in diff.stdout
    shown = run("get", sealed, "token", env={"SEALER_AUDIT_LOG": str(blocked / "audit.log")})
    assert shown.code != 0 and "changed-value" not in shown.out  # as `get` does


def test_merge_driver_and_check_decrypt_are_audited(repo: Path, tmp_path: Path) -> None:
    sealed = commit_sealed(repo, AUDITED.replace("  required: true\n", "  required: true\n"))
    log = tmp_path / "audit.log"
    env = {"SEALER_AUDIT_LOG": str(log)}
    checked = run("check", "--decrypt", sealed, env=env)
    assert checked.code == 0, checked.err
    assert [json.loads(x)["action"] for x in log.read_text().splitlines()] == ["check"]
    git(repo, "checkout", "-qb", "other")
    run("set", sealed, "other", "o", env=env)
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    run("set", sealed, "mine", "m", env=env)
    git(repo, "commit", "-qam", "mine")
    merged = git(repo, "merge", "-q", "other", "-m", "merge", env={**os.environ, **env},
                 check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    actions = [json.loads(x)["action"] for x in log.read_text().splitlines()]
    assert actions.count("merge") == 3  # base, ours, theirs


SIGNING = """version: 1
principals:
  me: {me}
  them: {them}
  release: {release}
environments:
  prod:
    recipients: [me]
    allow: [them]
    signers: [release]
    require_signature: true
creation_rules:
  - path: '**'
    environment: prod
"""


@pytest.fixture
def signing_project(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "release.key"
    public = run("keygen", "--signing", "-o", key).out.strip()
    project = tmp_path / "project"
    project.mkdir()
    (project / "sealer.yaml").write_text(SIGNING.format(me=ME_R.text, them=THEM.text,
                                                        release=public))
    return project, key


@pytest.mark.parametrize("command", [
    ["set", "app.sealed.yaml", "token", "new"],
    ["unset", "app.sealed.yaml", "token"],
    ["recipients", "add", "app.sealed.yaml", "-r", "me"],
    ["rekey", "app.sealed.yaml"],
    ["rotation", "configure", "app.sealed.yaml", "token", "--every", "30d"],
])
def test_writers_refuse_an_unsigned_write_before_changing_anything(
        signing_project: tuple[Path, Path], command: list[str]) -> None:
    project, key = signing_project
    seal = run("seal", "-", "-o", "app.sealed.yaml", input="token: t\n", cwd=project,
               env={"SEALER_SIGNING_KEY": str(key)})
    assert seal.code == 0, seal.err
    before = (project / "app.sealed.yaml").read_bytes()
    refused = run(*command, "-i", "-", input=SECRET, cwd=project)
    assert refused.code == 1, refused.err
    assert refused.err.startswith("sealer: error: app.sealed.yaml: readers require a "
                                  "signature (environment prod) and SEALER_SIGNING_KEY is not set")
    assert "sealer: hint: set SEALER_SIGNING_KEY to the private key of one of: release" in (
        refused.err)
    assert (project / "app.sealed.yaml").read_bytes() == before


def test_a_signing_key_that_is_not_a_signer_is_refused(signing_project: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    project, key = signing_project
    run("seal", "-", "-o", "app.sealed.yaml", input="token: t\n", cwd=project,
        env={"SEALER_SIGNING_KEY": str(key)})
    other = tmp_path / "other.key"
    run("keygen", "--signing", "-o", other)
    refused = run("set", "app.sealed.yaml", "token", "x", "-i", "-", input=SECRET, cwd=project,
                  env={"SEALER_SIGNING_KEY": str(other)})
    assert refused.code == 1 and "is not an accepted signer (environment prod)" in refused.err


def test_rotation_is_refused_before_the_target_is_touched(
        signing_project: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduled rotation without the signing key would change the credential on the target
    and then fail to write the file: it must stop before the rotator runs at all."""
    project, key = signing_project
    marker = tmp_path / "rotator-ran"
    script = tmp_path / "rotator"
    script.write_text(f"#!/bin/sh\necho \"$1\" >> {marker}\n"
                      "[ \"$1\" = create ] && echo '\"new-value\"'\nexit 0\n")
    script.chmod(0o755)
    sealed = project / "app.sealed.yaml"
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(key))
    seal_file(b"token: t\n", sealed, source="t")
    configure_rotation(sealed, "token", [ME], every="1h", rotator="command",
                       settings={"command": [str(script)]})
    monkeypatch.delenv("SEALER_SIGNING_KEY")
    before = sealed.read_bytes()
    with pytest.raises(PolicyError, match="SEALER_SIGNING_KEY is not set"):
        rotate(sealed, "token", [ME])
    assert not marker.exists() and sealed.read_bytes() == before
    due = run("rotate", "--due", project, "-i", "-", input=SECRET, cwd=project)
    assert due.code == 1 and "SEALER_SIGNING_KEY is not set" in due.err
    assert not marker.exists() and sealed.read_bytes() == before
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(key))
    rotate(sealed, "token", [ME])
    assert marker.read_text().split() == ["create", "set", "test", "finish"]


def test_sign_re_signs_an_unsigned_file_and_rekey_and_edit_work_on_it(
        signing_project: tuple[Path, Path]) -> None:
    project, key = signing_project
    unsigned = forge(project / "app.sealed.yaml", {"token": "t"}, [ME_R.text])
    refused = run("get", "app.sealed.yaml", "token", "-i", "-", input=SECRET, cwd=project)
    assert refused.code == 4 and "is not signed" in refused.err
    assert "sealer sign" in refused.err  # the hint names the way out
    no_key = run("sign", "app.sealed.yaml", "-i", "-", input=SECRET, cwd=project)
    assert no_key.code == 2 and "SEALER_SIGNING_KEY is not set" in no_key.err
    serial = yamlio.load(unsigned.read_bytes(), source="t")["sealer"]["serial"]
    signed = run("sign", "app.sealed.yaml", "-i", "-", input=SECRET, cwd=project,
                 env={"SEALER_SIGNING_KEY": str(key)})
    assert signed.code == 0, signed.err
    assert signed.err == f"sealer: app.sealed.yaml: signed (serial {serial})\n"
    assert run("get", "app.sealed.yaml", "token", "-i", "-", input=SECRET,
               cwd=project).out == "t"
    forge(project / "app.sealed.yaml", {"token": "t"}, [ME_R.text])
    rekeyed = run("rekey", "app.sealed.yaml", "-i", "-", input=SECRET, cwd=project,
                  env={"SEALER_SIGNING_KEY": str(key)})
    assert rekeyed.code == 0, rekeyed.err
    assert run("get", "app.sealed.yaml", "token", "-i", "-", input=SECRET,
               cwd=project).out == "t"
    forge(project / "app.sealed.yaml", {"token": "t"}, [ME_R.text])
    set_refused = run("set", "app.sealed.yaml", "token", "x", "-i", "-", input=SECRET,
                      cwd=project, env={"SEALER_SIGNING_KEY": str(key)})
    assert set_refused.code == 4  # set does not bless a file it has not been shown


def test_sign_needs_a_key_that_opens_the_file(signing_project: tuple[Path, Path]) -> None:
    project, key = signing_project
    forge(project / "app.sealed.yaml", {"token": "t"}, [THEM.text])
    refused = run("sign", "app.sealed.yaml", "-i", "-", input=SECRET, cwd=project,
                  env={"SEALER_SIGNING_KEY": str(key)})
    assert refused.code == 3 and "not sealed for any of your identities" in refused.err


def test_writers_enforce_recipient_policy(tmp_path: Path) -> None:
    other = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {ME_R.text}\n  other: {other.text}\n"
        "environments:\n  prod:\n    recipients: [me]\n"
        "creation_rules:\n  - {path: '**', environment: prod}\n")
    sealed = run("seal", "-", "-o", "app.sealed.yaml", input="a: b\n", cwd=tmp_path)
    assert sealed.code == 0, sealed.err
    before = (tmp_path / "app.sealed.yaml").read_bytes()
    added = run("recipients", "add", "app.sealed.yaml", "-r", "other", "-i", "-", input=SECRET,
                cwd=tmp_path)
    assert added.code == 1
    assert "principal 'other' may not decrypt prod secrets; nothing was written" in added.err
    assert (tmp_path / "app.sealed.yaml").read_bytes() == before
    new = run("seal", "-", "-o", "new.sealed.yaml", "-r", other.text, input="a: b\n",
              cwd=tmp_path)
    assert new.code == 1 and not (tmp_path / "new.sealed.yaml").exists()
