"""The `mysql` rotator against a real MariaDB server (tests/mysql_server.py): single-user and
alternating-users rotation, live connections surviving, grants copied to the clone, what
reaches the general query log, TLS verification, and failures injected at set and test, each
a RotationError that names the step and target and never a password."""

from __future__ import annotations

import re
import socket
import struct
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest

from sealer.errors import UsageError
from sealer.rotation.rotators import RotationError, get_rotator
from sealer.rotation.rotators.mysql import (
    MysqlRotator,
    _credential,
    _regrant,
    alternate_username,
    native_hash,
)

if TYPE_CHECKING:
    from mysql_server import MysqlApp

pytest_plugins = ["mysql_server"]

NASTY = "it's a \"test\" \\ %s %% ;DROP USER x; -- 'ünïcode' `tick`"


def rotate(current: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The four steps in order, as the orchestrator runs them."""
    rotator = MysqlRotator()
    pending = rotator.create(current, settings)
    rotator.set_secret(current, pending, settings)
    rotator.test_secret(pending, settings)
    rotator.finish_secret(current, pending, settings)
    return pending


def alternating(app: MysqlApp) -> dict[str, Any]:
    return {"strategy": "alternating-users", "admin": app.server.admin_secret()}


def read_items(conn: Any) -> list[Any]:
    with conn.cursor() as cur:
        cur.execute("SELECT id, name FROM items ORDER BY id")
        return list(cur.fetchall())


def assert_no_password(error: BaseException, *passwords: str) -> None:
    text = f"{error} {error.hint if isinstance(error, RotationError) else ''}"
    for password in passwords:
        assert password not in text


# --- single user ---------------------------------------------------------------------------

def test_single_user_new_password_logs_in_and_the_old_one_does_not(mysql_app: MysqlApp) -> None:
    server, current = mysql_app.server, mysql_app.secret
    assert isinstance(get_rotator("mysql"), MysqlRotator)
    pending = rotate(current, {})
    assert {k: v for k, v in pending.items() if k != "password"} == {
        k: v for k, v in current.items() if k != "password"}
    assert len(pending["password"]) == 32
    assert not set(pending["password"]) & set(":/@\"'\\")  # AWS's template default
    assert server.can_login(mysql_app.user, pending["password"], mysql_app.dbname)
    assert not server.can_login(mysql_app.user, current["password"], mysql_app.dbname)


def test_single_user_keeps_open_connections(mysql_app: MysqlApp) -> None:
    server = mysql_app.server
    with server.connect(mysql_app.user, mysql_app.password, mysql_app.dbname) as live:
        rotate(mysql_app.secret, {})
        assert read_items(live) == [(1, "one")]


def test_password_with_quotes_percent_backslashes_and_unicode(mysql_app: MysqlApp) -> None:
    current = mysql_app.secret
    pending = dict(current, password=NASTY)
    MysqlRotator().set_secret(current, pending, {})
    MysqlRotator().test_secret(pending, {})
    assert mysql_app.server.can_login(mysql_app.user, NASTY, mysql_app.dbname)
    assert NASTY not in mysql_app.server.general_log()


def test_native_hash_is_what_the_server_computes(mysql_app: MysqlApp) -> None:
    for password in ("pw", NASTY, "x" * 200):
        rows = mysql_app.server.execute("SELECT PASSWORD(%s)", (password,))
        assert rows == [(native_hash(password),)]


def test_only_the_hash_reaches_the_general_log(mysql_app: MysqlApp) -> None:
    pending = rotate(mysql_app.secret, {})
    log = mysql_app.server.general_log()
    assert (f"SET PASSWORD FOR '{mysql_app.user}'@'%' = "
            f"'{native_hash(pending['password'])}'") in log
    assert pending["password"] not in log


def test_plaintext_fallback_keeps_out_of_the_log_only_with_super(mysql_app: MysqlApp) -> None:
    """An account with more than one authentication method takes no hash: the plaintext goes
    in the statement. An admin with SUPER turns the general log off for it; a user changing
    its own password cannot, and the password is in the log (docs/ROTATION.md says so)."""
    server = mysql_app.server
    user = f"{mysql_app.user}_multi"
    server.execute("CREATE USER %s@'%%' IDENTIFIED VIA mysql_native_password USING "
                   "PASSWORD('first-Password-1') OR unix_socket", (user,))
    current = server.secret(user, "lost-password")
    pending = rotate(current, {"admin": server.admin_secret()})
    assert server.can_login(user, pending["password"])
    assert pending["password"] not in server.general_log()
    assert "sql_log_off = 1" in server.general_log()
    again = rotate(pending, {})  # as the user itself, without SUPER
    assert server.can_login(user, again["password"])
    assert again["password"] in server.general_log()


def test_single_user_with_admin_when_the_current_password_is_lost(mysql_app: MysqlApp) -> None:
    server = mysql_app.server
    current = dict(mysql_app.secret, password="forgotten")
    pending = rotate(current, {"admin": server.admin_secret()})
    assert server.can_login(mysql_app.user, pending["password"], mysql_app.dbname)


def test_set_again_after_success_is_a_no_op(mysql_app: MysqlApp) -> None:
    rotator, current = MysqlRotator(), mysql_app.secret
    pending = rotator.create(current, {})
    rotator.set_secret(current, pending, {})
    rotator.set_secret(current, pending, {})  # resumed: CURRENT no longer logs in, PENDING does
    rotator.test_secret(pending, {})


def test_unix_socket_host(mysql_app: MysqlApp) -> None:
    server = mysql_app.server
    current = dict(mysql_app.secret, host=server.socket_path)
    pending = rotate(current, {})
    assert server.can_login(mysql_app.user, pending["password"], mysql_app.dbname)


def test_port_as_a_string(mysql_app: MysqlApp) -> None:
    current = dict(mysql_app.secret, port=str(mysql_app.server.port))
    pending = rotate(current, {})
    assert pending["port"] == current["port"]  # fields are kept as they were


# --- alternating users -----------------------------------------------------------------------

def test_alternating_users_live_connections_survive(mysql_app: MysqlApp) -> None:
    server, user, db = mysql_app.server, mysql_app.user, mysql_app.dbname
    settings, first = alternating(mysql_app), mysql_app.secret
    with server.connect(user, first["password"], db) as live:
        second = rotate(first, settings)
        assert second["username"] == f"{user}_clone"
        assert read_items(live) == [(1, "one")]  # the old user's connection is untouched
        with server.connect(second["username"], second["password"], db) as clone:
            assert read_items(clone) == [(1, "one")]  # the clone has the app's privileges
            third = rotate(second, settings)  # back to the original user, new password
            assert third["username"] == user
            assert read_items(clone) == [(1, "one")]
        assert read_items(live) == [(1, "one")]
    assert server.can_login(user, third["password"], db)
    assert not server.can_login(user, first["password"], db)
    assert server.can_login(f"{user}_clone", second["password"], db)  # PREVIOUS still works
    log = server.general_log()
    assert second["password"] not in log and third["password"] not in log


def test_alternating_users_copy_every_grant(mysql_app: MysqlApp) -> None:
    server, user, db = mysql_app.server, mysql_app.user, mysql_app.dbname
    role = f"role_{user}"
    for statement in (f"CREATE ROLE `{role}`", f"GRANT SELECT ON mysql.db TO `{role}`",
                      f"GRANT `{role}` TO root@'127.0.0.1' WITH ADMIN OPTION",  # the admin's
                      f"GRANT `{role}` TO `{user}`@`%`",
                      f"SET DEFAULT ROLE `{role}` FOR `{user}`@`%`",
                      f"GRANT SELECT (id) ON `{db}`.items TO `{user}`@`%` WITH GRANT OPTION",
                      f"ALTER USER `{user}`@`%` REQUIRE SSL WITH MAX_USER_CONNECTIONS 20"):
        server.execute(statement)
    pending = rotate(mysql_app.secret, alternating(mysql_app))
    clone = pending["username"]
    original = server.grants(user)
    assert len(original) == 5 and any("REQUIRE SSL" in g for g in original)
    assert server.grants(clone) == [g.replace(f"`{user}`@", f"`{clone}`@") for g in original]
    with server.connect(clone, pending["password"], db) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_ROLE()")
        assert cur.fetchall() == ((role,),)
        cur.execute("INSERT INTO items VALUES (2, 'two')")
        assert read_items(conn) == [(1, "one"), (2, "two")]


def test_a_clone_left_by_a_killed_set_is_completed(mysql_app: MysqlApp) -> None:
    """Killed after CREATE USER, before the grants and the password: resuming finishes it."""
    server, settings = mysql_app.server, alternating(mysql_app)
    pending = MysqlRotator().create(mysql_app.secret, settings)
    server.execute("CREATE USER %s@'%%' IDENTIFIED BY 'nobody-knows-this-1'",
                   (pending["username"],))
    assert not server.can_login(pending["username"], pending["password"], mysql_app.dbname)
    MysqlRotator().set_secret(mysql_app.secret, pending, settings)
    with server.connect(pending["username"], pending["password"], mysql_app.dbname) as conn:
        assert read_items(conn) == [(1, "one")]


def test_confused_deputy_refused(mysql_app: MysqlApp) -> None:
    """A CURRENT that does not log in (forged, or not this server's) makes the admin do
    nothing: no clone is created and no grant is copied."""
    server, settings = mysql_app.server, alternating(mysql_app)
    forged = dict(mysql_app.secret, password="forged-Password-1")
    pending = MysqlRotator().create(forged, settings)
    with pytest.raises(RotationError) as caught:
        MysqlRotator().set_secret(forged, pending, settings)
    assert caught.value.reason == ("cannot log in with the current credential "
                                   f"({mysql_app.user}@127.0.0.1:{server.port}/"
                                   f"{mysql_app.dbname}): access denied (a wrong password, or "
                                   "no such user for this host) (MySQL error 1045)")
    assert not server.user_exists(pending["username"])


def test_alternating_users_needs_an_admin(mysql_app: MysqlApp) -> None:
    with pytest.raises(UsageError, match=r"alternating-users needs settings\.admin"):
        MysqlRotator().create(mysql_app.secret, {"strategy": "alternating-users"})


def test_alternate_username() -> None:
    assert alternate_username("app") == "app_clone"
    assert alternate_username("app_clone") == "app"
    assert len(alternate_username("a" * 74)) == 80
    with pytest.raises(UsageError, match="too long"):
        alternate_username("a" * 75)


@pytest.mark.parametrize(("line", "copied"), [
    ("GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*0123ABCD'",
     "GRANT USAGE ON *.* TO 'app_clone'@'%'"),
    ("GRANT SELECT (`id`, `name`) ON `d TO x`.`t` TO `app`@`%` WITH GRANT OPTION",
     "GRANT SELECT (`id`, `name`) ON `d TO x`.`t` TO 'app_clone'@'%' WITH GRANT OPTION"),
    ("GRANT USAGE ON *.* TO 'app'@'%' IDENTIFIED BY PASSWORD '*01' REQUIRE SSL WITH "
     "MAX_USER_CONNECTIONS 5", "GRANT USAGE ON *.* TO 'app_clone'@'%' REQUIRE SSL WITH "
                               "MAX_USER_CONNECTIONS 5"),
    ("GRANT `r``1`@`%` TO `app`@`%` WITH ADMIN OPTION",  # MySQL 8 role grant
     "GRANT `r``1`@`%` TO 'app_clone'@'%' WITH ADMIN OPTION"),
    ("SET DEFAULT ROLE `r` FOR `app`@`%`", "SET DEFAULT ROLE `r` FOR 'app_clone'@'%'")])
def test_regrant(line: str, copied: str) -> None:
    secret = {"host": "db", "username": "app", "password": "pw-123456"}
    assert _regrant(line, ("app", "%"), "'app_clone'@'%'", _credential(secret, "x")) == copied


@pytest.mark.parametrize("line", [
    "REVOKE SELECT ON `mysql`.* FROM `app`@`%`",  # MySQL 8 partial revokes
    "GRANT SELECT ON *.* TO `other`@`%`", "GRANT SELECT ON *.*", ""])
def test_regrant_refuses_what_it_does_not_know(line: str) -> None:
    cred = _credential({"host": "db", "username": "app", "password": "pw-123456"}, "x")
    with pytest.raises(RotationError, match="a form sealer cannot copy"):
        _regrant(line, ("app", "%"), "'app_clone'@'%'", cred)


# --- TLS -----------------------------------------------------------------------------------

def test_without_the_ca_the_server_is_not_trusted(mysql_app: MysqlApp,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEALER_MYSQL_SSL_CA")  # the system's store does not know the test CA
    with pytest.raises(RotationError) as caught:
        MysqlRotator().test_secret(mysql_app.secret, {})
    assert caught.value.reason == ("cannot log in with the pending credential: the server's "
                                   "certificate could not be verified")
    assert "SEALER_MYSQL_SSL_CA" in str(caught.value.hint)


def test_a_certificate_for_another_name_is_refused(mysql_app: MysqlApp) -> None:
    secret = dict(mysql_app.secret, host="localhost")  # the certificate names 127.0.0.1
    with pytest.raises(RotationError, match="the server's certificate is not for this host"):
        MysqlRotator().test_secret(secret, {})
    MysqlRotator().test_secret(secret, {"ssl_mode": "verify_ca"})  # an explicit opt-out


def test_ssl_mode_disabled_and_a_missing_ca_file(mysql_app: MysqlApp,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    MysqlRotator().test_secret(mysql_app.secret, {"ssl_mode": "DISABLED"})
    monkeypatch.setenv("SEALER_MYSQL_SSL_CA", "/nonexistent/ca.pem")
    with pytest.raises(RotationError, match=r"cannot read the CA certificates in "
                                            r"\$SEALER_MYSQL_SSL_CA"):
        MysqlRotator().test_secret(mysql_app.secret, {})


def test_the_secrets_ssl_key(mysql_app: MysqlApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS's templates read `ssl` in the secret: false opts out of TLS (no CA needed), true
    refuses a weaker ssl_mode from the settings."""
    monkeypatch.delenv("SEALER_MYSQL_SSL_CA")
    MysqlRotator().test_secret(dict(mysql_app.secret, ssl=False), {})
    MysqlRotator().test_secret(dict(mysql_app.secret, ssl="false"), {})
    with pytest.raises(RotationError, match="certificate could not be verified"):
        MysqlRotator().test_secret(dict(mysql_app.secret, ssl=True), {})
    with pytest.raises(UsageError, match=r"ssl: true, which needs ssl_mode VERIFY_IDENTITY, "
                                         r"but settings\.ssl_mode is REQUIRED"):
        MysqlRotator().test_secret(dict(mysql_app.secret, ssl="true"), {"ssl_mode": "required"})


def test_a_server_without_tls_gets_no_credentials() -> None:
    """No silent fallback: a server that does not offer TLS is refused before the login is
    sent. The real test server offers TLS, so this one is a socket that sends a MySQL
    greeting without the TLS capability, and records what the client sends back."""
    received = bytearray()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        thread = threading.Thread(target=_greet_without_tls, args=(listener, received))
        thread.start()
        secret = {"host": "127.0.0.1", "port": port, "username": "app-user-name",
                  "password": "pw-123456"}
        with pytest.raises(RotationError, match="the server does not offer TLS, which the "
                                                "ssl_mode requires"):
            MysqlRotator().test_secret(secret, {"ssl_mode": "REQUIRED"})
        thread.join(10)
    assert b"app-user-name" not in received and b"pw-123456" not in received


def _greet_without_tls(listener: socket.socket, received: bytearray) -> None:
    conn, _ = listener.accept()
    with conn:
        capabilities = 0x1 | 0x200 | 0x8000 | 0x80000  # 4.1 protocol, secure auth, plugin auth
        body = (b"\x0a5.5.5-10.11.0-MariaDB\x00" + struct.pack("<I", 7) + b"abcdefgh\x00"
                + struct.pack("<HBHH", capabilities & 0xFFFF, 45, 2, capabilities >> 16)
                + b"\x15" + b"\x00" * 10 + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
        conn.sendall(struct.pack("<I", len(body))[:3] + b"\x00" + body)
        conn.settimeout(5)
        while chunk := conn.recv(4096):
            received.extend(chunk)


# --- failures ------------------------------------------------------------------------------------

def test_set_against_a_stopped_server(mysql_app: MysqlApp) -> None:
    rotator, current, server = MysqlRotator(), mysql_app.secret, mysql_app.server
    pending = rotator.create(current, {})
    with server.stopped(), pytest.raises(RotationError) as caught:
        rotator.set_secret(current, pending, {"connect_timeout": 2})
    target = f"mysql user {mysql_app.user} on 127.0.0.1:{server.port}/{mysql_app.dbname}"
    assert str(caught.value) == (f"rotation step 'set' failed for {target}: cannot log in with "
                                 "the current credential: connection refused")
    assert caught.value.step == "set"
    assert_no_password(caught.value, current["password"], pending["password"])
    assert server.can_login(mysql_app.user, current["password"], mysql_app.dbname)


def test_test_against_a_stopped_server(mysql_app: MysqlApp) -> None:
    rotator, current, server = MysqlRotator(), mysql_app.secret, mysql_app.server
    pending = rotator.create(current, {})
    rotator.set_secret(current, pending, {})
    with server.stopped(), pytest.raises(RotationError) as caught:
        rotator.test_secret(pending, {})
    assert caught.value.step == "test" and "connection refused" in str(caught.value)
    rotator.test_secret(pending, {})  # back up: the rotation can resume at test


def test_wrong_admin_password(mysql_app: MysqlApp) -> None:
    server, current = mysql_app.server, mysql_app.secret
    admin = dict(server.admin_secret(), password="not-the-admin-password")
    settings = {"strategy": "alternating-users", "admin": admin}
    pending = MysqlRotator().create(current, settings)
    with pytest.raises(RotationError) as caught:
        MysqlRotator().set_secret(current, pending, settings)
    assert str(caught.value) == (
        f"rotation step 'set' failed for mysql user {mysql_app.user}_clone on "
        f"127.0.0.1:{server.port}/{mysql_app.dbname}: cannot log in with the admin credential "
        f"(root@127.0.0.1:{server.port}): access denied (a wrong password, or no such user "
        "for this host) (MySQL error 1045)")
    assert_no_password(caught.value, admin["password"], current["password"], pending["password"])
    assert not server.user_exists(pending["username"])


def test_admin_without_permission_gets_the_error_number(mysql_app: MysqlApp) -> None:
    server = mysql_app.server
    weak = f"{mysql_app.user}_weak"
    server.execute("CREATE USER %s@'%%' IDENTIFIED BY 'weak-password-123'", (weak,))
    settings = {"strategy": "alternating-users",
                "admin": server.secret(weak, "weak-password-123")}
    pending = MysqlRotator().create(mysql_app.secret, settings)
    with pytest.raises(RotationError) as caught:
        MysqlRotator().set_secret(mysql_app.secret, pending, settings)
    assert str(caught.value).endswith(": permission denied on a table (MySQL error 1142)")
    assert_no_password(caught.value, pending["password"], "weak-password-123")


def test_test_secret_with_a_wrong_password(mysql_app: MysqlApp) -> None:
    wrong = dict(mysql_app.secret, password="Wr0ng-password!")
    with pytest.raises(RotationError) as caught:
        MysqlRotator().test_secret(wrong, {})
    assert caught.value.step == "test"
    assert caught.value.reason == ("cannot log in with the pending credential: access denied "
                                   "(a wrong password, or no such user for this host) "
                                   "(MySQL error 1045)")
    assert_no_password(caught.value, "Wr0ng-password!")


def test_a_server_message_holding_the_password_is_not_shown(mysql_app: MysqlApp) -> None:
    """A user named like the password: the server's message names the user; only a fixed
    description of the failure is given."""
    secret = dict(mysql_app.secret, username="Hunter2-user", password="Hunter2-user")
    with pytest.raises(RotationError) as caught:
        MysqlRotator().test_secret(secret, {})
    # An unknown user gets 1045 or 1698 from MariaDB, varying between runs (both seen).
    assert "Hunter2" not in caught.value.reason
    assert re.search(r"\(MySQL error (1045|1698)\)$", caught.value.reason)


def test_pending_for_another_user_or_host_is_refused(mysql_app: MysqlApp) -> None:
    current = mysql_app.secret
    for changed in ({"username": "root"}, {"host": "db.elsewhere.example"},
                    {"dbname": "mysql"}, {"port": 1}):
        with pytest.raises(RotationError, match="single-user rotation changes only the password"):
            MysqlRotator().set_secret(current, dict(current, **changed, password="x" * 20), {})


def test_a_missing_driver_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)  # as if PyMySQL were not installed
    with pytest.raises(UsageError) as caught:
        get_rotator("mysql")
    assert str(caught.value) == "the mysql rotator needs PyMySQL, which is not installed"
    assert caught.value.hint == "pip install 'sealer[mysql]'"


@pytest.mark.parametrize(("settings", "message"), [
    ({"strategy": "multi"}, "unknown strategy 'multi'"),
    ({"ssl_mode": "on"}, "unknown ssl_mode 'ON'"),
    ({"sslmode": "disable"}, "rotator 'mysql' has no setting 'sslmode'"),
    ({"connect_timeout": 0}, "connect_timeout must be a whole number"),
    ({"password": 12}, "settings.password must be a mapping"),
    ({"password": {"size": 12}}, "generator 'password' has no option 'size'")])
def test_bad_settings(settings: dict[str, Any], message: str) -> None:
    current = {"host": "db", "username": "app", "password": "pw-123456"}
    with pytest.raises(UsageError, match=re.escape(message)):
        MysqlRotator().create(current, settings)


@pytest.mark.parametrize(("secret", "message"), [
    ("just-a-password", "is not a mapping"),
    ({"username": "app", "password": "x"}, "has no host"),
    ({"host": "db", "password": "x"}, "has no username"),
    ({"host": "db", "username": "app", "password": ""}, "has no password"),
    ({"host": "db", "username": "app", "password": "x", "engine": "postgres"},
     "engine 'postgres'"),
    ({"host": "db", "username": "app", "password": "x", "port": "nope"}, "invalid port"),
    ({"host": "db", "username": "app", "password": "x", "port": True}, "invalid port"),
    ({"host": "db", "username": "app", "password": "x", "ssl": "yes"}, "invalid ssl")])
def test_bad_secret(secret: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        MysqlRotator().create(secret, {})
