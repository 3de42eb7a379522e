"""Rotation cannot be turned against the host or leak through its records (issue 11, item 7.4
and 7.6):

- what a rotator says about a failure, which the rotation records in the sealed file's
  metadata (authenticated, not encrypted), is a fixed description: never a command's stderr
  and never a database's message;
- the postgres rotator sends no password over an unauthenticated connection unless told to:
  sslmode verify-full by default, shown against the real PostgreSQL of tests/pg_server.py (TCP
  without TLS, and its unix socket) and against a fake server that asks for the password in
  clear, as one impersonating the real one would.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sealing import new_identity

from sealer.core import seal
from sealer.document import read_sealed
from sealer.errors import UsageError
from sealer.files import get_value
from sealer.keys import Identity
from sealer.rotation.protocol import RotationFailed, configure_rotation, rotate
from sealer.rotation.rotators import RotationError
from sealer.rotation.rotators.postgres import PostgresRotator

if TYPE_CHECKING:
    from pg_server import PostgresApp

pytest_plugins = ["pg_server"]

CANARY = "c4n4ry-rot-5e1f"


@pytest.fixture(autouse=True)
def host_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No host-wide sslmode (the default is under test); these unsigned test files' rotation
    settings are trusted, as an operator would say (tests/test_trust_boundaries.py)."""
    monkeypatch.delenv("PGSSLMODE", raising=False)
    monkeypatch.setenv("SEALER_TRUST_UNSIGNED_ROTATORS", "1")


def sealed(tmp_path: Path, data: dict[str, Any]) -> tuple[Path, Identity]:
    identity, recipient = new_identity()
    path = tmp_path / "db.sealed.yaml"
    path.write_text(seal(data, recipients=[recipient], source=str(path)).to_yaml(),
                    encoding="utf-8")
    return path, identity


def recorded_error(path: Path, key: str) -> str:
    rotation = read_sealed(path).metadata["keys"][key]["rotation"]
    error: str = rotation["pending"]["error"]
    return error


# -- item 4: the recorded reason is fixed text -------------------------------------------------

SCRIPT = """\
import base64, json, sys
message = json.load(sys.stdin)
if sys.argv[-1] == "create":
    print(json.dumps(message["current"] + "-next"))
elif sys.argv[-1] == "set":
    value = message["pending"]
    print("remote said: " + base64.b64encode(value.encode()).decode(), file=sys.stderr)
    print("rejected " + value[::-1], file=sys.stderr)
    sys.exit(3)
"""


def test_command_stderr_never_reaches_the_metadata_or_the_message(tmp_path: Path) -> None:
    script = tmp_path / "rotate.py"
    script.write_text(SCRIPT, encoding="utf-8")
    path, identity = sealed(tmp_path, {"token": CANARY})
    configure_rotation(path, "token", [identity], every="30d", rotator="command",
                       settings={"command": [sys.executable, str(script)]})
    with pytest.raises(RotationFailed) as caught:
        rotate(path, "token", [identity])
    assert recorded_error(path, "token") == "set: the command exited with status 3"
    pending = CANARY + "-next"
    encoded = base64.b64encode(pending.encode()).decode()
    text = path.read_text(encoding="utf-8") + str(caught.value) + (caught.value.hint or "")
    for leak in (pending, encoded, pending[::-1], "remote said", "rejected"):
        assert leak not in text


def test_a_database_message_never_reaches_the_metadata(postgres_app: PostgresApp,
                                                       tmp_path: Path) -> None:
    """The server's message quotes the database name (`database "…" does not exist`); the
    reason recorded is sealer's own description of the SQLSTATE class instead."""
    secret = dict(postgres_app.secret, dbname=f"db-{CANARY}")
    path, identity = sealed(tmp_path, {"db": secret})
    configure_rotation(path, "db", [identity], every="30d", rotator="postgres",
                       settings={"sslmode": "disable"})
    with pytest.raises(RotationFailed) as caught:
        rotate(path, "db", [identity])
    assert recorded_error(path, "db") == ("set: cannot log in with the current credential: the "
                                          "database or role does not exist")
    assert CANARY not in path.read_text(encoding="utf-8")
    assert "does not exist" in str(caught.value)
    assert get_value(path, "db", [identity]) == secret  # CURRENT unchanged


def test_a_permission_error_is_its_sqlstate_and_fixed_words(postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    weak = f"{postgres_app.role}_{CANARY.replace('-', '_')}"
    server.create_role(weak, "weak-password-123")
    settings = {"strategy": "alternating-users", "sslmode": "disable",
                "admin": server.secret(weak, "weak-password-123", postgres_app.dbname)}
    rotator = PostgresRotator()
    pending = rotator.create(postgres_app.secret, settings)
    with pytest.raises(RotationError) as caught:
        rotator.set_secret(postgres_app.secret, pending, settings)
    assert caught.value.reason == "permission denied (SQLSTATE 42501)"


# -- item 6: TLS with a verified certificate unless the user opts out ---------------------------


class FakeServer:
    """Speaks just enough of the PostgreSQL protocol to do what an impersonator would: no TLS
    ('N' to SSLRequest), then AuthenticationCleartextPassword. Records every byte received."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self._talk(conn)
                except (OSError, struct.error):
                    continue

    def _read(self, conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        self.received += data
        return data

    def _talk(self, conn: socket.socket) -> None:
        while True:  # SSLRequest / GSSENCRequest: refuse both, then the startup message
            length, code = struct.unpack("!ii", self._read(conn, 8))
            if code in (80877103, 80877104):
                conn.sendall(b"N")
                continue
            self._read(conn, length - 8)
            break
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # send me your password, in clear
        _kind, length = struct.unpack("!ci", self._read(conn, 5))
        self._read(conn, length - 4)
        error = b"SFATAL\x00C28P01\x00Mno\x00\x00"
        conn.sendall(b"E" + struct.pack("!i", len(error) + 4) + error)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def impostor() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def secret_at(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "username": "app", "password": CANARY,
            "dbname": "app"}


def test_by_default_no_password_goes_to_an_impostor(impostor: FakeServer) -> None:
    current = secret_at(impostor.port)
    pending = dict(current, password=CANARY + "-new")
    with pytest.raises(RotationError) as caught:
        PostgresRotator().set_secret(current, pending, {"connect_timeout": 5})
    assert caught.value.reason == ("cannot log in with the current credential: the server does "
                                   "not offer TLS, which the sslmode requires")
    assert caught.value.hint is not None and "verify-full" in caught.value.hint
    assert CANARY.encode() not in impostor.received  # neither PENDING (set tries it first)
    assert impostor.received  # nor CURRENT: it was asked for TLS (SSLRequest), and said no


@pytest.mark.parametrize("sslmode", ["disable", "prefer", "require"])
def test_opting_out_is_what_hands_the_password_over(impostor: FakeServer, sslmode: str) -> None:
    """The explicit opt-out (and `prefer`, the old default) lets libpq give an impostor the
    password: the attack the default stops."""
    with pytest.raises(RotationError):
        PostgresRotator().test_secret(secret_at(impostor.port),
                                      {"sslmode": sslmode, "connect_timeout": 5})
    assert (CANARY.encode() in impostor.received) == (sslmode != "require")


def test_the_real_server_without_tls_is_refused_by_default(postgres_app: PostgresApp) -> None:
    server, current = postgres_app.server, postgres_app.secret
    rotator = PostgresRotator()
    pending = rotator.create(current, {})
    with pytest.raises(RotationError) as caught:
        rotator.set_secret(current, pending, {})
    assert "the server does not offer TLS" in caught.value.reason
    assert server.can_login(postgres_app.role, current["password"], postgres_app.dbname)
    assert not server.can_login(postgres_app.role, pending["password"], postgres_app.dbname)


def test_a_unix_socket_needs_no_opt_out(postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    current = dict(postgres_app.secret, host=server.socket_dir)
    rotator = PostgresRotator()
    pending = rotator.create(current, {})
    rotator.set_secret(current, pending, {})
    rotator.test_secret(pending, {})
    assert server.can_login(postgres_app.role, pending["password"], postgres_app.dbname)


def test_the_host_may_opt_out_with_pgsslmode(postgres_app: PostgresApp,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSSLMODE", "disable")
    PostgresRotator().test_secret(postgres_app.secret, {})
    with pytest.raises(RotationError, match="does not offer TLS"):  # the settings say more
        PostgresRotator().test_secret(postgres_app.secret, {"sslmode": "verify-full"})
    monkeypatch.setenv("PGSSLMODE", "off")
    with pytest.raises(UsageError, match=r"\$PGSSLMODE is 'off'"):
        PostgresRotator().test_secret(postgres_app.secret, {})


def test_the_cli_rotation_is_refused_by_default_and_records_why(postgres_app: PostgresApp,
                                                                tmp_path: Path) -> None:
    path, identity = sealed(tmp_path, {"db": postgres_app.secret})
    configure_rotation(path, "db", [identity], every="30d", rotator="postgres")
    with pytest.raises(RotationFailed):
        rotate(path, "db", [identity])
    assert recorded_error(path, "db") == ("set: cannot log in with the current credential: the "
                                          "server does not offer TLS, which the sslmode requires")
    assert json.dumps(get_value(path, "db", [identity])) == json.dumps(postgres_app.secret)
