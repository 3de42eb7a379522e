"""`sealer rotate` end to end against a real PostgreSQL server (tests/pg_server.py): the file's
versions and the server agree after a rotation, a failure or a crash; --resume and --abandon."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyrage
import pytest
from cli_helpers import run, start

from sealer.core import seal
from sealer.document import read_sealed
from sealer.files import get_value
from sealer.keys import Identity, parse_identities, parse_recipient
from sealer.rotation.protocol import RotationFailed, configure_rotation, rotate

if TYPE_CHECKING:
    from pg_server import PostgresApp

pytest_plugins = ["pg_server"]


TRUST = {"SEALER_TRUST_UNSIGNED_ROTATORS": "1"}  # for the CLI runs (cli_helpers strips SEALER_*)


@pytest.fixture(autouse=True)
def trust_unsigned_rotators(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are unsigned: this host trusts their rotation settings, as an operator
    would say with SEALER_TRUST_UNSIGNED_ROTATORS=1 (tests/test_trust_boundaries.py covers the
    refusal without it)."""
    monkeypatch.setenv("SEALER_TRUST_UNSIGNED_ROTATORS", "1")


@pytest.fixture(autouse=True)
def no_tls_on_the_test_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server listens on 127.0.0.1 without TLS: this host opts out of the rotator's
    default sslmode verify-full with PGSSLMODE=disable (the CLI runs inherit it)."""
    monkeypatch.setenv("PGSSLMODE", "disable")


def setup(tmp_path: Path, secrets: dict[str, Any]) -> tuple[Path, Path, Identity]:
    key_text = str(pyrage.x25519.Identity.generate())
    key_file = tmp_path / "key.txt"
    key_file.write_text(key_text + "\n", encoding="utf-8")
    key_file.chmod(0o600)  # a private key others may read is refused
    ident = parse_identities(key_text.encode(), source="test", prompt=None)[0]
    path = tmp_path / "db.sealed.yaml"
    doc = seal(secrets, recipients=[parse_recipient(ident.recipient)], source=str(path))
    path.write_text(doc.to_yaml(), encoding="utf-8")
    return path, key_file, ident


def logs_in(app: PostgresApp, secret: dict[str, Any]) -> bool:
    return app.server.can_login(secret["username"], secret["password"], app.dbname)


def test_single_user_cli(postgres_app: PostgresApp, tmp_path: Path) -> None:
    path, key, ident = setup(tmp_path, {"db": postgres_app.secret})
    configure_rotation(path, "db", [ident], every="30d", rotator="postgres")
    serial = read_sealed(path).header.serial
    result = run("rotate", path, "db", "-i", key, env=TRUST)
    assert result.code == 0, result.err
    assert re.search(r"rotated \(version [0-9a-f-]{36}\)", result.err)  # a UUID
    new = get_value(path, "db", [ident])
    assert logs_in(postgres_app, new) and not logs_in(postgres_app, postgres_app.secret)
    assert read_sealed(path).header.serial > serial
    previous = run("get", path, "db", "--stage", "previous", "--format", "json", "-i", key)
    assert json.loads(previous.out) == postgres_app.secret
    listing = run("versions", path, "db")
    assert "PREVIOUS" in listing.out and postgres_app.password not in listing.out
    assert postgres_app.password not in path.read_text(encoding="utf-8")


def test_alternating_users_keep_live_connections(postgres_app: PostgresApp,
                                                 tmp_path: Path) -> None:
    server = postgres_app.server
    path, key, ident = setup(tmp_path, {"db": postgres_app.secret,
                                        "admin": server.admin_secret(postgres_app.dbname)})
    configure_rotation(path, "db", [ident], every="30d", rotator="postgres",
                       settings={"strategy": "alternating-users", "admin": "admin"})
    old = postgres_app.secret
    with server.connect(old["username"], old["password"], postgres_app.dbname) as live:
        result = run("rotate", path, "db", "-i", key, env=TRUST)
        assert result.code == 0, result.err
        assert live.execute("SELECT count(*) FROM items").fetchone() == (1,)
    new = get_value(path, "db", [ident])
    assert new["username"] == old["username"] + "_clone"
    assert logs_in(postgres_app, new) and logs_in(postgres_app, old)


def test_failure_at_set_keeps_current_and_resumes(postgres_app: PostgresApp,
                                                  tmp_path: Path) -> None:
    path, key, ident = setup(tmp_path, {"db": postgres_app.secret})
    configure_rotation(path, "db", [ident], every="30d", rotator="postgres")
    with postgres_app.server.stopped():
        result = run("rotate", path, "db", "-i", key, env=TRUST)
    assert result.code == 1
    assert "failed at step set for postgres role" in result.err
    assert f"sealer rotate {path} db --resume" in result.err
    assert postgres_app.password not in result.err
    current = get_value(path, "db", [ident])
    assert logs_in(postgres_app, current)  # the application still logs in with CURRENT
    assert run("rotate", path, "db", "--resume", "-i", key, env=TRUST).code == 0
    assert logs_in(postgres_app, get_value(path, "db", [ident]))
    assert not logs_in(postgres_app, current)


def test_failure_at_test_single_user_window_then_abandon(postgres_app: PostgresApp,
                                                         tmp_path: Path) -> None:
    server = postgres_app.server
    path, _key, ident = setup(tmp_path, {"db": postgres_app.secret})
    configure_rotation(path, "db", [ident], every="30d", rotator="postgres")

    def stop_after_set(step: str) -> None:
        if step == "set":
            server.stop()

    try:
        with pytest.raises(RotationFailed, match="step test"):
            rotate(path, "db", [ident], progress=stop_after_set)
    finally:
        server.start()
    pending = get_value(path, "db", [ident], stage="pending")
    # The single-user window: the target already has PENDING.
    assert logs_in(postgres_app, pending)
    assert not logs_in(postgres_app, postgres_app.secret)
    outcome = rotate(path, "db", [ident], abandon=True)
    assert any("set back" in n for n in outcome.notes)
    assert logs_in(postgres_app, postgres_app.secret)
    assert get_value(path, "db", [ident]) == postgres_app.secret
    assert not read_sealed(path).versions


def test_killed_between_steps_then_resume(tmp_path: Path) -> None:
    flag = tmp_path / "sleep"
    flag.write_text("1")
    script = tmp_path / "rot.py"
    script.write_text(
        "import json, os, sys, time\nstep = sys.argv[-1]\nmsg = json.load(sys.stdin)\n"
        f"if step == 'test' and os.path.exists({str(flag)!r}):\n    time.sleep(60)\n"
        "if step == 'create':\n    print(json.dumps(msg['current'] + '-2'))\n",
        encoding="utf-8")
    path, key, ident = setup(tmp_path, {"token": "t1"})
    configure_rotation(path, "token", [ident], every="30d", rotator="command",
                       settings={"command": [sys.executable, str(script)]})
    proc = start("rotate", path, "token", "-i", key, env=TRUST, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rot = read_sealed(path).metadata["keys"]["token"]["rotation"]
        if rot.get("pending", {}).get("step") == "set":
            break
        time.sleep(0.1)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert get_value(path, "token", [ident]) == "t1"  # CURRENT still there and valid
    assert get_value(path, "token", [ident], stage="pending") == "t1-2"
    flag.unlink()
    result = run("rotate", path, "token", "--resume", "-i", key, env=TRUST)
    assert result.code == 0, result.err
    assert get_value(path, "token", [ident]) == "t1-2"
    assert get_value(path, "token", [ident], stage="previous") == "t1"


def test_rotate_due_continues_past_a_failure(postgres_app: PostgresApp, tmp_path: Path) -> None:
    path, key, ident = setup(tmp_path, {"db": postgres_app.secret, "bad": {"host": "x"},
                                        "token": "t"})
    configure_rotation(path, "db", [ident], every="30d", rotator="postgres")
    configure_rotation(path, "bad", [ident], every="30d", rotator="postgres")
    configure_rotation(path, "token", [ident], every="30d")
    result = run("rotate", "--due", tmp_path, "-i", key, env=TRUST)
    assert result.code == 1
    assert "2 rotated, 1 failed" in result.err and "bad" in result.err
    assert logs_in(postgres_app, get_value(path, "db", [ident]))
    assert get_value(path, "token", [ident]) != "t"
    assert run("rotation", "status", path).out.count("never rotated") == 1
