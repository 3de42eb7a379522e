"""docs/SECURITY.md, boundary by boundary: what a repository (and so a stranger's pull request)
controls cannot run code, redirect writes, cost unbounded work or rewrite a reviewer's screen.
Each test names the boundary it holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cli_helpers import assert_no_traceback, run
from conftest import require_tool
from git_helpers import git
from sealing import forge

from sealer import yamlio
from sealer.keys import parse_identities, parse_recipient

SECRET = str(pyrage.x25519.Identity.generate())
ME = parse_identities(SECRET.encode(), source="test", prompt=None)[0]
ME_R = parse_recipient(ME.recipient)
ESC = "\x1b]0;owned\x07\x1b[2J"


# -- B1: repository text is escaped in every human-readable output ------------------------


def test_control_characters_in_key_names_are_escaped_by_check(tmp_path: Path) -> None:
    forge(tmp_path / "app.sealed.yaml", {f"key{ESC}": "v"}, [ME_R.text])
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {ME_R.text}\nenvironments:\n  prod:\n"
        "    recipients: [me]\ncreation_rules:\n  - {path: '**', environment: prod}\n"
        "policy:\n  key_name: '^[a-z]+$'\n")
    result = run("check", tmp_path)
    assert result.code == 1
    assert "\x1b" not in result.out + result.err and "\x07" not in result.out
    assert "\\u001b]0;owned\\u0007" in result.out  # the key path is quoted, escapes shown


def test_control_characters_in_file_names_are_escaped_in_errors(tmp_path: Path) -> None:
    name = f"x{ESC}.sealed.yaml"
    result = run("show", tmp_path / name)
    assert result.code == 1 and "\x1b" not in result.err and "\\x1b" in result.err
    assert_no_traceback(result.err)


def test_commit_authors_are_escaped_by_history(tmp_path: Path) -> None:
    require_tool("git")
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "e@example.com"],
                 ["config", "user.name", f"mallory{ESC}"], ["config", "commit.gpgsign", "false"]):
        git(tmp_path, *args)
    forge(tmp_path / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "x")
    result = run("history", tmp_path / "app.sealed.yaml", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "mallory\\x1b]0;owned" in result.out


# -- B2: a forged file's content cannot act ------------------------------------------------


def test_a_forged_command_rotator_does_not_run(tmp_path: Path) -> None:
    """Rotation settings live in metadata, which anyone with the public keys can write: without
    a signature an accepted signer made, `rotate --due` refuses to run the command."""
    marker = tmp_path / "ran"
    script = tmp_path / "steal"
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho '\"x\"'\n")
    script.chmod(0o755)
    metadata = {"keys": {"token": {"rotation": {
        "every": "1h", "rotator": "command", "settings": {"command": [str(script)]}}}}}
    sealed = forge(tmp_path / "app.sealed.yaml", {"token": "t"}, [ME_R.text], metadata=metadata)
    before = sealed.read_bytes()
    result = run("rotate", "--due", tmp_path, "-i", "-", input=SECRET)
    assert result.code == 1
    assert "no accepted signer vouches for" in result.err
    assert not marker.exists() and sealed.read_bytes() == before
    direct = run("rotate", sealed, "token", "-i", "-", input=SECRET)
    assert direct.code == 1 and "SEALER_TRUST_UNSIGNED_ROTATORS=1" in direct.err
    assert not marker.exists()
    trusted = run("rotate", sealed, "token", "-i", "-", input=SECRET,
                  env={"SEALER_TRUST_UNSIGNED_ROTATORS": "1"})
    assert trusted.code == 0, trusted.err  # the host's own decision widens trust
    assert marker.exists()


def test_a_data_key_named_sealer_never_becomes_metadata(tmp_path: Path) -> None:
    """`set FILE sealer.x` would create a data key that `unseal | seal` and `edit` read back as
    metadata (a hidden rotator): writers refuse it, readers reject a file that has it."""
    sealed = forge(tmp_path / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    refused = run("set", sealed, "sealer.keys.a.rotation.rotator", "command", "-i", "-",
                  input=SECRET)
    assert refused.code == 2 and "reserved for metadata" in refused.err
    tree = yamlio.load(sealed.read_bytes(), source="t")
    tree["data"]["sealer"] = tree["data"]["a"]
    sealed.write_text(yamlio.dump(tree))
    commands: list[list[str | Path]] = [["unseal", sealed], ["edit", sealed], ["get", sealed, "a"]]
    for command in commands:
        result = run(*command, "-i", "-", input=SECRET, env={"EDITOR": "true"})
        assert result.code == 4 and "reserved" in result.err, command


# -- B3: bounded work on any input ---------------------------------------------------------


def test_a_file_with_many_recipients_is_refused_before_any_unwrap(tmp_path: Path) -> None:
    sealed = forge(tmp_path / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    tree = yamlio.load(sealed.read_bytes(), source="t")
    entry = tree["recipients"][0]
    tree["recipients"] = [{"recipient": f"age1{i:058d}", "key": entry["key"]}
                          for i in range(300)]
    sealed.write_text(yamlio.dump(tree))
    result = run("get", sealed, "a", "-i", "-", input=SECRET)
    assert result.code == 4 and "more than 256 recipients" in result.err


def test_a_wrapped_key_with_many_stanzas_is_refused(tmp_path: Path) -> None:
    """One wrapped key is an age file for one recipient: a header of 50 stanzas is a hostile
    file, refused without trying them."""
    stanzas = "".join(f"-> X25519 {'A' * 43}\n{'A' * 43}\n" for _ in range(50))
    header = f"age-encryption.org/v1\n{stanzas}--- {'A' * 43}\n".encode()
    import base64

    armored = ("-----BEGIN AGE ENCRYPTED FILE-----\n"
               + "\n".join(base64.b64encode(header + b"\0" * 16)[i:i + 64].decode()
                           for i in range(0, len(base64.b64encode(header + b"\0" * 16)), 64))
               + "\n-----END AGE ENCRYPTED FILE-----\n")
    sealed = forge(tmp_path / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    tree = yamlio.load(sealed.read_bytes(), source="t")
    tree["recipients"] = [{"recipient": "age1" + "q" * 58, "key": armored}]
    sealed.write_text(yamlio.dump(tree))
    result = run("get", sealed, "a", "-i", "-", input=SECRET)
    assert result.code == 4, result.err
    assert_no_traceback(result.err)


def test_signatures_are_checked_before_unwrapping(tmp_path: Path) -> None:
    """With a trust anchor, an unsigned (forged) file is refused as unsigned even when no key of
    this host opens it: the signature check comes first and costs no unwrap."""
    stranger = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))
    sealed = forge(tmp_path / "app.sealed.yaml", {"a": "b"}, [stranger.text])
    anchor = tmp_path / "allowed_signers"
    anchor.write_text("")
    result = run("get", sealed, "a", "-i", "-", input=SECRET,
                 env={"SEALER_TRUSTED_SIGNERS": str(anchor)})
    assert result.code == 4 and "is not signed" in result.err


def test_many_signatures_are_refused(tmp_path: Path) -> None:
    sealed = forge(tmp_path / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    tree = yamlio.load(sealed.read_bytes(), source="t")
    tree["signatures"] = [{"signer": f"ssh-ed25519 AAAA{i}", "format": "sshsig",
                           "signature": "x"} for i in range(40)]
    sealed.write_text(yamlio.dump(tree))
    result = run("check", sealed)
    assert result.code == 1 and "more than 16 signatures" in result.out


def test_sealed_yaml_is_not_read_above_the_repository(tmp_path: Path) -> None:
    """A sealer.yaml above the repository root is not the repository's: it is not honoured."""
    require_tool("git")
    (tmp_path / "sealer.yaml").write_text(
        "version: 1\nprincipals: {}\nenvironments: {}\naudit:\n  path: /nonexistent/x\n"
        "  required: true\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    sealed = forge(repo / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    result = run("get", sealed, "a", "-i", "-", input=SECRET)
    assert (result.code, result.out) == (0, "b"), result.err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_sealed_yaml_owned_by_another_user_is_not_honoured(tmp_path: Path) -> None:
    (tmp_path / "sealer.yaml").write_text(
        "version: 1\nprincipals: {}\nenvironments: {}\naudit:\n  required: true\n"
        "  path: /nonexistent/x\n")
    os.chown(tmp_path / "sealer.yaml", 65534, 65534)
    work = tmp_path / "work"
    work.mkdir()
    sealed = forge(work / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    result = run("get", sealed, "a", "-i", "-", input=SECRET)
    assert (result.code, result.out) == (0, "b"), result.err


def test_audit_path_cannot_leave_the_repository(tmp_path: Path) -> None:
    """`audit.path: ~/.bashrc` (or ../x, /etc/x, a symlink out) is not honoured: the entry goes
    to the host's default log, never to a file the repository chose outside itself."""
    home = Path(os.environ["HOME"])
    bashrc = home / ".bashrc"
    bashrc.write_text("# mine\n")
    outside = tmp_path / "outside.log"
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "link").symlink_to(tmp_path)
    for path in ("~/.bashrc", str(bashrc), "../outside.log", "link/outside.log"):
        (tmp_path / "repo" / "sealer.yaml").write_text(
            f"version: 1\nprincipals: {{}}\nenvironments: {{}}\naudit:\n  path: '{path}'\n")
        sealed = forge(tmp_path / "repo" / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
        result = run("get", sealed, "a", "-i", "-", input=SECRET)
        assert result.code == 0, (path, result.err)
        assert bashrc.read_text() == "# mine\n" and not outside.exists(), path
        checked = run("check", tmp_path / "repo")
        assert checked.code == 2 and "audit.path" in checked.err, (path, checked.err)
    inside = "logs/audit.log"
    (tmp_path / "repo" / "sealer.yaml").write_text(
        f"version: 1\nprincipals: {{}}\nenvironments: {{}}\naudit:\n  path: {inside}\n")
    assert run("get", sealed, "a", "-i", "-", input=SECRET).code == 0
    assert (tmp_path / "repo" / inside).is_file()


def test_no_traceback_and_no_value_on_hostile_files(tmp_path: Path) -> None:
    sealed = forge(tmp_path / "app.sealed.yaml", {"a": "canary-value-123"}, [ME_R.text])
    raw = sealed.read_text()
    sealed.write_text(raw.replace("recipients:", "recipients:\n- {}\n", 1))
    result = subprocess.run([sys.executable, "-m", "sealer", "get", str(sealed), "a", "-i", "-"],
                            input=SECRET, capture_output=True, text=True, check=False)
    assert result.returncode == 4 and "canary-value-123" not in result.stdout + result.stderr
    assert_no_traceback(result.stderr)


# -- B4: a nested sealer.yaml cannot weaken what one above it requires --------------------


def _nested_project(tmp_path: Path, parent_env: str, nested_env: str,
                    parent_extra: str = "") -> Path:
    require_tool("git")
    git(tmp_path, "init", "-q")
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {ME_R.text}\n  release: {{release}}\n"
        f"environments:\n  prod:\n    recipients: [me]\n{parent_env}"
        "creation_rules:\n  - {path: 'prod/**', environment: prod}\n" + parent_extra)
    (tmp_path / "prod").mkdir()
    (tmp_path / "prod" / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {ME_R.text}\nenvironments:\n  lax:\n"
        f"    recipients: [me]\n{nested_env}"
        "creation_rules:\n  - {path: '**', environment: lax}\n")
    return tmp_path / "prod"


def test_a_nested_config_cannot_drop_require_signature(tmp_path: Path) -> None:
    key = tmp_path / "release.key"
    public = run("keygen", "--signing", "-o", key).out.strip()
    prod = _nested_project(tmp_path, "    signers: [release]\n    require_signature: true\n", "")
    text = (tmp_path / "sealer.yaml").read_text().replace("{release}", public)
    (tmp_path / "sealer.yaml").write_text(text)
    forged = forge(prod / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    read = run("get", forged, "a", "-i", "-", input=SECRET)
    assert read.code == 4 and "is not signed" in read.err
    write = run("set", forged, "a", "c", "-i", "-", input=SECRET)
    assert write.code == 1 and "SEALER_SIGNING_KEY is not set" in write.err
    signed = run("set", forged, "a", "c", "-i", "-", input=SECRET,
                 env={"SEALER_SIGNING_KEY": str(key)})
    assert signed.code == 4  # set does not bless an unsigned file; sign does
    assert run("sign", forged, "-i", "-", input=SECRET,
               env={"SEALER_SIGNING_KEY": str(key)}).code == 0
    assert run("get", forged, "a", "-i", "-", input=SECRET).out == "b"


def test_a_nested_config_cannot_drop_audit_required(tmp_path: Path) -> None:
    prod = _nested_project(tmp_path, "", "", parent_extra="audit:\n  required: true\n")
    (tmp_path / "sealer.yaml").write_text(
        (tmp_path / "sealer.yaml").read_text().replace("  release: {release}\n", ""))
    (prod / "sealer.yaml").write_text((prod / "sealer.yaml").read_text()
                                      + "audit:\n  required: false\n")
    sealed = forge(prod / "app.sealed.yaml", {"a": "b"}, [ME_R.text])
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = run("get", sealed, "a", "-i", "-", input=SECRET,
                 env={"SEALER_AUDIT_LOG": str(blocked / "audit.log")})
    assert result.code != 0 and result.out == "" and "audit log" in result.err


def test_a_nested_config_cannot_drop_post_quantum(tmp_path: Path) -> None:
    prod = _nested_project(tmp_path, "    require_post_quantum: true\n", "")
    (tmp_path / "sealer.yaml").write_text(
        (tmp_path / "sealer.yaml").read_text().replace("  release: {release}\n", ""))
    result = run("seal", "-", "-o", prod / "new.sealed.yaml", "-r", ME_R.text, input="a: b\n")
    assert result.code == 1 and "requires post-quantum recipients" in result.err
    assert not (prod / "new.sealed.yaml").exists()


# -- B9: an older signed version cannot be replayed at deploy or slip through CI -----------


def _signed_pair(tmp_path: Path) -> tuple[Path, Path, Path, bytes]:
    """A signed file at serial 1 and its serial-2 successor; returns (file, key, anchor, old)."""
    key = tmp_path / "release.key"
    public = run("keygen", "--signing", "-o", key).out.strip()
    anchor = tmp_path / "allowed_signers"
    anchor.write_text(f"release namespaces=\"sealer\" {public}\n")
    sealed = tmp_path / "app.sealed.yaml"
    forge(sealed, {"token": "old"}, [ME_R.text], signing_key=key)
    old = sealed.read_bytes()
    assert run("set", sealed, "token", "new", "-i", "-", input=SECRET,
               env={"SEALER_SIGNING_KEY": str(key)}).code == 0
    return sealed, key, anchor, old


def test_a_replayed_older_signed_version_is_refused_at_deploy(tmp_path: Path) -> None:
    sealed, _key, anchor, old = _signed_pair(tmp_path)
    deploy = {"SEALER_TRUSTED_SIGNERS": str(anchor), "SEALER_STATE_DIR": str(tmp_path / "st")}
    assert run("get", sealed, "token", "-i", "-", input=SECRET, env=deploy).out == "new"
    sealed.write_bytes(old)  # a valid, signed, older file
    replay = run("get", sealed, "token", "-i", "-", input=SECRET, env=deploy)
    assert replay.code == 4 and "older signed version is being replayed" in replay.err
    assert "old" not in replay.out
    allowed = run("get", sealed, "token", "-i", "-", input=SECRET,
                  env={**deploy, "SEALER_ALLOW_ROLLBACK": "1"})
    assert allowed.out == "old"  # on purpose, and it becomes the new floor
    assert run("get", sealed, "token", "-i", "-", input=SECRET, env=deploy).out == "old"
    state = tmp_path / "st" / "serials.json"
    assert oct(state.stat().st_mode & 0o777) == "0o600"


def test_check_base_refuses_a_serial_going_down_in_ci(tmp_path: Path) -> None:
    require_tool("git")
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "e@example.com"],
                 ["config", "user.name", "e"], ["config", "commit.gpgsign", "false"]):
        git(tmp_path, *args)
    sealed = forge(tmp_path / "app.sealed.yaml", {"a": "1"}, [ME_R.text])
    old = sealed.read_bytes()
    run("set", sealed, "a", "2", "-i", "-", input=SECRET)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "main")
    git(tmp_path, "checkout", "-qb", "pr")
    sealed.write_bytes(old)
    git(tmp_path, "commit", "-qam", "replay the old version")
    result = run("check", "--base", "main", cwd=tmp_path)
    assert result.code == 1 and "[rollback]" in result.out and "serial went down" in result.out
    assert run("check", cwd=tmp_path).code == 0  # without a base there is nothing to compare
    bad = run("check", "--base", "--upload-pack=x", cwd=tmp_path)
    assert bad.code == 2


def test_every_boundary_in_security_md_names_tests_that_exist() -> None:
    """docs/SECURITY.md says which test holds each boundary: every file and test it names
    exists (`::name*` is a prefix), and every boundary section names at least one."""
    import re

    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    assert len(sections) >= 8
    for section in sections:
        refs = re.findall(r"`((?:tests/)?[\w./]*\.py)?(::[\w*]+)?`", section)
        refs = [r for r in refs if r[0] or r[1]]
        assert refs, f"boundary {section.splitlines()[0]!r} names no test"
        current = Path(__file__)  # `::name` alone: a test in this file
        for file, name in refs:
            if file:
                current = root / (file if file.startswith("tests/") else f"tests/{file}")
                assert current.exists(), f"{file} (in {section.splitlines()[0]!r})"
            if name:
                wanted = name[2:]
                source = current.read_text(encoding="utf-8")
                tail = r"\w*" if wanted.endswith("*") else r"\b"
                pattern = re.escape(wanted.rstrip("*")) + tail
                assert re.search(r"^def " + pattern, source, flags=re.MULTILINE), (
                    f"{current.name}::{wanted} (in {section.splitlines()[0]!r})")


# -- B10: review sees every change of access; the merge driver never hands keys out --------


def test_check_staged_reports_every_change_of_access(tmp_path: Path) -> None:
    require_tool("git")
    bob = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))
    new_me = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))

    def config(me: str, ops: str, pq: str = "") -> str:
        return (f"version: 1\nprincipals:\n  me: {me}\n  bob: {bob.text}\n"
                f"groups:\n  ops: {ops}\nenvironments:\n  prod:\n    recipients: [ops]\n"
                f"    require: [me]\n{pq}creation_rules:\n  - {{path: '**', environment: prod}}\n")

    for args in (["init", "-q"], ["config", "user.email", "e@e"], ["config", "user.name", "e"]):
        git(tmp_path, *args)
    (tmp_path / "sealer.yaml").write_text(config(ME_R.text, "[me]"))
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    (tmp_path / "sealer.yaml").write_text(config(new_me.text, "[me, bob]"))
    git(tmp_path, "add", "-A")
    result = run("check", "--staged", cwd=tmp_path)
    assert result.code == 1 and "[access-changed]" in result.out
    assert "bob now may read" in result.out  # through the group: expanded
    assert "the key of me (may read) changed" in result.out
    assert "the key of me (must be a recipient) changed" in result.out


class _SameId:
    """A forger's seam: the file's public id, then their own randomness (their data key)."""

    def __init__(self, file_id: bytes) -> None:
        self.file_id: bytes | None = file_id

    def random(self, n: int) -> bytes:
        if n == 16 and self.file_id is not None:
            chosen, self.file_id = self.file_id, None
            return chosen
        return os.urandom(n)

    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC).replace(microsecond=0)


def test_merge_refuses_recipients_added_under_another_data_key(
        tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Merging a branch whose (forged) version of a file keeps the id, adds a recipient and is
    sealed under a data key of its own must not wrap our key, or our values, for that
    recipient: the merge stops as a conflict and leaves our version."""

    from git_helpers import driver_repo

    from sealer.core import seal
    from sealer.files import seal_file

    require_tool("git")
    repo = driver_repo(tmp_path, isolated_home, monkeypatch, SECRET)
    sealed = repo / "app.sealed.yaml"
    seal_file(b"token: ours-secret\nother: o\n", sealed, source="t", recipients=[ME_R])
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    file_id = bytes.fromhex(yamlio.load(sealed.read_bytes(), source="t")["sealer"]["id"])
    git(repo, "checkout", "-qb", "forged")
    mallory = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))
    forged = seal({"token": "ours-secret", "other": "forged"}, recipients=[ME_R, mallory],
                  seam=_SameId(file_id), source="forged")
    sealed.write_text(forged.to_yaml())
    git(repo, "commit", "-qam", "forged: add a recipient")
    git(repo, "checkout", "-q", "main")
    run("set", sealed, "token", "rotated-secret")
    git(repo, "commit", "-qam", "ours")
    mine = sealed.read_bytes()
    merged = git(repo, "merge", "-q", "forged", "-m", "merge", check=False)
    assert merged.returncode != 0
    assert "sealed under another data key" in merged.stdout + merged.stderr
    assert sealed.read_bytes() == mine  # our version, untouched: mallory gets nothing
    assert mallory.text not in sealed.read_text()


# -- B11: a planted data key is visible without a key, and nothing new is sealed under it ---


def _plant(sealed: Path) -> None:
    """What a forger with only the public keys can do: keep the id, raise the serial, and seal
    under a data key of their own choosing (here for ME, so the test can look inside)."""
    from sealer.core import open_document, seal

    tree = yamlio.load(sealed.read_bytes(), source="t")
    doc = seal({"token": "forged-0"}, recipients=[ME_R],
               seam=_SameId(bytes.fromhex(tree["sealer"]["id"])), source=str(sealed))
    while doc.header.serial <= tree["sealer"]["serial"]:
        doc = seal({"token": f"forged-{doc.header.serial}"},
                   previous=open_document(doc, [ME]), source=str(sealed))
    sealed.write_text(doc.to_yaml())


def _repo_with_file(tmp_path: Path) -> Path:
    require_tool("git")
    for args in (["init", "-q"], ["config", "user.email", "e@e"], ["config", "user.name", "e"],
                 ["config", "commit.gpgsign", "false"]):
        git(tmp_path, *args)
    sealed = run("seal", "-", "-o", tmp_path / "app.sealed.yaml", "-r", ME_R.text,
                 input="token: real\n")
    assert sealed.code == 0, sealed.err
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "start")
    return tmp_path / "app.sealed.yaml"


def test_a_planted_data_key_is_refused_by_check_staged(tmp_path: Path) -> None:
    sealed = _repo_with_file(tmp_path)
    _plant(sealed)
    git(tmp_path, "add", "-A")
    result = run("check", "--staged", cwd=tmp_path)
    assert result.code == 1 and "[data-key-changed]" in result.out, result.out
    ok = run("check", "--staged", cwd=tmp_path, env={"SEALER_ALLOW_REKEY": "1"})
    assert "[data-key-changed]" not in ok.out


def test_own_rekey_is_flagged_unless_allowed(tmp_path: Path) -> None:
    sealed = _repo_with_file(tmp_path)
    assert run("rekey", sealed, "-i", "-", input=SECRET).code == 0
    git(tmp_path, "add", "-A")
    assert "[data-key-changed]" in run("check", "--staged", cwd=tmp_path).out
    assert run("check", "--staged", "--allow-rekey", cwd=tmp_path).code == 0


def test_writers_refuse_to_add_secrets_under_a_planted_key(tmp_path: Path) -> None:
    sealed = _repo_with_file(tmp_path)
    _plant(sealed)
    before = sealed.read_bytes()
    refused = run("set", sealed, "new_secret", "s3cret", "-i", "-", input=SECRET, cwd=tmp_path)
    assert refused.code == 1 and "the data key changed since the committed version" in (
        refused.err)
    assert sealed.read_bytes() == before
    rekeyed = run("rekey", sealed, "-i", "-", input=SECRET, cwd=tmp_path)
    assert rekeyed.code == 0, rekeyed.err  # a new data key nobody else knows: allowed
    git(tmp_path, "commit", "-qam", "rekeyed after review")
    assert run("set", sealed, "new_secret", "s3cret", "-i", "-", input=SECRET,
               cwd=tmp_path).code == 0


def test_check_does_not_follow_a_symlink_out_of_the_repository(tmp_path: Path) -> None:
    require_tool("git")
    outside = tmp_path / "host-secret.txt"
    outside.write_text("root:hash-of-the-host:19000:0:99999:7:::\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "evil.sealed.yaml").symlink_to(outside)
    result = run("check", repo)
    assert result.code == 1 and "symlink leading out of the repository" in result.out
    assert "hash-of-the-host" not in result.out + result.err
