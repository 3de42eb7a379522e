"""Versions as AWS Secrets Manager keeps them (FORMAT.md §10): every write of a rotated key makes
a new immutable version (a UUID id, or the caller's ClientRequestToken), CURRENT moves to it and
the old one becomes PREVIOUS; creation times never change; labels move between versions
(UpdateSecretVersionStage); labelled versions are never pruned. Writes that would leave the
file naming a credential the target refuses, or silently revert a rotation, are refused."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from sealing import new_identity

from sealer import yamlio
from sealer.core import seal
from sealer.document import read_sealed
from sealer.editor import edit_file
from sealer.errors import SealerError, UsageError
from sealer.files import get_value, seal_file, set_value, unseal_file
from sealer.keys import Identity
from sealer.rotation.protocol import configure_rotation, move_stage, rollback, rotate
from sealer.rotation.versions import WriteIntent

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def trust_unsigned_rotators(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsigned test files: this host trusts their rotation settings (tests/test_trust_boundaries.py
    covers the refusal without it)."""
    monkeypatch.setenv("SEALER_TRUST_UNSIGNED_ROTATORS", "1")


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, Identity]:
    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    doc = seal({"api": {"token": "v1-token"}, "other": "x"}, recipients=[recipient],
               source=str(path))
    path.write_text(doc.to_yaml(), encoding="utf-8")
    configure_rotation(path, "api.token", [identity], every="30d")
    return path, identity


def rot(path: Path, key: str = "api.token") -> dict[str, Any]:
    entry: dict[str, Any] = read_sealed(path).metadata["keys"][key]["rotation"]
    return entry


def listed(path: Path, key: str = "api.token") -> list[tuple[Any, list[str], str]]:
    return [(e["id"], e["stages"], e["created"]) for e in read_sealed(path).versions.get(key, [])]


def test_a_manual_set_makes_a_new_version_and_keeps_the_old_one(
        sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    rotate(path, "api.token", [ident])
    rotated = get_value(path, "api.token", [ident])
    first = rot(path)
    set_value(path, "api.token", "manual", [ident])
    after = rot(path)
    import re

    assert re.fullmatch(UUID, after["version"]) and after["version"] != first["version"]
    assert get_value(path, "api.token", [ident]) == "manual"
    assert get_value(path, "api.token", [ident], stage="previous") == rotated  # not lost
    previous = next(e for e in listed(path) if "PREVIOUS" in e[1])
    assert previous[0] == first["version"] and previous[2] == first["created"]  # unchanged
    # rollback pairs the right values, and no creation time changes
    created = {str(v[0]): v[2] for v in listed(path)} | {after["version"]: after["created"]}
    rollback(path, "api.token", [ident])
    assert get_value(path, "api.token", [ident]) == rotated
    assert get_value(path, "api.token", [ident], stage="previous") == "manual"
    now = {str(v[0]): v[2] for v in listed(path)} | {rot(path)["version"]: rot(path)["created"]}
    assert all(now[k] == created[k] for k in now if k in created)
    assert rot(path)["version"] == first["version"]


def test_client_request_token_makes_a_retry_idempotent(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    intent = WriteIntent(token=TOKEN)
    assert set_value(path, "api.token", "v2", [ident], intent=intent).changed
    assert rot(path)["version"] == TOKEN
    serial = read_sealed(path).header.serial
    assert not set_value(path, "api.token", "v2", [ident], intent=intent).changed  # a retry
    before = path.read_bytes()
    with pytest.raises(UsageError, match="already exists with another value"):
        set_value(path, "api.token", "v3", [ident], intent=intent)
    assert path.read_bytes() == before and read_sealed(path).header.serial == serial
    with pytest.raises(UsageError, match="32-64"):
        set_value(path, "api.token", "v3", [ident], intent=WriteIntent(token="short"))


def test_get_by_version_id_and_custom_labels(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    set_value(path, "api.token", "v2", [ident], intent=WriteIntent(token=TOKEN))
    assert get_value(path, "api.token", [ident], version_id="1") == "v1-token"
    assert get_value(path, "api.token", [ident], version_id=TOKEN) == "v2"
    with pytest.raises(SealerError, match="no version nope"):
        get_value(path, "api.token", [ident], version_id="nope")
    move_stage(path, "api.token", "stable", to_version="1", identities=[ident])
    assert get_value(path, "api.token", [ident], stage="stable") == "v1-token"
    move_stage(path, "api.token", "stable", to_version="CURRENT", identities=[ident])
    assert get_value(path, "api.token", [ident], stage="stable") == "v2"
    assert rot(path)["labels"] == ["stable"]
    set_value(path, "api.token", "v3", [ident])  # a custom label stays with its version
    assert get_value(path, "api.token", [ident], stage="stable") == "v2"
    move_stage(path, "api.token", "stable", from_version=TOKEN, identities=[ident])
    with pytest.raises(SealerError, match="no stable version"):
        get_value(path, "api.token", [ident], stage="stable")


def test_moving_current_is_a_rollback_to_any_version(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    for value in ("v2", "v3", "v4"):
        set_value(path, "api.token", value, [ident])
    move_stage(path, "api.token", "CURRENT", to_version="1", identities=[ident])
    assert get_value(path, "api.token", [ident]) == "v1-token"
    assert rot(path)["version"] == 1
    assert get_value(path, "api.token", [ident], stage="previous") == "v4"
    with pytest.raises(UsageError, match="moved only by rotation"):
        move_stage(path, "api.token", "PENDING", to_version="1", identities=[ident])
    with pytest.raises(UsageError, match="cannot be removed"):
        move_stage(path, "api.token", "CURRENT", from_version="1", identities=[ident])
    with pytest.raises(UsageError, match="has no version"):
        move_stage(path, "api.token", "x", to_version="0" * 32, identities=[ident])


def test_retention_keeps_labelled_versions_and_prunes_the_rest(
        sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    (path.parent / "sealer.yaml").write_text(
        "version: 1\nprincipals:\n  me: " + read_sealed(path).recipients[0].recipient + "\n"
        "environments:\n  dev:\n    recipients: [me]\n    keep_versions: 1\n"
        "creation_rules:\n  - path: '*.sealed.yaml'\n    environment: dev\n")
    move_stage(path, "api.token", "golden", to_version="CURRENT", identities=[ident])
    for value in ("v2", "v3", "v4", "v5"):
        set_value(path, "api.token", value, [ident])
    stages = [v[1] for v in listed(path)]
    assert stages == [["golden"], [], ["PREVIOUS"]]  # labelled kept; one unlabelled (v3)
    assert get_value(path, "api.token", [ident], stage="golden") == "v1-token"
    assert [get_value(path, "api.token", [ident], version_id=str(v[0]))
            for v in listed(path)] == ["v1-token", "v3", "v4"]


def test_a_stale_plaintext_copy_never_reverts_a_rotation(sealed: tuple[Path, Identity],
                                                         tmp_path: Path) -> None:
    path, ident = sealed
    stale = yamlio.dump(unseal_file(path, [ident])).encode()  # unseal ...
    rotate(path, "api.token", [ident])  # ... rotate ...
    rotated = get_value(path, "api.token", [ident])
    before = path.read_bytes()
    (tmp_path / "app.yaml").write_bytes(stale)
    result = run("seal", tmp_path / "app.yaml", "-o", path, "-i", _key_file(tmp_path, ident))
    assert result.code == 2, result.err  # ... seal the old copy: refused, naming key and version
    assert "api.token" in result.err and str(rot(path)["version"]) in result.err
    assert "v1-token" not in result.err and rotated not in result.err
    assert path.read_bytes() == before
    seal_file(stale, path, source="app.yaml", identities=[ident],
              intent=WriteIntent(allow_revert=True))  # said so: a new version with that value
    assert get_value(path, "api.token", [ident]) == "v1-token"
    assert get_value(path, "api.token", [ident], stage="previous") == rotated


def _key_file(tmp_path: Path, ident: Identity) -> Path:
    key = tmp_path / "me.key"
    if not key.exists():
        key.write_text(str(ident.native) + "\n")  # pyrage: the AGE-SECRET-KEY line
        key.chmod(0o600)
    return key


def _rotator_script(tmp_path: Path) -> list[str]:
    script = tmp_path / "rot.py"
    script.write_text("import json, sys\nmsg = json.load(sys.stdin)\n"
                      "if sys.argv[-1] == 'create':\n    print(json.dumps('new-token'))\n")
    return [sys.executable, str(script)]


def test_a_rotator_backed_key_is_not_changed_only_in_the_file(tmp_path: Path) -> None:
    identity, recipient = new_identity()
    path = tmp_path / "db.sealed.yaml"
    path.write_text(seal({"db": {"password": "p1", "host": "h"}}, recipients=[recipient],
                         source=str(path)).to_yaml())
    configure_rotation(path, "db", [identity], every="30d", rotator="command",
                       settings={"command": _rotator_script(tmp_path)})
    before = path.read_bytes()
    key = _key_file(tmp_path, identity)
    for args in (("set", path, "db.password", "p2"), ("set", path, "db.host", "other"),
                 ("unset", path, "db.host")):
        refused = run(*args, "-i", key)
        assert refused.code == 2 and "rotated by the command rotator" in refused.err, refused.err
        assert "--file-only" in refused.err and "p1" not in refused.err
        assert path.read_bytes() == before
    done = run("set", path, "db.password", "p2", "--file-only", "-i", key)
    assert done.code == 0, done.err
    assert get_value(path, "db", [identity], stage="previous") == {"password": "p1", "host": "h"}


def test_no_write_during_a_rotation_in_progress(tmp_path: Path) -> None:
    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    path.write_text(seal({"token": "t1"}, recipients=[recipient], source=str(path)).to_yaml())
    configure_rotation(path, "token", [identity], every="30d", rotator="command",
                       settings={"command": [sys.executable, "-c", "import sys; sys.exit(3)"]})
    with pytest.raises(SealerError):
        rotate(path, "token", [identity])  # create fails: nothing pending
    fail_test = tmp_path / "fail_test.py"
    fail_test.write_text("import json, sys\njson.load(sys.stdin)\n"
                         "if sys.argv[-1] == 'test': sys.exit(3)\n"
                         "if sys.argv[-1] == 'create': print(json.dumps('t2'))\n")
    configure_rotation(path, "token", [identity], every="30d", rotator="command",
                       settings={"command": [sys.executable, str(fail_test)]})
    with pytest.raises(SealerError, match="failed at step test"):
        rotate(path, "token", [identity])
    with pytest.raises(UsageError, match="rotation of token is in progress"):
        set_value(path, "token", "t3", [identity], intent=WriteIntent(file_only=True))


def test_edit_shows_the_refusal_and_keeps_the_edit(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    rotate(path, "api.token", [ident])
    rotated = get_value(path, "api.token", [ident])
    # as the editor shows it: a generated password may need quotes (a ' is doubled)
    shown = yamlio.dump({"token": rotated}).removeprefix("token: ").rstrip("\n")
    seen: list[str] = []

    def editor(file: Path) -> None:
        text = file.read_text()
        seen.append(text)
        if len(seen) == 1:  # first save: an old value (a stale copy pasted in)
            assert f"token: {shown}\n" in text
            file.write_text(text.replace(f"token: {shown}\n", "token: v1-token\n"))
        else:  # the refusal is shown in the editor, with the edit still there
            file.write_text(text.replace("v1-token", "fresh").replace("other: x", "other: y"))
    written = edit_file(path, [ident], run=editor)
    assert written is not None and written.changed
    assert len(seen) == 2 and "revert a rotation" in seen[1] and "v1-token" in seen[1]
    assert get_value(path, "api.token", [ident]) == "fresh"
    assert get_value(path, "api.token", [ident], stage="previous") == rotated


def test_versions_and_stage_from_the_cli(sealed: tuple[Path, Identity], tmp_path: Path) -> None:
    path, ident = sealed
    key = _key_file(tmp_path, ident)
    assert run("set", path, "api.token", "v2", "--client-request-token", TOKEN,
               "-i", key).code == 0
    again = run("set", path, "api.token", "v2", "--client-request-token", TOKEN, "-i", key)
    assert again.code == 0 and "unchanged" in again.err
    assert run("stage", path, "api.token", "blue", "--to", "1", "-i", key).code == 0
    shown = run("versions", path, "api.token", "--format", "json")
    import json

    rows = json.loads(shown.out)
    assert [(r["id"], r["stages"]) for r in rows] == [
        (TOKEN, ["CURRENT"]), (1, ["PREVIOUS", "blue"])]
    got = run("get", path, "api.token", "--stage", "blue", "-i", key)
    assert got.out == "v1-token"
    assert run("get", path, "api.token", "--version-id", TOKEN, "-i", key).out == "v2"
    bad = run("stage", path, "api.token", "PENDING", "--to", "1", "-i", key)
    assert bad.code == 2 and "moved only by rotation" in bad.err


def test_created_times_survive_a_rotation_rollback_cycle(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    rotate(path, "api.token", [ident], now=t0)
    rotate(path, "api.token", [ident], now=t0 + timedelta(days=30))
    before = {str(v[0]): v[2] for v in listed(path)} | {str(rot(path)["version"]):
                                                         rot(path)["created"]}
    rollback(path, "api.token", [ident], now=t0 + timedelta(days=31))
    rollback(path, "api.token", [ident], now=t0 + timedelta(days=32))
    after = {str(v[0]): v[2] for v in listed(path)} | {str(rot(path)["version"]):
                                                        rot(path)["created"]}
    assert after == before


def test_reconfiguring_keeps_the_versions_history(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    set_value(path, "api.token", "v2", [ident], intent=WriteIntent(token=TOKEN))
    move_stage(path, "api.token", "blue", to_version="CURRENT", identities=[ident])
    before = rot(path)
    configure_rotation(path, "api.token", [ident], every="12w")
    after = rot(path)
    assert after["every"] == "12w"
    assert {k: after[k] for k in ("version", "created", "labels", "rotated_at")} == {
        k: before[k] for k in ("version", "created", "labels", "rotated_at")}


def test_a_malformed_schedule_fails_its_secret_not_the_run(tmp_path: Path) -> None:
    from sealer.rotation.protocol import rotate_due

    identity, recipient = new_identity()
    bad = tmp_path / "a.sealed.yaml"
    bad.write_text(seal({"t": "x"}, recipients=[recipient], source=str(bad), metadata={
        "keys": {"t": {"rotation": {"schedule": "cron(nonsense)"}}}}).to_yaml())
    good = tmp_path / "b.sealed.yaml"
    good.write_text(seal({"t": "y"}, recipients=[recipient], source=str(good)).to_yaml())
    configure_rotation(good, "t", [identity], every="30d")
    results = rotate_due([tmp_path], [identity])
    assert [(r.file.name, r.error is None) for r in results] == [("a.sealed.yaml", False),
                                                                  ("b.sealed.yaml", True)]
