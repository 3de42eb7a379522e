"""The `postgres` rotator: change a PostgreSQL role's password, AWS's two ways.

The secret is AWS's RDS secret: a mapping with `host` (a name, an address, or a unix socket
directory), `port` (default 5432, an integer or a digit string), `username`, `password`,
`dbname` (default postgres) and optionally `engine` (postgres) and `ssl` (below). Other fields
are kept as they are.

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
default 10), `sslmode` (libpq's, default `verify-full`).

Connections are authenticated by default: `verify-full` makes libpq check the server's
certificate against a CA and the host name, so no password (the current one, to log in, and
the verifier of the new one) goes to whoever answers on the network. The CA comes from the
host, never from the repository: `$PGSSLROOTCERT` or `~/.postgresql/root.crt` (libpq 16 and
later also take `PGSSLROOTCERT=system`). A host that is a unix socket directory (starting with
`/`) needs no TLS: libpq does not use it there. Any other `sslmode` (`verify-ca`, `require`,
`prefer`, `allow`, `disable`) is an explicit opt-out: `settings.sslmode` for one secret, or
the rotating host's own `$PGSSLMODE` when the settings name none. None of them stops a
server impersonating the real one from asking for the password in clear. The secret's `ssl`
key (AWS's templates read it) is honoured: `true` refuses any sslmode but `verify-full`,
`false` opts out to `disable` unless the settings name an sslmode.

Passwords are sent to the server only as SCRAM (or MD5, per the server's
`password_encryption`) verifiers computed by libpq, as psql's `\\password` does, so the
plaintext never appears in statement text, server logs or errors. A failure is reported with
its SQLSTATE and a fixed description of it, never the server's or libpq's message: a message
may quote a role name, a statement or a value, and the reason is recorded in the sealed file's
metadata (`rotation.pending.error`), which is not encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ...errors import SealerError, UsageError
from .base import RotationError, RotationStep, Rotator, check_settings
from .credentials import alternate, check_pair, common_settings, new_pending, secret_fields

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresRotator", "alternate_username"]

SETTINGS = ("strategy", "admin", "password", "connect_timeout", "sslmode")
STRATEGIES = ("single-user", "alternating-users")
SSLMODES = ("verify-full", "verify-ca", "require", "prefer", "allow", "disable")  # default first
ENGINES = ("postgres", "aurora-postgresql")
MAX_IDENTIFIER = 63  # NAMEDATALEN - 1
DEFAULT_PASSWORD_OPTIONS: Mapping[str, Any] = {"exclude_characters": ":/@\"'\\"}


@dataclass(frozen=True)
class Credential:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    dbname: str = "postgres"
    ssl: bool | None = None  # the secret's own `ssl` key (AWS's templates read it)

    @property
    def target(self) -> str:
        return f"postgres role {self.username} on {self.host}:{self.port}/{self.dbname}"


class PostgresRotator:
    """Rotates a PostgreSQL role's password (single-user) or alternates two roles."""

    name = "postgres"

    def __init__(self) -> None:
        _require_psycopg()

    def create(self, current: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
        config = _Config.parse(settings, _credential(current, "the secret"))
        return new_pending(current, config.strategy, alternate_username, config.password_options)

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
    return alternate(username, limit=MAX_IDENTIFIER, size=lambda n: len(n.encode("utf-8")),
                     noun="role",
                     limit_text=f"PostgreSQL names are at most {MAX_IDENTIFIER} bytes")


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
        common = common_settings("postgres", settings, strategies=STRATEGIES,
                                 admin_can="can create roles, e.g. from another sealed secret")
        admin = common.admin
        admin_cred = None if admin is None else _credential(admin, "settings.admin",
                                                            dbname=secret.dbname)
        return cls(common.strategy, admin_cred,
                   {**DEFAULT_PASSWORD_OPTIONS, **common.password_options},
                   common.connect_timeout, _sslmode(settings, secret.ssl))


def _sslmode(settings: Mapping[str, Any], ssl: bool | None = None) -> str:
    """settings.sslmode, else the host's $PGSSLMODE, else verify-full (see the module doc).

    The secret's `ssl` key, as AWS's templates read it: `true` demands verify-full (a weaker
    sslmode from the settings or the host is refused, never silently used); `false` is an
    explicit opt-out to `disable` unless the settings name an sslmode. There is no fallback
    from a failed verified connection to an unverified one."""
    import os

    if "sslmode" in settings:
        mode = _choice(settings, "sslmode", SSLMODES)
        where = "settings.sslmode"
    elif ssl is False:
        return "disable"
    else:
        mode = os.environ.get("PGSSLMODE") or SSLMODES[0]
        where = "$PGSSLMODE"
        if mode not in SSLMODES:
            raise UsageError(f"$PGSSLMODE is {mode!r}, not an sslmode the postgres rotator "
                             "knows", hint=f"use one of: {', '.join(SSLMODES)}")
    if ssl is True and mode != "verify-full":
        raise UsageError(f"the secret says ssl: true, which needs sslmode verify-full, but "
                         f"{where} is {mode}", hint="remove the weaker sslmode, or set ssl: "
                                                    "false in the secret to opt out")
    return mode


def _choice(settings: Mapping[str, Any], name: str, allowed: tuple[str, ...],
            default: str | None = None) -> str:
    value = settings.get(name, default or allowed[0])
    if value not in allowed:
        raise UsageError(f"rotator 'postgres': unknown {name} {value!r}",
                         hint=f"use one of: {', '.join(allowed)}")
    return str(value)


def _credential(value: Any, what: str, *, dbname: str = "postgres") -> Credential:
    """A Credential from an RDS-shaped mapping; UsageError naming the field that is wrong."""
    fields = secret_fields(value, what, rotator="postgres", engines=ENGINES, engine_text="postgres",
                           default_port=5432,
                           shape="a mapping with host, port, username, password and dbname "
                                 "(AWS's RDS secret)")
    return Credential(fields.host, fields.port, fields.username, fields.password,
                      str(fields.dbname or dbname), fields.ssl)


def _check_pair(old: Credential, new: Credential, config: _Config) -> None:
    check_pair(old, new, config.strategy, alternate_name=alternate_username, account="role")


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
        raise RotationError(step, subject.target,
                            f"cannot log in with the {purpose} credential{who}: "
                            f"{_reason(exc)}", hint=_hint(exc, config)) from None


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
        raise RotationError("set", new.target,
                            "cannot hash the new password: " + _reason(exc)) from None
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
        raise RotationError(step, subject.target, _reason(exc)) from None


# SQLSTATE -> what it means, in sealer's words (the server's own message is never shown)
_SQLSTATES = {
    "28P01": "password authentication failed",
    "28000": "the server refused the login (pg_hba.conf, or no such role)",
    "3D000": "the database does not exist",
    "42501": "permission denied",
    "42704": "the role does not exist",
    "42710": "the role already exists",
    "0LP01": "the role cannot be granted that membership",
    "53300": "the server has too many connections",
    "57P03": "the server is not accepting connections yet",
    "25006": "the server is read-only (a standby?)",
}
_SQLSTATE_CLASSES = {
    "08": "the connection failed",
    "28": "the server refused the login",
    "42": "the statement was refused",
    "53": "the server is out of resources",
    "57": "the server stopped the operation",
}
# libpq's messages for failures it reports without an SQLSTATE: (text in it, description)
_LIBPQ_FAILURES = (
    ("password authentication failed", "password authentication failed"),
    ("server does not support SSL", "the server does not offer TLS, which the sslmode "
                                    "requires"),
    ("root certificate file", "there is no CA certificate to verify the server with"),
    ("does not match host name", "the server's certificate is not for this host name"),
    ("certificate verify failed", "the server's certificate could not be verified"),
    ("SSL", "the TLS connection failed"),
    ("no pg_hba.conf entry", "the server's pg_hba.conf has no entry for this connection"),
    ("does not exist", "the database or role does not exist"),
    ("Connection refused", "connection refused"),
    ("timeout expired", "the connection timed out"),
    ("could not translate host name", "unknown host name"),
    ("No such file or directory", "no server at that unix socket"),
    ("too many", "the server has too many connections"),
    ("starting up", "the server is starting up"),
    ("shutting down", "the server is shutting down"),
    ("closed the connection", "the server closed the connection"),
)


def _reason(exc: Exception) -> str:
    """A fixed description of a psycopg error, and its SQLSTATE: never the text of the
    server's or libpq's message, which may quote names, statements or values."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        known = _SQLSTATES.get(sqlstate) or _SQLSTATE_CLASSES.get(sqlstate[:2])
        return f"{known or 'the server reported an error'} (SQLSTATE {sqlstate})"
    text = str(exc)
    known = next((what for needle, what in _LIBPQ_FAILURES if needle in text), None)
    return known or f"the connection failed ({type(exc).__name__})"


def _hint(exc: Exception, config: _Config) -> str | None:
    """What to do about a failed TLS verification (the default sslmode)."""
    if config.sslmode != "verify-full" or ("SSL" not in str(exc) and "certificate" not in str(exc)):
        return None
    return ("sslmode verify-full checks the server's certificate against the CA in "
            "$PGSSLROOTCERT or ~/.postgresql/root.crt; set up TLS on the server, or opt out "
            "with settings.sslmode (docs/ROTATION.md)")


if TYPE_CHECKING:
    _conforms: Rotator = PostgresRotator()  # mypy checks that the class provides the protocol
