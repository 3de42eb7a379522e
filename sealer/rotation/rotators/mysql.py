"""The `mysql` rotator: change a MySQL or MariaDB user's password, AWS's two ways.

The secret is AWS's database secret: a mapping with `host` (a name, an address, or the path of
the server's unix socket), `port` (default 3306; an integer or a string of digits),
`username`, `password`, optionally `dbname`, `engine` (mysql, mariadb or aurora-mysql) and
`ssl` (below). Other fields are kept as they are.

Strategies (`settings["strategy"]`):

- `single-user` (default): the user's password is changed in place, logged in as the user
  itself, or as `settings["admin"]` when given. Open connections stay open.
- `alternating-users`: two users, `app` and `app_clone`, with the same host part
  (`'app'@'%'`, `'app_clone'@'%'`). Each rotation gives the user that is not CURRENT a new
  password and makes it CURRENT, so the previous credential keeps working until the rotation
  after next. As in AWS's template the admin creates the clone when it is missing and, at every
  rotation, copies the current user's grants to the other one: each line of `SHOW GRANTS`
  (privileges, roles, `SET DEFAULT ROLE`, and MariaDB's `REQUIRE` and `WITH` options) is
  applied again with the other user as grantee; never the original's password hash. Needs
  `settings["admin"]`, a credential of the same shape with CREATE USER, SELECT on
  `mysql.user`, and the application's privileges WITH GRANT OPTION (its roles WITH ADMIN
  OPTION). Before the admin acts, CURRENT must log in (AWS's check against a confused deputy:
  a forged CURRENT cannot make the admin hand out another user's privileges); the clone's
  host part is the one CURRENT logs in as.

Every step can be repeated after a kill: set is a no-op once PENDING logs in, and a clone is
created with a password nobody knows, which is replaced only after its grants are copied.

Other settings: `password` (options for `generators.password`; default AWS's template, which
leaves out `:/@"'\\`), `connect_timeout` (seconds, default 10), `ssl_mode` (below).

TLS: `VERIFY_IDENTITY` by default, as MySQL's client names it: the server must present a
certificate from a trusted CA for the host name, or nothing is sent. The CA comes from the
rotating host, never from the repository: the PEM file `$SEALER_MYSQL_SSL_CA`, else the system's
store. Opting out is explicit, with `settings.ssl_mode`: `VERIFY_CA`, `REQUIRED`, `PREFERRED`
or `DISABLED` (any case). The secret's `ssl` key, which AWS's templates read, is honoured as
the postgres rotator does: `true` refuses any ssl_mode but VERIFY_IDENTITY, `false` means
DISABLED unless the settings name an ssl_mode. Without verification a server impersonating
the real one can obtain the password (mysql_clear_password, or its own RSA key for
caching_sha2_password). A host that is a unix socket (it starts with `/`) uses no TLS.

Passwords and the server's logs: on MariaDB the new password is sent as its
mysql_native_password hash (`SET PASSWORD FOR … = '*…'`, `CREATE USER … IDENTIFIED BY
PASSWORD '*…'`), computed here, when the account uses that plugin and no password validation
plugin with strict_password_validation needs the plaintext; no log then holds it. Otherwise
the plaintext goes in the statement (MySQL rewrites it in its general, slow and binary logs;
MariaDB writes `SET PASSWORD` hashed to the binary log), and the general log is switched off
for that one statement (`SET SESSION sql_log_off = 1`) when the login may (SUPER); a user
without that privilege changing its own password appears in the general log if it is on.
The binary log is never switched off: replicas need the change. Audit plugins see statements
as sent.

A failure is reported with the server's error number and sealer's own words for it, never
the server's message, which can quote a user name, a statement or a value; the reason is
recorded in the sealed file's metadata (`rotation.pending.error`), which is not encrypted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ...errors import UsageError
from .base import RotationError, RotationStep, Rotator, check_settings
from .credentials import alternate, check_pair, common_settings, new_pending, secret_fields

if TYPE_CHECKING:
    from pymysql.connections import Connection

__all__ = ["MysqlRotator", "alternate_username", "native_hash"]

SETTINGS = ("strategy", "admin", "password", "connect_timeout", "ssl_mode")
STRATEGIES = ("single-user", "alternating-users")
SSL_MODES = ("VERIFY_IDENTITY", "VERIFY_CA", "REQUIRED", "PREFERRED", "DISABLED")  # default 1st
ENGINES = ("mysql", "mariadb", "aurora-mysql")
CA_VARIABLE = "SEALER_MYSQL_SSL_CA"
MAX_USERNAME = 80  # MariaDB's limit; a MySQL server refuses more than 32 itself (error 1470)
STATEMENT_TIMEOUT = 60  # seconds a statement may take before the step fails
DEFAULT_PASSWORD_OPTIONS: Mapping[str, Any] = {"exclude_characters": ":/@\"'\\"}

Account = tuple[str, str]  # (user, host), as in 'app'@'%'


@dataclass(frozen=True)
class Credential:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    dbname: str | None = None
    ssl: bool | None = None  # the secret's own `ssl` key (AWS's templates read it)

    @property
    def socket(self) -> bool:
        return self.host.startswith("/")

    @property
    def target(self) -> str:
        where = self.host if self.socket else f"{self.host}:{self.port}"
        return f"mysql user {self.username} on {where}" + (f"/{self.dbname}" if self.dbname else "")


class MysqlRotator:
    """Rotates a MySQL/MariaDB user's password (single-user) or alternates two users."""

    name = "mysql"

    def __init__(self) -> None:
        from importlib.util import find_spec

        if find_spec("pymysql") is None:
            raise UsageError("the mysql rotator needs PyMySQL, which is not installed",
                             hint="pip install 'sealer[mysql]'")

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
            with _connect(old, config, "set", new, "current") as conn:
                user, host = _current_account(conn, "set", new, old.username)
            with _connect(config.admin, config, "set", new, "admin") as conn:
                _clone(conn, config, new, (user, host), (new.username, host))
        elif config.admin:
            with _connect(config.admin, config, "set", new, "admin") as conn:
                _set_password(conn, config, new, _only_account(conn, new), new.password)
        else:
            with _connect(old, config, "set", new, "current") as conn:
                account = _current_account(conn, "set", new, old.username)
                _set_password(conn, config, new, account, new.password)

    def test_secret(self, pending: Any, settings: Mapping[str, Any]) -> None:
        new = _credential(pending, "the pending secret")
        with _connect(new, _Config.parse(settings, new), "test", new, "pending") as conn:
            _current_account(conn, "test", new, new.username)

    def finish_secret(self, current: Any, pending: Any, settings: Mapping[str, Any]) -> None:
        """Nothing to clean up: the previous user and password stay valid (AWS does the same)."""


def alternate_username(username: str) -> str:
    """`app` <-> `app_clone`, as AWS's alternating-users template names them."""
    return alternate(username, limit=MAX_USERNAME, size=len, noun="user",
                     limit_text=f"MariaDB names are at most {MAX_USERNAME} characters, "
                                "MySQL's 32")


def native_hash(password: str) -> str:
    """mysql_native_password's stored form, `*` and SHA1(SHA1(password)) in hex, as the
    server's PASSWORD() computes it from the UTF-8 text."""
    import hashlib

    inner = hashlib.sha1(password.encode("utf-8")).digest()  # noqa: S324 (the server's format)
    return "*" + hashlib.sha1(inner).hexdigest().upper()  # noqa: S324


@dataclass(frozen=True)
class _Config:
    strategy: str
    admin: Credential | None
    password_options: Mapping[str, Any]
    connect_timeout: int
    ssl_mode: str

    @classmethod
    def parse(cls, settings: Mapping[str, Any], secret: Credential) -> _Config:
        check_settings("mysql", settings, SETTINGS)
        common = common_settings("mysql", settings, strategies=STRATEGIES,
                                 admin_can="can create users and grant the application's "
                                           "privileges")
        admin = common.admin
        admin_cred = None if admin is None else _credential(admin, "settings.admin")
        return cls(common.strategy, admin_cred,
                   {**DEFAULT_PASSWORD_OPTIONS, **common.password_options},
                   common.connect_timeout, _ssl_mode(settings, secret.ssl))


def _ssl_mode(settings: Mapping[str, Any], ssl: bool | None) -> str:
    """settings.ssl_mode, else DISABLED for a secret saying `ssl: false`, else
    VERIFY_IDENTITY; a secret saying `ssl: true` accepts nothing weaker (see the module doc)."""
    if "ssl_mode" not in settings:
        return "DISABLED" if ssl is False else SSL_MODES[0]
    mode = _choice(str(settings["ssl_mode"]).upper(), "ssl_mode", SSL_MODES)
    if ssl is True and mode != SSL_MODES[0]:
        raise UsageError(f"the secret says ssl: true, which needs ssl_mode {SSL_MODES[0]}, but "
                         f"settings.ssl_mode is {mode}", hint="remove the weaker ssl_mode, or "
                                                              "set ssl: false in the secret")
    return mode


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UsageError(f"rotator 'mysql': unknown {name} {value!r}",
                         hint=f"use one of: {', '.join(allowed)}")
    return str(value)


def _credential(value: Any, what: str) -> Credential:
    """A Credential from an AWS-shaped mapping; UsageError naming the field that is wrong."""
    fields = secret_fields(value, what, rotator="mysql", engines=ENGINES,
                           engine_text="mysql or mariadb", default_port=3306,
                           shape="a mapping with host, port, username, password and optionally "
                                 "dbname (AWS's shape)")
    return Credential(fields.host, fields.port, fields.username, fields.password,
                      str(fields.dbname) if fields.dbname else None, fields.ssl)


def _check_pair(old: Credential, new: Credential, config: _Config) -> None:
    check_pair(old, new, config.strategy, alternate_name=alternate_username, account="user")


def _connect(cred: Credential, config: _Config, step: RotationStep, subject: Credential,
             purpose: str) -> Connection[Any]:
    """An autocommit connection as `cred`; RotationError (about `subject`) when it fails."""
    import pymysql

    where: dict[str, Any] = {"unix_socket": cred.host, "ssl_disabled": True} if cred.socket \
        else {"host": cred.host, "port": cred.port, **_tls(config, step, subject)}
    try:
        return pymysql.connect(
            user=cred.username, password=cred.password.encode("utf-8"), database=cred.dbname,
            charset="utf8mb4", autocommit=True, connect_timeout=config.connect_timeout,
            read_timeout=STATEMENT_TIMEOUT, write_timeout=STATEMENT_TIMEOUT,
            program_name="sealer-rotate", **where)
    except pymysql.MySQLError as exc:
        same = replace(cred, password="") == replace(subject, password="")
        who = "" if same else f" ({cred.username}@{cred.target.partition(' on ')[2]})"
        raise RotationError(step, subject.target,
                            f"cannot log in with the {purpose} credential{who}: "
                            f"{_reason(exc)}", hint=_hint(exc, config)) from None


def _tls(config: _Config, step: RotationStep, subject: Credential) -> dict[str, Any]:
    """PyMySQL's TLS arguments for settings.ssl_mode (see the module doc)."""
    import os
    import ssl

    if config.ssl_mode == "DISABLED":
        return {"ssl_disabled": True}
    if config.ssl_mode == "PREFERRED":
        return {}  # PyMySQL's default: TLS if the server offers it, unverified
    if config.ssl_mode == "REQUIRED":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return {"ssl": context}
    try:
        context = ssl.create_default_context(cafile=os.environ.get(CA_VARIABLE) or None)
    except (OSError, ssl.SSLError):
        raise RotationError(step, subject.target, f"cannot read the CA certificates in "
                            f"${CA_VARIABLE}") from None
    context.check_hostname = config.ssl_mode == "VERIFY_IDENTITY"
    return {"ssl": context}  # PyMySQL refuses a server that offers no TLS (error 2026)


def _logs_in(cred: Credential, config: _Config) -> bool:
    try:
        _connect(cred, config, "set", cred, "pending").close()
    except RotationError:
        return False
    return True


def _run(conn: Connection[Any], step: RotationStep, subject: Credential, query: str,
         args: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    """Execute one statement (formatted by PyMySQL only when `args` is given); its rows.
    Errors become RotationErrors without the server's text."""
    import pymysql

    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall())
    except pymysql.MySQLError as exc:
        raise RotationError(step, subject.target, _reason(exc)) from None


def _current_account(conn: Connection[Any], step: RotationStep, subject: Credential,
                     username: str) -> Account:
    """The account this connection authenticated as; it must be `username`'s (never, say, an
    anonymous account that matched instead)."""
    user, _, host = str(_run(conn, step, subject, "SELECT CURRENT_USER()")[0][0]).rpartition("@")
    if user != username:
        raise RotationError(step, subject.target, "logged in, but as another user")
    return user, host


def _only_account(conn: Connection[Any], subject: Credential) -> Account:
    """`subject`'s account, looked up by the admin: there must be exactly one host part."""
    rows = _run(conn, "set", subject, "SELECT Host FROM mysql.user WHERE User = %s",
                (subject.username,))
    if len(rows) != 1:
        raise RotationError("set", subject.target, "the user does not exist" if not rows else
                            f"the user exists with {len(rows)} host parts, and sealer cannot "
                            "tell which one the secret is for",
                            hint="rotate it without settings.admin, as the user itself")
    return subject.username, str(rows[0][0])


def _clone(conn: Connection[Any], config: _Config, new: Credential, source: Account,
           target: Account) -> None:
    """Make `target` a user with `source`'s grants and the PENDING password, in an order a
    kill cannot break: PENDING logs in only once everything else is done."""
    from ..generators import generate

    if not _run(conn, "set", new, "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
                target):
        unknown = generate("password", config.password_options)  # replaced below, never kept
        _set_password(conn, config, new, target, unknown, create=True)
    for (line,) in _run(conn, "set", new, "SHOW GRANTS FOR %s@%s", source):
        _run(conn, "set", new, _regrant(str(line), source, _quoted(conn, target), new))
    _set_password(conn, config, new, target, new.password)


def _quoted(conn: Connection[Any], account: Account) -> str:
    return f"{conn.escape(account[0])}@{conn.escape(account[1])}"


_STATEMENTS = {  # (MariaDB, hashed, create) -> statement; the account, then the password
    (True, True, False): "SET PASSWORD FOR %s@%s = %s",
    (True, True, True): "CREATE USER %s@%s IDENTIFIED BY PASSWORD %s",
    (True, False, False): "SET PASSWORD FOR %s@%s = PASSWORD(%s)",
    (True, False, True): "CREATE USER %s@%s IDENTIFIED BY %s",
    (False, False, False): "ALTER USER %s@%s IDENTIFIED BY %s",
    (False, False, True): "CREATE USER %s@%s IDENTIFIED BY %s",
}


def _set_password(conn: Connection[Any], config: _Config, subject: Credential, account: Account,
                  password: str, *, create: bool = False) -> None:
    """Give `account` the password (creating it with `create`): as a hash where the server
    takes one, else in plaintext with the general log off if the login may turn it off."""
    mariadb = "MariaDB" in str(_run(conn, "set", subject, "SELECT VERSION()")[0][0])
    hashed = mariadb and _takes_hash(conn, subject, account, create)
    statement = _STATEMENTS[mariadb, hashed, create]
    with _general_log_off(conn, active=not hashed):
        _run(conn, "set", subject, statement,
             (*account, native_hash(password) if hashed else password))


def _takes_hash(conn: Connection[Any], subject: Credential, account: Account,
                create: bool) -> bool:
    """MariaDB: whether the account's password can be set as its mysql_native_password hash."""
    strict, validators = _run(conn, "set", subject, (
        "SELECT @@strict_password_validation, COUNT(*) FROM information_schema.PLUGINS "
        "WHERE PLUGIN_TYPE = 'PASSWORD VALIDATION' AND PLUGIN_STATUS = 'ACTIVE'"))[0]
    if strict and validators:
        return False  # a validation plugin must see the plaintext; hashes are refused
    if create:
        return True
    shown = _run(conn, "set", subject, "SHOW CREATE USER %s@%s", account)
    return bool(shown) and " IDENTIFIED BY PASSWORD '*" in str(shown[0][0])


@contextmanager
def _general_log_off(conn: Connection[Any], *, active: bool) -> Iterator[None]:
    """Best effort: keep the next statement out of the general query log (needs SUPER)."""
    import pymysql

    off = False
    if active:
        with suppress(pymysql.MySQLError), conn.cursor() as cur:
            cur.execute("SET SESSION sql_log_off = 1")
            off = True
    try:
        yield
    finally:
        if off:
            with suppress(pymysql.MySQLError), conn.cursor() as cur:
                cur.execute("SET SESSION sql_log_off = 0")


# A word of a SHOW GRANTS line: quoted parts (`…`, '…', "…") and other non-space characters.
_WORD = re.compile(r"(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|[^\s`'\"])+")
_PART = re.compile(r"`((?:[^`]|``)*)`|'((?:[^'\\]|\\.|'')*)'|([^@`']+)")


def _regrant(line: str, source: Account, target: str, subject: Credential) -> str:
    """`line` of SHOW GRANTS for `source` as the same grant to `target` (already quoted): the
    grantee replaced, the authentication (IDENTIFIED …, the password hash) left out, REQUIRE
    and WITH options kept. RotationError for a form sealer does not know."""
    words = list(_WORD.finditer(line))
    texts = [w.group() for w in words]
    keyword = "TO" if texts[:1] == ["GRANT"] else "FOR" if texts[:3] == ["SET", "DEFAULT",
                                                                         "ROLE"] else None
    at = texts.index(keyword) if keyword in texts else -1
    if keyword is None or at + 1 >= len(texts) or _account(texts[at + 1]) != source:
        raise RotationError("set", subject.target, "a grant of the current user has a form "
                            "sealer cannot copy (SHOW GRANTS)",
                            hint="grant the clone user its privileges by hand, then resume")
    tail = next((w.start() for w in words[at + 2:] if w.group() in ("REQUIRE", "WITH")), None)
    options = "" if tail is None else " " + line[tail:]
    return f"{line[:words[at].start()].rstrip()} {keyword} {target}{options}"


def _account(grantee: str) -> Account | None:
    """`app`@`%` (or 'app'@'%') as ("app", "%")."""
    parts = list(_PART.finditer(grantee))
    if len(parts) != 2 or grantee[parts[0].end():parts[1].start()] != "@":
        return None
    user, host = (_unquote(m) for m in parts)
    return user, host


def _unquote(match: re.Match[str]) -> str:
    backticked, quoted, bare = match.groups()
    if backticked is not None:
        return backticked.replace("``", "`")
    if quoted is not None:
        return re.sub(r"\\(.)", r"\1", quoted.replace("''", "'"))
    return str(bare)


# Server error numbers -> what they mean, in sealer's words (never the server's message).
_ERRORS = {
    1040: "the server has too many connections",
    1044: "the user may not use that database",
    1045: "access denied (a wrong password, or no such user for this host)",
    1049: "the database does not exist",
    1064: "the server could not parse a statement",
    1129: "the server blocks this host (too many failed connections)",
    1130: "the server does not let this host connect",
    1131: "an anonymous user cannot change passwords",
    1132: "permission denied (changing another user's password)",
    1133: "the user does not exist",
    1141: "the user has no such grant",
    1142: "permission denied on a table",
    1143: "permission denied on a column",
    1203: "the user has too many connections",
    1211: "permission denied (creating users)",
    1227: "permission denied (the statement needs a privilege the login lacks)",
    1251: "the server wants an authentication method the driver does not offer",
    1290: "the server's options refuse the statement (read-only?)",
    1396: "the user operation failed (the user exists already, or does not)",
    1410: "permission denied (granting that privilege)",
    1470: "the user name is too long for this server",
    1524: "the server has no such authentication plugin",
    # MariaDB answers a login as an unknown user with 1045 on one run and 1698 on another (seen in
    # CI), so 1698 cannot be taken to mean the account exists.
    1698: "access denied (no such user for this host, a wrong password, or an account "
          "without a password)",
    1819: "the server's password policy refuses the password",
    1820: "the login's password has expired",
    1836: "the server is read-only",
    1862: "the password has expired",
    1927: "the connection was killed",
    3118: "the account is locked",
    4151: "the account is locked",
}
_CLIENT_ERRORS = {
    2006: "the server went away",
    2013: "the server closed the connection",
    2026: "the server does not offer TLS, which the ssl_mode requires",
    2059: "the server wants an authentication method the driver does not have",
    2061: "the authentication failed in the driver",
}


def _reason(exc: Exception) -> str:
    """A fixed description of a PyMySQL error: its number and sealer's words, never the text
    of the server's message, which may quote names, statements or values."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    cause = getattr(exc, "original_exception", None)
    if isinstance(cause, OSError):
        return _os_reason(cause)
    if code is None:
        return f"the connection failed ({type(exc).__name__})"
    if 2000 <= code < 3000:
        return _CLIENT_ERRORS.get(code) or f"the connection failed (client error {code})"
    return f"{_ERRORS.get(code) or 'the server reported an error'} (MySQL error {code})"


def _os_reason(err: OSError) -> str:
    import socket
    import ssl

    if isinstance(err, ssl.SSLCertVerificationError):
        if err.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH
            return "the server's certificate is not for this host name"
        return "the server's certificate could not be verified"
    kinds: tuple[tuple[type[OSError], str], ...] = (
        (ssl.SSLError, "the TLS connection failed"),
        (ConnectionRefusedError, "connection refused"),
        (FileNotFoundError, "no server at that unix socket"),
        (TimeoutError, "the connection timed out"),
        (socket.gaierror, "unknown host name"),
        (ConnectionError, "the server closed the connection"))
    return next((what for kind, what in kinds if isinstance(err, kind)),
                f"the connection failed ({type(err).__name__})")


def _hint(exc: Exception, config: _Config) -> str | None:
    """What to do about a failed TLS verification (the default ssl_mode)."""
    import ssl

    cause = getattr(exc, "original_exception", None)
    tls = isinstance(cause, ssl.SSLError) or (exc.args[:1] == (2026,))
    if not tls or not config.ssl_mode.startswith("VERIFY"):
        return None
    return (f"ssl_mode {config.ssl_mode} checks the server's certificate against the CA in "
            f"${CA_VARIABLE} (else the system's store); set up TLS on the server, or opt out "
            "with settings.ssl_mode (docs/ROTATION.md)")


if TYPE_CHECKING:
    _conforms: Rotator = MysqlRotator()  # mypy checks that the class provides the protocol
