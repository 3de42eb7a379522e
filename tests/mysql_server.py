"""A real, throwaway MariaDB server for the mysql rotator's tests (no mocks).

Test modules load the fixtures with `pytest_plugins = ["mysql_server"]`. `mysql_server` (one
per session) runs `mariadb-install-db` (or `mysql_install_db`) and `mariadbd` (or `mysqld`),
both with `--no-defaults` so no my.cnf of the machine applies, in a private temp directory:
its own datadir, its unix socket there, a free port on 127.0.0.1 only, TLS with a certificate
for 127.0.0.1 from a CA made for the session (`ca_file`), the general query log on (tests
search it for passwords), and an admin `root` (at localhost and 127.0.0.1) with a random
password, set by install-db's `--extra-file` so the account never exists without one.

Working as root: mariadbd refuses to run as root unless told so with `--user=root`, and the
fixture says so then. The server stays root, in its own 0700 directory and on loopback only;
`--user=mysql` would drop privileges but needs the whole directory handed to that user (and
a `mysql` user, which a machine without the Debian package lacks), for no gain in a test.

`mysql_app` makes a fresh user `'app_…'@'%'` and database `db_…` (with a table `items`) for
one test, and points `$SEALER_MYSQL_SSL_CA` at the session's CA, as the operator of a rotating
host would, so the rotator's default (VERIFY_IDENTITY) is what the tests run.

Locally the tests are skipped when MariaDB or PyMySQL is missing; in CI that is a failure
(.ci/run installs both). Only MariaDB is started here: Oracle MySQL's `mysqld` initialises
differently (`--initialize-insecure`), and the rotator's MySQL statements are not run here.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import unavailable

ADMIN = "root"
START_TIMEOUT = 60


def _find(*names: str) -> Path | None:
    """The first of `names` on PATH or in /usr/sbin (not on a normal user's PATH)."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return Path(found)
    return None


def require_pymysql() -> Any:
    try:
        import pymysql
    except ImportError:
        unavailable("PyMySQL is not installed (pip install 'sealer[mysql]')")
    return pymysql


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_certificates(directory: Path) -> None:
    """ca.pem, and server.pem/server.key for 127.0.0.1 signed by it (valid for a day)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealer test CA")])

    def builder(subject: x509.Name, public: Any) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1)))

    ca = (builder(ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
                      key.public_key())
              .add_extension(x509.SubjectAlternativeName(
                  [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "server.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)


@dataclass
class MariadbServer:
    """A running server. `host` is 127.0.0.1; `socket_path` works as a host too."""

    mariadbd: Path
    install_db: Path
    base: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    port: int = 0
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> str:
        return str(self.base / "mysqld.sock")

    @property
    def ca_file(self) -> str:
        return str(self.base / "tls" / "ca.pem")

    def general_log(self) -> str:
        """The general query log so far: every statement the server received."""
        return (self.base / "general.log").read_text(encoding="utf-8", errors="replace")

    def _options(self) -> list[str]:
        """Options of both install-db and the server: --no-defaults first, as they require."""
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        return ["--no-defaults", *as_root, f"--datadir={self.base / 'data'}",
                "--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0", "--innodb-flush-method=nosync",
                "--innodb-doublewrite=0", "--skip-name-resolve"]

    def init(self) -> None:
        for sub in ("data", "tls", "tmp"):
            (self.base / sub).mkdir(mode=0o700)
        make_certificates(self.base / "tls")
        extra = self.base / "admin.sql"  # FLUSH first: the bootstrap starts without grants
        extra.write_text(
            "FLUSH PRIVILEGES;\n"
            f"ALTER USER '{ADMIN}'@'localhost' IDENTIFIED BY '{self.password}';\n"
            f"CREATE USER '{ADMIN}'@'127.0.0.1' IDENTIFIED BY '{self.password}';\n"
            f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'127.0.0.1' WITH GRANT OPTION;\n",
            encoding="utf-8")
        extra.chmod(0o600)
        try:
            result = subprocess.run(
                [str(self.install_db), *self._options(), "--skip-test-db",
                 f"--extra-file={extra}"], capture_output=True, text=True, cwd=self.base,
                check=False, timeout=120)
        finally:
            extra.unlink()
        if result.returncode != 0:
            pytest.fail(f"mariadb-install-db failed:\n{(result.stdout + result.stderr)[-3000:]}")

    def start(self) -> None:
        """Start (again) on a free port; fails the test with the error log if it cannot."""
        if self.port and self._try_start():
            return
        for _ in range(3):
            self.port = free_port()
            if self._try_start():
                return
        log = (self.base / "error.log").read_text(encoding="utf-8", errors="replace")
        pytest.fail(f"MariaDB did not start:\n{log[-3000:]}")

    def _try_start(self) -> bool:
        tls = self.base / "tls"
        self.process = subprocess.Popen(
            [str(self.mariadbd), *self._options(), f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.socket_path}",
             f"--pid-file={self.base / 'mysqld.pid'}", f"--log-error={self.base / 'error.log'}",
             f"--tmpdir={self.base / 'tmp'}", "--general-log=1",
             f"--general-log-file={self.base / 'general.log'}", "--max-connections=50",
             f"--ssl-ca={tls / 'ca.pem'}", f"--ssl-cert={tls / 'server.pem'}",
             f"--ssl-key={tls / 'server.key'}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=self.base)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(require_pymysql().MySQLError):
                self.connect(host=self.socket_path).close()
                return True
            time.sleep(0.1)
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: a clean shutdown
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The server is down inside the block and back up (same port) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    # Connections and fixtures' helpers.

    def secret(self, username: str, password: str, dbname: str | None = None,
               host: str | None = None) -> dict[str, Any]:
        """A credential in AWS's secret shape, for this server."""
        secret = {"engine": "mariadb", "host": host or self.host, "port": self.port,
                  "username": username, "password": password}
        return secret if dbname is None else {**secret, "dbname": dbname}

    def admin_secret(self) -> dict[str, Any]:
        return self.secret(ADMIN, self.password)

    def connect(self, user: str = ADMIN, password: str | None = None,
                dbname: str | None = None, host: str | None = None) -> Any:
        """An autocommit PyMySQL connection (the admin's unless `user` is given): TLS verified
        against the session's CA over TCP, or the unix socket when `host` is its path."""
        pymysql = require_pymysql()
        import ssl

        host = host or self.host
        if host.startswith("/"):
            where: dict[str, Any] = {"unix_socket": host, "ssl_disabled": True}
        else:
            where = {"host": host, "port": self.port,
                     "ssl": ssl.create_default_context(cafile=self.ca_file)}
        secret = self.password if password is None else password
        return pymysql.connect(user=user, password=secret.encode("utf-8"), database=dbname,
                               autocommit=True, connect_timeout=10, charset="utf8mb4",
                               **where)

    def can_login(self, user: str, password: str, dbname: str | None = None) -> bool:
        pymysql = require_pymysql()
        try:
            self.connect(user, password, dbname).close()
        except pymysql.MySQLError:
            return False
        return True

    def execute(self, query: str, args: Any = None) -> list[Any]:
        """Run one statement as the admin (over the socket); the rows it returned, if any."""
        with self.connect(host=self.socket_path) as conn, conn.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall())

    def user_exists(self, user: str, host: str = "%") -> bool:
        return bool(self.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
                                 (user, host)))

    def grants(self, user: str, host: str = "%") -> list[str]:
        """SHOW GRANTS for the account, without its password hash."""
        lines = [str(row[0]) for row in self.execute("SHOW GRANTS FOR %s@%s", (user, host))]
        return [re.sub(r" IDENTIFIED BY PASSWORD '[^']*'", "", line) for line in lines]


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MariadbServer]:
    require_pymysql()
    mariadbd, install_db = _find("mariadbd", "mysqld"), _find("mariadb-install-db",
                                                               "mysql_install_db")
    if mariadbd is None or install_db is None:
        unavailable("MariaDB (mariadbd, mariadb-install-db) is not installed")
    base = Path(tempfile.mkdtemp(prefix="sealer-my-"))  # short: socket paths are limited
    server = MariadbServer(mariadbd=mariadbd, install_db=install_db, base=base)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class MysqlApp:
    """One test's application: a user `'app_…'@'%'` with all privileges on its database,
    which has a table `items`."""

    server: MariadbServer
    user: str
    password: str = field(repr=False)
    dbname: str = ""

    @property
    def secret(self) -> dict[str, Any]:
        return self.server.secret(self.user, self.password, self.dbname)


@pytest.fixture
def mysql_app(mysql_server: MariadbServer, monkeypatch: pytest.MonkeyPatch) -> MysqlApp:
    monkeypatch.setenv("SEALER_MYSQL_SSL_CA", mysql_server.ca_file)  # the rotating host's CA
    suffix = secrets.token_hex(4)
    user, dbname, password = f"app_{suffix}", f"db_{suffix}", secrets.token_urlsafe(18)
    mysql_server.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
    mysql_server.execute(f"CREATE DATABASE `{dbname}`")
    mysql_server.execute(f"GRANT ALL PRIVILEGES ON `{dbname}`.* TO %s@'%%'", (user,))
    with mysql_server.connect(user, password, dbname) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        cur.execute("INSERT INTO items VALUES (1, 'one')")
    return MysqlApp(mysql_server, user, password, dbname)
