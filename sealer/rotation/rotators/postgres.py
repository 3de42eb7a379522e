"""The `postgres` rotator: change a PostgreSQL role's password, AWS's two ways.

The secret is AWS's RDS secret: a mapping with `host` (a name, an address, or a unix socket
directory), `port` (default 5432), `username`, `password`, `dbname` (default postgres) and
optionally `engine` (postgres). Other fields are kept as they are.

Strategies (`settings["strategy"]`):

- `single-user` (default): the role's password is changed in place (`ALTER ROLE … PASSWORD`),
  logged in as the role itself, or as `settings["admin"]` when given. Connections already open
  stay open; new ones need the new password.
- `alternating-users`: two roles, `app` and `app_clone`. Each rotation gives the role that is
  not CURRENT a new password and makes it CURRENT, so the previous credential keeps working
  until the rotation after next and live connections are never touched. The first rotation
  creates the clone as the admin, `CREATE ROLE app_clone WITH LOGIN … IN ROLE app` (AWS's
  template: the clone is a member of the original and inherits its privileges). Needs
  `settings["admin"]`, an admin credential of the same shape (its `dbname` defaults to the
  secret's), able to create roles and grant membership in the application role.

Other settings: `password` (options for `generators.password`; default AWS's template, which
leaves out `:/@"'\\` so the password is safe in connection URIs), `connect_timeout` (seconds,
default 10), `sslmode` (libpq's, default prefer).

Passwords are sent to the server only as SCRAM (or MD5, per the server's
`password_encryption`) verifiers computed by libpq, as psql's `\\password` does, so the
plaintext never appears in statement text, server logs or errors. Errors keep the SQLSTATE and
the server's message, unless that message contains a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ...errors import SealerError, UsageError
from .base import RotationError, RotationStep, Rotator, check_settings, redact

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresRotator", "alternate_username"]

SETTINGS = ("strategy", "admin", "password", "connect_timeout", "sslmode")
STRATEGIES = ("single-user", "alternating-users")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
ENGINES = ("postgres", "aurora-postgresql")
CLONE_SUFFIX = "_clone"
MAX_IDENTIFIER = 63  # NAMEDATALEN - 1
DEFAULT_PASSWORD_OPTIONS: Mapping[str, Any] = {"exclude_characters": ":/@\"'\\"}


@dataclass(frozen=True)
class Credential:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    dbname: str = "postgres"

    @property
    def target(self) -> str:
        return f"postgres role {self.username} on {self.host}:{self.port}/{self.dbname}"


class PostgresRotator:
    """Rotates a PostgreSQL role's password (single-user) or alternates two roles."""

    name = "postgres"

    def __init__(self) -> None:
        _require_psycopg()

    def create(self, current: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
        from ..generators import generate

        config = _Config.parse(settings, _credential(current, "the secret"))
        pending = dict(current)
        if config.strategy == "alternating-users":
            pending["username"] = alternate_username(str(current["username"]))
        pending["password"] = generate("password", config.password_options)
        return pending

    def set_secret(self, current: Any, pending: Any, settings: Mapping[str, Any]) -> None:
        old, new = _credential(current, "the secret"), _credential(pending, "the pending secret")
        config = _Config.parse(settings, old)
        _check_pair(old, new, config)
        if _logs_in(new, config):
            return  # already set: a resumed rotation
        if config.strategy == "alternating-users" and config.admin:
            # As AWS does: prove CURRENT genuine before the admin acts on what it names.
            _connect(old, config, "set", new, "current").close()
            with _connect(config.admin, config, "set", new, "admin") as conn:
                _set_password(conn, new, config, member_of=old.username)
            return
        login, purpose = (config.admin, "admin") if config.admin else (old, "current")
        with _connect(login, config, "set", new, purpose) as conn:
            _set_password(conn, new, config)

    def test_secret(self, pending: Any, settings: Mapping[str, Any]) -> None:
        new = _credential(pending, "the pending secret")
        config = _Config.parse(settings, new)
        with _connect(new, config, "test", new, "pending") as conn:
            row = _run(conn, config, "test", new, "SELECT current_user")
        if not row or row[0] != new.username:
            raise RotationError("test", new.target, "logged in, but as another role")

    def finish_secret(self, current: Any, pending: Any, settings: Mapping[str, Any]) -> None:
        """Nothing to clean up: the previous role and password stay valid (AWS does the same)."""


def _require_psycopg() -> None:
    from importlib.util import find_spec

    if find_spec("psycopg") is None:
        raise SealerError("the postgres rotator needs psycopg 3, which is not installed",
                          hint="pip install 'psycopg[binary]'")


def alternate_username(username: str) -> str:
    """`app` <-> `app_clone`, as AWS's alternating-users template names them."""
    if username.endswith(CLONE_SUFFIX):
        return username.removesuffix(CLONE_SUFFIX)
    if len((username + CLONE_SUFFIX).encode("utf-8")) > MAX_IDENTIFIER:
        raise UsageError(f"role name {username!r} is too long to add {CLONE_SUFFIX!r} "
                         f"(PostgreSQL names are at most {MAX_IDENTIFIER} bytes)")
    return username + CLONE_SUFFIX


@dataclass(frozen=True)
class _Config:
    strategy: str
    admin: Credential | None
    password_options: Mapping[str, Any]
    connect_timeout: int
    sslmode: str

    @classmethod
    def parse(cls, settings: Mapping[str, Any], secret: Credential) -> _Config:
        check_settings("postgres", settings, SETTINGS)
        strategy = _choice(settings, "strategy", STRATEGIES)
        admin = settings.get("admin")
        if strategy == "alternating-users" and admin is None:
            raise UsageError("rotator 'postgres' with alternating-users needs settings.admin",
                             hint="an admin credential (host, port, username, password) that "
                                  "can create roles, e.g. from another sealed secret")
        options = settings.get("password", {})
        if not isinstance(options, Mapping):
            raise UsageError("rotator 'postgres': settings.password must be a mapping of "
                             "password generator options", hint="e.g. {length: 40}")
        timeout = settings.get("connect_timeout", 10)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise UsageError("rotator 'postgres': settings.connect_timeout must be a whole "
                             "number of seconds, at least 1")
        admin_cred = None if admin is None else _credential(admin, "settings.admin",
                                                            dbname=secret.dbname)
        return cls(strategy, admin_cred, {**DEFAULT_PASSWORD_OPTIONS, **options}, timeout,
                   _choice(settings, "sslmode", SSLMODES, default="prefer"))


def _choice(settings: Mapping[str, Any], name: str, allowed: tuple[str, ...],
            default: str | None = None) -> str:
    value = settings.get(name, default or allowed[0])
    if value not in allowed:
        raise UsageError(f"rotator 'postgres': unknown {name} {value!r}",
                         hint=f"use one of: {', '.join(allowed)}")
    return str(value)


def _credential(value: Any, what: str, *, dbname: str = "postgres") -> Credential:
    """A Credential from an RDS-shaped mapping; UsageError naming the field that is wrong."""
    shape = "a mapping with host, port, username, password and dbname (AWS's RDS secret)"
    if not isinstance(value, Mapping):
        raise UsageError(f"{what} for rotator 'postgres' is not a mapping", hint=f"use {shape}")
    for name in ("host", "username", "password"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise UsageError(f"{what} for rotator 'postgres' has no {name}", hint=f"use {shape}")
    if value.get("engine", "postgres") not in ENGINES:
        raise UsageError(f"{what} is for engine {value['engine']!r}, not postgres")
    port = value.get("port", 5432)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"{what} for rotator 'postgres' has an invalid port")
    return Credential(value["host"], port, value["username"], value["password"],
                      str(value.get("dbname") or dbname))


def _check_pair(old: Credential, new: Credential, config: _Config) -> None:
    """PENDING may only differ from CURRENT in what the strategy changes."""
    expected = old.username
    if config.strategy == "alternating-users":
        expected = alternate_username(old.username)
    moved = replace(new, username=old.username, password=old.password) != old
    if new.username != expected or moved:
        changes = "the password" if expected == old.username else "the role and its password"
        raise RotationError("set", old.target, f"the pending secret is for {new.target}, but "
                            f"{config.strategy} rotation changes only {changes}")


def _connect(cred: Credential, config: _Config, step: RotationStep, subject: Credential,
             purpose: str) -> psycopg.Connection[Any]:
    """An autocommit connection as `cred`; RotationError (about `subject`) when it fails."""
    import psycopg

    try:
        return psycopg.connect(
            host=cred.host, port=cred.port, user=cred.username, password=cred.password,
            dbname=cred.dbname, connect_timeout=config.connect_timeout, sslmode=config.sslmode,
            application_name="sealer-rotate", autocommit=True)
    except psycopg.Error as exc:
        same = replace(cred, password="") == replace(subject, password="")
        who = "" if same else f" ({cred.username}@{cred.host}:{cred.port}/{cred.dbname})"
        reason = _reason(exc, _passwords(cred, subject, config))
        raise RotationError(step, subject.target,
                            f"cannot log in with the {purpose} credential{who}: {reason}") from None


def _logs_in(cred: Credential, config: _Config) -> bool:
    try:
        _connect(cred, config, "set", cred, "pending").close()
    except RotationError:
        return False
    return True


def _set_password(conn: psycopg.Connection[Any], new: Credential, config: _Config,
                  *, member_of: str | None = None) -> None:
    """Give `new.username` the password, as a verifier; with `member_of`, create the role as a
    member of that one when it does not exist yet."""
    from psycopg import sql

    verifier = _verifier(conn, new, config)
    role = sql.Identifier(new.username)
    exists = member_of is None or _run(conn, config, "set", new,
                                       "SELECT 1 FROM pg_roles WHERE rolname = %s",
                                       (new.username,))
    if exists:
        statement = sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(role, sql.Literal(verifier))
    else:
        statement = sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {} IN ROLE {}").format(
            role, sql.Literal(verifier), sql.Identifier(str(member_of)))
    _run(conn, config, "set", new, statement)


def _verifier(conn: psycopg.Connection[Any], new: Credential, config: _Config) -> str:
    """The password hashed by libpq the way the server stores it (password_encryption)."""
    import psycopg

    try:
        hashed = conn.pgconn.encrypt_password(new.password.encode("utf-8"),
                                              new.username.encode("utf-8"))
    except psycopg.Error as exc:
        raise RotationError("set", new.target, "cannot hash the new password: "
                            + _reason(exc, _passwords(new, new, config))) from None
    return hashed.decode("ascii")


def _run(conn: psycopg.Connection[Any], config: _Config, step: RotationStep, subject: Credential,
         query: Any, params: tuple[Any, ...] | None = None) -> tuple[Any, ...] | None:
    """Execute one statement; its first row. Errors become RotationErrors without the text."""
    import psycopg

    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchone() if cur.description else None
    except psycopg.Error as exc:
        reason = _reason(exc, _passwords(subject, subject, config))
        raise RotationError(step, subject.target, reason) from None


def _passwords(*creds: Credential | _Config | None) -> set[str]:
    out: set[str] = set()
    for item in creds:
        if isinstance(item, _Config):
            item = item.admin
        if item is not None:
            out.add(item.password)
    return out


def _reason(exc: Exception, passwords: set[str]) -> str:
    """The server's or libpq's one-line reason, with its SQLSTATE; never a password."""
    sqlstate = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc)).strip()
    text = text.splitlines()[0] if text else "unknown error"
    text = text.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    safe = redact(text, passwords) or "the server's message is not shown: it contains a password"
    return f"{safe} (SQLSTATE {sqlstate})" if sqlstate else safe


if TYPE_CHECKING:
    _conforms: Rotator = PostgresRotator()  # mypy checks that the class provides the protocol
