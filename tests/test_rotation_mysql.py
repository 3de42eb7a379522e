"""`sealer rotate` end to end with the `mysql` rotator against a real MariaDB server
(tests/mysql_server.py): the file's versions and the server agree after a rotation, a failure,
a wrong admin password or a kill -9 between steps; --resume and --abandon."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
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
    from mysql_server import MysqlApp

pytest_plugins = ["mysql_server"]


@pytest.fixture(autouse=True)
def trust_unsigned_rotators(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are unsigned: this host trusts their rotation settings, as an operator
    would say with SEALER_TRUST_UNSIGNED_ROTATORS=1 (tests/test_trust_boundaries.py covers the
    refusal without it)."""
    monkeypatch.setenv("SEALER_TRUST_UNSIGNED_ROTATORS", "1")


def host_env(app: MysqlApp) -> dict[str, str]:
    """The rotating host's environment for CLI runs (cli_helpers strips SEALER_*): trust in
    unsigned rotation settings, and the CA that verifies the test server."""
    return {"SEALER_TRUST_UNSIGNED_ROTATORS": "1", "SEALER_MYSQL_SSL_CA": app.server.ca_file}


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


def logs_in(app: MysqlApp, secret: dict[str, Any]) -> bool:
    return app.server.can_login(secret["username"], secret["password"], app.dbname)


def test_single_user_cli(mysql_app: MysqlApp, tmp_path: Path) -> None:
    path, key, ident = setup(tmp_path, {"db": mysql_app.secret})
    configured = run("rotation", "configure", path, "db", "--every", "30d", "--rotator", "mysql",
                     "--no-rotate-immediately", "-i", key)
    assert configured.code == 0, configured.err
    result = run("rotate", path, "db", "-i", key, env=host_env(mysql_app))
    assert result.code == 0, result.err
    assert re.search(r"rotated \(version [0-9a-f-]{36}\)", result.err)  # a UUID
    new = get_value(path, "db", [ident])
    assert logs_in(mysql_app, new) and not logs_in(mysql_app, mysql_app.secret)
    previous = run("get", path, "db", "--stage", "previous", "--format", "json", "-i", key)
    assert json.loads(previous.out) == mysql_app.secret
    assert mysql_app.password not in path.read_text(encoding="utf-8")
    assert new["password"] not in mysql_app.server.general_log()


def test_alternating_users_cli_keep_live_connections(mysql_app: MysqlApp,
                                                     tmp_path: Path) -> None:
    """`rotation configure` rotates at once (AWS's RotateImmediately)."""
    server, old = mysql_app.server, mysql_app.secret
    path, key, ident = setup(tmp_path, {"db": old, "admin": server.admin_secret()})
    with server.connect(old["username"], old["password"], mysql_app.dbname) as live:
        result = run("rotation", "configure", path, "db", "--every", "30d", "--rotator",
                     "mysql", "--strategy", "alternating-users", "--admin", "admin", "-i", key,
                     env=host_env(mysql_app))
        assert result.code == 0, result.err
        assert "db rotated" in result.err
        with live.cursor() as cur:
            cur.execute("SELECT count(*) FROM items")
            assert cur.fetchall() == ((1,),)
    new = get_value(path, "db", [ident])
    assert new["username"] == old["username"] + "_clone"
    assert logs_in(mysql_app, new) and logs_in(mysql_app, old)
    assert len(server.grants(new["username"])) == len(server.grants(old["username"])) == 2


def test_masterarn_names_the_admin(mysql_app: MysqlApp, tmp_path: Path) -> None:
    """AWS's `masterarn` in the secret, here a key reference, stands in for settings.admin."""
    secret = dict(mysql_app.secret, masterarn="admin")
    path, _key, ident = setup(tmp_path, {"db": secret, "admin": mysql_app.server.admin_secret()})
    configure_rotation(path, "db", [ident], every="30d", rotator="mysql",
                       settings={"strategy": "alternating-users"})
    rotate(path, "db", [ident])
    new = get_value(path, "db", [ident])
    assert new["username"] == f"{mysql_app.user}_clone" and logs_in(mysql_app, new)


def test_server_down_at_set_keeps_current_and_resumes(mysql_app: MysqlApp,
                                                      tmp_path: Path) -> None:
    server = mysql_app.server
    path, key, ident = setup(tmp_path, {"db": mysql_app.secret})
    configure_rotation(path, "db", [ident], every="30d", rotator="mysql")
    with server.stopped():
        result = run("rotate", path, "db", "-i", key, env=host_env(mysql_app))
    assert result.code == 1
    target = f"mysql user {mysql_app.user} on 127.0.0.1:{server.port}/{mysql_app.dbname}"
    errors = [line for line in result.err.splitlines() if line.startswith("sealer: error:")]
    assert errors == [
        f"sealer: error: {path}: rotation of db failed at step set for {target}: cannot log in "
        "with the current credential: connection refused; CURRENT is unchanged"]
    assert f"sealer rotate {path} db --resume" in result.err
    assert mysql_app.password not in result.err
    current = get_value(path, "db", [ident])
    assert logs_in(mysql_app, current)  # the application still logs in with CURRENT
    resumed = run("rotate", path, "db", "--resume", "-i", key, env=host_env(mysql_app))
    assert resumed.code == 0, resumed.err
    assert logs_in(mysql_app, get_value(path, "db", [ident]))
    assert not logs_in(mysql_app, current)


def test_failure_at_test_single_user_window_then_abandon(mysql_app: MysqlApp,
                                                         tmp_path: Path) -> None:
    server = mysql_app.server
    path, _key, ident = setup(tmp_path, {"db": mysql_app.secret})
    configure_rotation(path, "db", [ident], every="30d", rotator="mysql")

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
    assert logs_in(mysql_app, pending)
    assert not logs_in(mysql_app, mysql_app.secret)
    outcome = rotate(path, "db", [ident], abandon=True)
    assert any("set back" in n for n in outcome.notes)
    assert logs_in(mysql_app, mysql_app.secret)
    assert get_value(path, "db", [ident]) == mysql_app.secret
    assert not read_sealed(path).versions


def test_wrong_admin_password_changes_nothing(mysql_app: MysqlApp, tmp_path: Path) -> None:
    server = mysql_app.server
    admin = dict(server.admin_secret(), password="not-the-admin-password")
    path, key, ident = setup(tmp_path, {"db": mysql_app.secret, "admin": admin})
    configure_rotation(path, "db", [ident], every="30d", rotator="mysql",
                       settings={"strategy": "alternating-users", "admin": "admin"})
    result = run("rotate", path, "db", "-i", key, env=host_env(mysql_app))
    assert result.code == 1
    assert (f"cannot log in with the admin credential (root@127.0.0.1:{server.port}): access "
            "denied (a wrong password, or no such user for this host) (MySQL error 1045); "
            "CURRENT is unchanged") in result.err
    assert admin["password"] not in result.err and mysql_app.password not in result.err
    assert not server.user_exists(f"{mysql_app.user}_clone")
    assert get_value(path, "db", [ident]) == mysql_app.secret and logs_in(mysql_app,
                                                                           mysql_app.secret)
    abandoned = run("rotate", path, "db", "--abandon", "-i", key, env=host_env(mysql_app))
    assert abandoned.code == 0, abandoned.err
    assert not read_sealed(path).versions


class HoldingProxy:
    """A TCP forwarder on 127.0.0.1 to the server that never answers its `hold`-th
    connection (counting from 1), so that a rotation stops at a known point, where it can be
    killed; the others are forwarded byte for byte (TLS included: the certificate is for
    127.0.0.1, which the proxy is too). `hold = 0` holds nothing."""

    def __init__(self, port: int, hold: int) -> None:
        self.target, self.hold, self.count = port, hold, 0
        self.held = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                self.sockets.append(client)
                self.count += 1
                if self.count == self.hold:
                    self.held.set()  # kept open, never answered
                    continue
                upstream = socket.create_connection(("127.0.0.1", self.target))
                self.sockets.append(upstream)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxy(mysql_app: MysqlApp) -> Iterator[HoldingProxy]:
    forwarder = HoldingProxy(mysql_app.server.port, hold=0)
    yield forwarder
    forwarder.close()


# The application's logins through the proxy: 1 PENDING (refused: not set yet), 2 CURRENT (set
# as the user itself; alternating: the confused-deputy check, then the admin, not proxied,
# makes the clone), 3 PENDING (test). Holding 2 kills inside set, 3 after set was recorded.
@pytest.mark.parametrize(("strategy", "hold", "recorded"), [
    ("single-user", 2, "create"), ("single-user", 3, "set"),
    ("alternating-users", 2, "create"), ("alternating-users", 3, "set")])
def test_killed_between_steps_then_resume(mysql_app: MysqlApp, proxy: HoldingProxy,
                                          tmp_path: Path, strategy: str, hold: int,
                                          recorded: str) -> None:
    server = mysql_app.server
    original = dict(mysql_app.secret, port=proxy.port)
    path, key, ident = setup(tmp_path, {"db": original, "admin": server.admin_secret()})
    settings = {"strategy": strategy, "admin": "admin"} if strategy != "single-user" else None
    configure_rotation(path, "db", [ident], every="30d", rotator="mysql", settings=settings)
    proxy.hold = hold
    proc = start("rotate", path, "db", "-i", key, env=host_env(mysql_app),
                 start_new_session=True)
    try:
        assert proxy.held.wait(30), "the rotation never reached the held connection"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    rot = read_sealed(path).metadata["keys"]["db"]["rotation"]
    assert rot["pending"]["step"] == recorded
    assert get_value(path, "db", [ident]) == original  # CURRENT is still the file's value
    pending = get_value(path, "db", [ident], stage="pending")
    assert logs_in(mysql_app, pending) is (recorded == "set")  # set had finished
    window = strategy == "single-user" and recorded == "set"  # CURRENT's password is gone
    assert logs_in(mysql_app, original) is not window
    proxy.hold = 0
    result = run("rotate", path, "db", "--resume", "-i", key, env=host_env(mysql_app))
    assert result.code == 0, result.err
    assert get_value(path, "db", [ident]) == pending and logs_in(mysql_app, pending)
    assert get_value(path, "db", [ident], stage="previous") == original
