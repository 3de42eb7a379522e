"""The `postgres` rotator against a real PostgreSQL server (tests/pg_server.py): single-user and
alternating-users rotation end to end, live connections surviving, and failures injected at
set and test, each a RotationError that names the step and target and never a password."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sealer.errors import UsageError
from sealer.rotation.rotators import RotationError, get_rotator
from sealer.rotation.rotators.postgres import PostgresRotator, alternate_username

if TYPE_CHECKING:
    from pg_server import PostgresApp

pytest_plugins = ["pg_server"]

NASTY = "it's a \"test\" \\ $$ ;DROP ROLE x; -- 'ünïcode'"


@pytest.fixture(autouse=True)
def no_tls_on_the_test_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server listens on 127.0.0.1 without TLS: this host opts out of verify-full, as
    an operator would with PGSSLMODE=disable (tests/test_rotators_postgres_tls.py covers the
    default)."""
    monkeypatch.setenv("PGSSLMODE", "disable")


def rotate(current: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The four steps in order, as the orchestrator runs them."""
    rotator = PostgresRotator()
    pending = rotator.create(current, settings)
    rotator.set_secret(current, pending, settings)
    rotator.test_secret(pending, settings)
    rotator.finish_secret(current, pending, settings)
    return pending


def read_items(conn: Any) -> list[Any]:
    return list(conn.execute("SELECT id, name FROM items ORDER BY id").fetchall())


def assert_no_password(error: BaseException, *passwords: str) -> None:
    text = f"{error} {error.hint if isinstance(error, RotationError) else ''}"
    for password in passwords:
        assert password not in text


# --- single user ---------------------------------------------------------------------------

def test_single_user_new_password_logs_in_and_the_old_one_does_not(
        postgres_app: PostgresApp) -> None:
    server, current = postgres_app.server, postgres_app.secret
    assert isinstance(get_rotator("postgres"), PostgresRotator)
    pending = rotate(current, {})
    assert {k: v for k, v in pending.items() if k != "password"} == {
        k: v for k, v in current.items() if k != "password"}
    assert len(pending["password"]) == 32
    assert not set(pending["password"]) & set(":/@\"'\\")  # AWS's template default
    assert server.can_login(postgres_app.role, pending["password"], postgres_app.dbname)
    assert not server.can_login(postgres_app.role, current["password"], postgres_app.dbname)


def test_single_user_keeps_open_connections(postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    with server.connect(postgres_app.role, postgres_app.password, postgres_app.dbname) as live:
        rotate(postgres_app.secret, {})
        assert read_items(live) == [(1, "one")]


def test_password_with_quotes_and_backslashes(postgres_app: PostgresApp) -> None:
    current = postgres_app.secret
    pending = dict(current, password=NASTY)
    PostgresRotator().set_secret(current, pending, {})
    PostgresRotator().test_secret(pending, {})
    assert postgres_app.server.can_login(postgres_app.role, NASTY, postgres_app.dbname)


def test_password_options_and_every_character(postgres_app: PostgresApp) -> None:
    settings = {"password": {"length": 64, "exclude_characters": ""}}
    pending = rotate(postgres_app.secret, settings)
    assert len(pending["password"]) == 64


def test_the_password_never_reaches_the_server_log(postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    pending = rotate(postgres_app.secret, {})
    log = server.log()
    assert f'ALTER ROLE "{postgres_app.role}" WITH PASSWORD \'SCRAM-SHA-256$' in log
    assert pending["password"] not in log


def test_single_user_with_admin_when_the_current_password_is_lost(
        postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    current = dict(postgres_app.secret, password="forgotten")
    settings = {"admin": server.admin_secret()}
    pending = rotate(current, settings)
    assert server.can_login(postgres_app.role, pending["password"], postgres_app.dbname)


def test_set_again_after_success_is_a_no_op(postgres_app: PostgresApp) -> None:
    rotator, current = PostgresRotator(), postgres_app.secret
    pending = rotator.create(current, {})
    rotator.set_secret(current, pending, {})
    rotator.set_secret(current, pending, {})  # resumed: CURRENT no longer logs in, PENDING does
    rotator.test_secret(pending, {})


def test_unix_socket_host(postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    current = dict(postgres_app.secret, host=server.socket_dir)
    pending = rotate(current, {"sslmode": "disable"})
    assert server.can_login(postgres_app.role, pending["password"], postgres_app.dbname)


# --- alternating users -----------------------------------------------------------------------

def test_alternating_users_live_connections_survive(postgres_app: PostgresApp) -> None:
    server, role, db = postgres_app.server, postgres_app.role, postgres_app.dbname
    settings = {"strategy": "alternating-users", "admin": server.admin_secret()}
    first = postgres_app.secret
    with server.connect(role, first["password"], db) as live:
        second = rotate(first, settings)
        assert second["username"] == f"{role}_clone"
        assert read_items(live) == [(1, "one")]  # the old user's connection is untouched
        with server.connect(second["username"], second["password"], db) as clone:
            assert read_items(clone) == [(1, "one")]  # the clone has the app's privileges
            assert clone.execute("SELECT current_user").fetchone() == (f"{role}_clone",)
            third = rotate(second, settings)  # back to the original role, new password
            assert third["username"] == role
            assert read_items(clone) == [(1, "one")]
        assert read_items(live) == [(1, "one")]
    assert server.can_login(role, third["password"], db)
    assert not server.can_login(role, first["password"], db)
    assert server.can_login(f"{role}_clone", second["password"], db)  # PREVIOUS still works
    members = server.execute(
        "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
        "JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = %s", (role,))
    assert members == [(f"{role}_clone",)]
    assert second["password"] not in server.log() and third["password"] not in server.log()


def test_alternating_users_clone_can_write_what_the_app_can(postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    pending = rotate(postgres_app.secret, {"strategy": "alternating-users",
                                           "admin": server.admin_secret()})
    with server.connect(pending["username"], pending["password"], postgres_app.dbname) as conn:
        conn.execute("INSERT INTO items VALUES (2, 'two')")
        assert read_items(conn) == [(1, "one"), (2, "two")]


def test_alternating_users_needs_an_admin(postgres_app: PostgresApp) -> None:
    with pytest.raises(UsageError, match=r"alternating-users needs settings\.admin"):
        PostgresRotator().create(postgres_app.secret, {"strategy": "alternating-users"})


def test_alternate_username() -> None:
    assert alternate_username("app") == "app_clone"
    assert alternate_username("app_clone") == "app"
    assert len(alternate_username("a" * 57)) == 63
    with pytest.raises(UsageError, match="too long"):
        alternate_username("a" * 58)


# --- failures ------------------------------------------------------------------------------------

def test_set_against_a_stopped_server(postgres_app: PostgresApp) -> None:
    rotator, current, server = PostgresRotator(), postgres_app.secret, postgres_app.server
    pending = rotator.create(current, {})
    with server.stopped(), pytest.raises(RotationError) as caught:
        rotator.set_secret(current, pending, {"connect_timeout": 2})
    target = (f"postgres role {postgres_app.role} on 127.0.0.1:{server.port}/"
              f"{postgres_app.dbname}")
    assert str(caught.value) == (f"rotation step 'set' failed for {target}: cannot log in with "
                                 "the current credential: connection refused")
    assert caught.value.step == "set"
    assert_no_password(caught.value, current["password"], pending["password"])
    assert server.can_login(postgres_app.role, current["password"], postgres_app.dbname)


def test_test_against_a_stopped_server(postgres_app: PostgresApp) -> None:
    rotator, current, server = PostgresRotator(), postgres_app.secret, postgres_app.server
    pending = rotator.create(current, {})
    rotator.set_secret(current, pending, {})
    with server.stopped(), pytest.raises(RotationError) as caught:
        rotator.test_secret(pending, {})
    assert caught.value.step == "test" and "connection refused" in str(caught.value)
    rotator.test_secret(pending, {})  # back up: the rotation can resume at test


def test_wrong_admin_password(postgres_app: PostgresApp) -> None:
    server, current = postgres_app.server, postgres_app.secret
    admin = dict(server.admin_secret(), password="not-the-admin-password")
    del admin["dbname"]  # defaults to the application's database
    settings = {"strategy": "alternating-users", "admin": admin}
    pending = PostgresRotator().create(current, settings)
    with pytest.raises(RotationError) as caught:
        PostgresRotator().set_secret(current, pending, settings)
    assert str(caught.value) == (
        f"rotation step 'set' failed for postgres role {postgres_app.role}_clone on "
        f"127.0.0.1:{server.port}/{postgres_app.dbname}: cannot log in with the admin credential "
        f"(postgres@127.0.0.1:{server.port}/{postgres_app.dbname}): password authentication "
        "failed")
    assert_no_password(caught.value, admin["password"], current["password"], pending["password"])
    assert not server.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              (pending["username"],))


def test_admin_without_permission_gets_the_sqlstate(postgres_app: PostgresApp) -> None:
    server = postgres_app.server
    weak = f"{postgres_app.role}_weak"
    server.create_role(weak, "weak-password-123")
    settings = {"strategy": "alternating-users",
                "admin": server.secret(weak, "weak-password-123", postgres_app.dbname)}
    pending = PostgresRotator().create(postgres_app.secret, settings)
    with pytest.raises(RotationError) as caught:
        PostgresRotator().set_secret(postgres_app.secret, pending, settings)
    assert str(caught.value).endswith(": permission denied (SQLSTATE 42501)")
    assert_no_password(caught.value, pending["password"], "weak-password-123")


def test_test_secret_with_a_wrong_password(postgres_app: PostgresApp) -> None:
    wrong = dict(postgres_app.secret, password="Wr0ng-password!")
    with pytest.raises(RotationError) as caught:
        PostgresRotator().test_secret(wrong, {})
    assert caught.value.step == "test"
    assert "cannot log in with the pending credential: password authentication failed" in str(
        caught.value)
    assert_no_password(caught.value, "Wr0ng-password!")


def test_a_server_message_holding_the_password_is_not_shown(postgres_app: PostgresApp) -> None:
    """A role named like the password: the server's message names the role; only a fixed
    description of the failure is given."""
    secret = dict(postgres_app.secret, username="Hunter2-role", password="Hunter2-role")
    with pytest.raises(RotationError) as caught:
        PostgresRotator().test_secret(secret, {})
    assert caught.value.reason == ("cannot log in with the pending credential: password "
                                   "authentication failed")


def test_ssl_required_against_a_server_without_ssl(postgres_app: PostgresApp) -> None:
    with pytest.raises(RotationError, match="the server does not offer TLS"):
        PostgresRotator().test_secret(postgres_app.secret, {"sslmode": "require"})


def test_pending_for_another_role_or_host_is_refused(postgres_app: PostgresApp) -> None:
    current = postgres_app.secret
    for changed in ({"username": "postgres"}, {"host": "db.elsewhere.example"},
                    {"dbname": "postgres"}):
        with pytest.raises(RotationError, match="single-user rotation changes only the password"):
            PostgresRotator().set_secret(current, dict(current, **changed, password="x" * 20), {})


@pytest.mark.parametrize(("settings", "message"), [
    ({"strategy": "multi"}, "unknown strategy 'multi'"),
    ({"sslmode": "on"}, "unknown sslmode 'on'"),
    ({"connect_timeout": 0}, "connect_timeout must be a whole number"),
    ({"password": 12}, "settings.password must be a mapping"),
    ({"password": {"size": 12}}, "generator 'password' has no option 'size'"),
    ({"hosts": "x"}, "rotator 'postgres' has no setting 'hosts'")])
def test_bad_settings(settings: dict[str, Any], message: str) -> None:
    current = {"host": "db", "username": "app", "password": "pw-123456"}
    with pytest.raises(UsageError, match=message):
        PostgresRotator().create(current, settings)


@pytest.mark.parametrize(("secret", "message"), [
    ("just-a-password", "is not a mapping"),
    ({"username": "app", "password": "x"}, "has no host"),
    ({"host": "db", "password": "x"}, "has no username"),
    ({"host": "db", "username": "app", "password": ""}, "has no password"),
    ({"host": "db", "username": "app", "password": "x", "engine": "mysql"}, "engine 'mysql'"),
    ({"host": "db", "username": "app", "password": "x", "port": "nope"}, "invalid port")])
def test_bad_secret(secret: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        PostgresRotator().create(secret, {})


def test_port_as_a_string_and_defaults(postgres_app: PostgresApp) -> None:
    current = dict(postgres_app.secret, port=str(postgres_app.server.port))
    pending = rotate(current, {})
    assert pending["port"] == current["port"]  # fields are kept as they were


# -- the secret's own `ssl` and `masterarn` keys (AWS's template behaviour; no server needed) --


def test_the_secrets_ssl_key_is_honoured_without_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    from sealer.rotation.rotators.postgres import _Config, _credential

    monkeypatch.delenv("PGSSLMODE", raising=False)
    base = {"host": "db.example.com", "username": "app", "password": "x" * 12}

    def mode(secret: dict[str, Any], settings: dict[str, Any] | None = None) -> str:
        return _Config.parse(settings or {}, _credential(secret, "the secret")).sslmode

    assert mode(base) == "verify-full"
    assert mode({**base, "ssl": True}) == mode({**base, "ssl": "true"}) == "verify-full"
    assert mode({**base, "ssl": False}) == "disable"  # an explicit opt-out, in the secret
    assert mode({**base, "ssl": False}, {"sslmode": "require"}) == "require"
    with pytest.raises(UsageError, match="ssl: true, which needs sslmode verify-full"):
        mode({**base, "ssl": True}, {"sslmode": "require"})
    monkeypatch.setenv("PGSSLMODE", "prefer")
    with pytest.raises(UsageError, match=r"\$PGSSLMODE is prefer"):
        mode({**base, "ssl": True})
    with pytest.raises(UsageError, match="invalid ssl"):
        mode({**base, "ssl": "maybe"})


def test_masterarn_names_the_admin_inside_the_repository(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sealing import new_identity

    from sealer.core import seal
    from sealer.rotation.protocol import configure_rotation, rotate

    monkeypatch.setenv("SEALER_TRUST_UNSIGNED_ROTATORS", "1")
    identity, recipient = new_identity()
    repo = tmp_path / "repo"
    repo.mkdir()
    path = repo / "db.sealed.yaml"
    for master, refusal in (("arn:aws:secretsmanager:us-east-1:1:secret:admin", "AWS secret ARN"),
                            ("../outside.sealed.yaml#admin", "leads outside the repository")):
        secret = {"engine": "postgres", "host": "127.0.0.1", "port": "5432", "username": "app",
                  "password": "x" * 12, "masterarn": master}
        path.write_text(seal({"db": secret}, recipients=[recipient], source=str(path)).to_yaml())
        configure_rotation(path, "db", [identity], every="30d", rotator="postgres",
                           settings={"strategy": "alternating-users"})
        before = path.read_bytes()
        with pytest.raises(UsageError, match=refusal):
            rotate(path, "db", [identity])
        assert path.read_bytes() == before  # refused before create: nothing recorded
