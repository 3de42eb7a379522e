"""A real, throwaway PostgreSQL server for the rotation tests (no mocks).

Test modules load the fixtures with `pytest_plugins = ["pg_server"]`. `postgres_server` (one per
session) runs `initdb` and `pg_ctl` in a private temp directory: a free port on 127.0.0.1 only,
its own unix socket directory, scram-sha-256 for every connection (TCP and local), and a
superuser `postgres` with a random password. PostgreSQL refuses to run as root, so under root
the server runs as the `postgres` system user (or `nobody` when there is none) and the
directory is handed to that user. `postgres_app` makes a fresh login role, database and table
for one test, so tests never see each other's roles.

Locally the tests are skipped when PostgreSQL or psycopg is missing; in CI that is a failure
(.ci/run installs both).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import unavailable

SUPERUSER = "postgres"
START_TIMEOUT = 60


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, else Debian's newest versioned one."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def require_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install 'psycopg[binary]')")
    return psycopg


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.fail("running as root, and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class PostgresServer:
    """A running server. `host` is 127.0.0.1; `socket_dir` works as a host too."""

    bindir: Path
    base: Path
    user: pwd.struct_passwd | None
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    port: int = 0
    host: str = "127.0.0.1"

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> str:
        return str(self.base / "sock")

    def log(self) -> str:
        """The server's log so far (every DDL statement is logged)."""
        return (self.base / "server.log").read_text(encoding="utf-8", errors="replace")

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self.user is not None:
            extra = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = dict(os.environ, LC_ALL="C", LANG="C", PGTZ="UTC")
        return subprocess.run([str(self.bindir / argv[0]), *argv[1:]], capture_output=True,
                              text=True, env=env, cwd=self.base, check=check, timeout=120,
                              **extra)

    def init(self) -> None:
        for sub in ("data", "sock"):
            (self.base / sub).mkdir(mode=0o700)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        if self.user is not None:
            for path in (self.base, self.base / "data", self.base / "sock", pwfile):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        try:
            self._run("initdb", "-D", str(self.datadir), "-U", SUPERUSER, f"--pwfile={pwfile}",
                      "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        finally:
            pwfile.unlink()

    def start(self) -> None:
        """Start (again) on a free port; fails the test with the server log if it cannot."""
        if self.port and self._try_start():
            return
        for _ in range(3):
            self.port = free_port()
            if self._try_start():
                return
        pytest.fail(f"PostgreSQL did not start:\n{self.log()[-3000:]}")

    def _try_start(self) -> bool:
        options = (f"-c port={self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.socket_dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50 "
                   "-c log_statement=ddl")  # tests check that no password reaches the log
        result = self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.base / "server.log"),
                           "-w", "-t", str(START_TIMEOUT), "-o", options, "start", check=False)
        return result.returncode == 0

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The server is down inside the block and back up (same port) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    # Connections and fixtures' helpers.

    def secret(self, username: str, password: str, dbname: str = "postgres",
               host: str | None = None) -> dict[str, Any]:
        """A credential in AWS's RDS secret shape, for this server."""
        return {"engine": "postgres", "host": host or self.host, "port": self.port,
                "username": username, "password": password, "dbname": dbname}

    def admin_secret(self, dbname: str = "postgres") -> dict[str, Any]:
        return self.secret(SUPERUSER, self.password, dbname)

    def connect(self, user: str = SUPERUSER, password: str | None = None,
                dbname: str = "postgres", host: str | None = None) -> Any:
        """An autocommit psycopg connection (the superuser's unless `user` is given)."""
        psycopg = require_psycopg()
        return psycopg.connect(host=host or self.host, port=self.port, user=user,
                               password=self.password if password is None else password,
                               dbname=dbname, connect_timeout=10, autocommit=True)

    def can_login(self, user: str, password: str, dbname: str = "postgres") -> bool:
        psycopg = require_psycopg()
        try:
            self.connect(user, password, dbname).close()
        except psycopg.OperationalError:
            return False
        return True

    def execute(self, query: Any, params: Any = None, dbname: str = "postgres") -> list[Any]:
        """Run one statement as the superuser; the rows it returned, if any."""
        with self.connect(dbname=dbname) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def create_role(self, name: str, password: str, *, login: bool = True) -> None:
        from psycopg import sql

        self.execute(sql.SQL("CREATE ROLE {} WITH {} PASSWORD {}").format(
            sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN"), sql.Literal(password)))

    def create_database(self, name: str, owner: str) -> None:
        from psycopg import sql

        self.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(owner)))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    require_psycopg()
    bindir = find_bindir()
    if bindir is None:
        unavailable("PostgreSQL (initdb, pg_ctl) is not installed")
    base = Path(tempfile.mkdtemp(prefix="sealer-pg-"))  # short: socket paths are limited
    server = PostgresServer(bindir=bindir, base=base, user=_server_user())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class PostgresApp:
    """One test's application: a login role owning a database with a table `items`."""

    server: PostgresServer
    role: str
    password: str = field(repr=False)
    dbname: str = ""

    @property
    def secret(self) -> dict[str, Any]:
        return self.server.secret(self.role, self.password, self.dbname)


@pytest.fixture
def postgres_app(postgres_server: PostgresServer) -> PostgresApp:
    suffix = secrets.token_hex(4)
    role, dbname, password = f"app_{suffix}", f"db_{suffix}", secrets.token_urlsafe(18)
    postgres_server.create_role(role, password)
    postgres_server.create_database(dbname, role)
    with postgres_server.connect(role, password, dbname) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items VALUES (1, 'one')")
    return PostgresApp(postgres_server, role, password, dbname)

