"""A real `sealer serve` process for the tests, and clients for it: real boto3 (signing with
the token as its secret access key) and plain HTTP for the Agent's routes.

`Served.start` runs the CLI (`python -m sealer serve DIR --port 0 …`), waits for the line that
names the bound address, and collects stderr in the background so tests can read the log.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli_helpers import EXAMPLE, assert_no_traceback, make_identity, run, start

READY = re.compile(r"on (http://127\.0\.0\.1:(\d+)|unix:(\S+))")
START_TIMEOUT = 60.0

DB = """\
engine: postgres
host: db.internal.example.com
port: 5432
username: app
password: c0rrect-horse
dbname: orders
sealer:
  description: Primary orders database
  tags: [team=payments, pci]
"""

APP = """\
api:
  token: tok-9f8e7d
  blob: !!binary AAEC/w==
count: 7
sealer:
  description: The web application
  tags: [team=web]
  keys:
    api.token:
      description: Partner API token
"""


@dataclass
class Repo:
    """A directory of sealed files and the identity that opens them."""

    root: Path
    secrets: Path
    key: Path
    recipient: str
    env: dict[str, str] = field(default_factory=dict)

    def sealer(self, *args: str | Path, input: str | None = None, code: int = 0) -> Any:
        """Run the CLI in the repository with its identity; assert the exit code."""
        result = run(*args, input=input, cwd=self.root,
                     env={**self.env, "SEALER_IDENTITY_FILE": str(self.key)})
        assert result.code == code, result.err
        return result


def make_repo(base: Path, env: Mapping[str, str] | None = None) -> Repo:
    """secrets/prod/db (a whole-file secret with tags), secrets/prod/app (a rotated
    generator key, a binary value, an int), secrets/staging/example, and
    secrets/other/locked, which only someone else's key opens."""
    root = base / "repo"
    secrets = root / "secrets"
    for sub in ("prod", "staging", "other"):
        (secrets / sub).mkdir(parents=True)
    key = root / "key.txt"
    recipient = make_identity(key)
    repo = Repo(root, secrets, key, recipient, dict(env or {}))
    for rel, text in (("prod/db", DB), ("prod/app", APP), ("staging/example", EXAMPLE)):
        plain = secrets / f"{rel}.yaml"
        plain.write_text(text, encoding="utf-8")
        repo.sealer("seal", plain, "-r", recipient)
        plain.unlink()
    other = make_identity(base / "other.key")
    locked = secrets / "other" / "locked.yaml"
    locked.write_text("token: not-yours\n", encoding="utf-8")
    repo.sealer("seal", locked, "-r", other)
    locked.unlink()
    repo.sealer("rotation", "configure", secrets / "prod/app.sealed.yaml", "api.token",
                "--every", "30d")  # rotates once at once: CURRENT and PREVIOUS
    return repo


class Served:
    """A running `sealer serve`."""

    def __init__(self, proc: subprocess.Popen[bytes], token: str, url: str | None,
                 socket_path: str | None) -> None:
        self.proc, self.token, self.url, self.socket_path = proc, token, url, socket_path
        self.port = int(url.rsplit(":", 1)[1]) if url else 0
        self._log: list[str] = []
        self._lock = threading.Lock()

    @classmethod
    def start(cls, repo: Repo, *args: str, env: Mapping[str, str] | None = None) -> Served:
        token_file = repo.root.parent / "serve.token"
        proc = start("serve", repo.secrets, "--port", "0", "--token-file", token_file,
                     "-i", repo.key, *args, cwd=repo.root, env={**repo.env, **(env or {})})
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        match = None
        while time.monotonic() < deadline:
            raw = proc.stderr.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            match = READY.search(line)
            if match:
                break
        if match is None:
            proc.kill()
            rest = proc.communicate()[1].decode("utf-8", "replace")
            raise AssertionError("sealer serve did not start:\n" + "".join(lines) + rest)
        served = cls(proc, token_file.read_text(encoding="utf-8").strip(),
                     match.group(1) if match.group(2) else None, match.group(3))
        served._log += lines
        threading.Thread(target=served._drain, daemon=True).start()
        return served

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._lock:
                self._log.append(raw.decode("utf-8", "replace"))

    def log(self) -> str:
        with self._lock:
            return "".join(self._log)

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            if re.search(pattern, text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the server's log:\n{self.log()}")

    def stop(self) -> str:
        """SIGTERM; the server's whole log (checked for tracebacks)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.05)
        text = self.log()
        assert_no_traceback(text)
        assert self.proc.returncode == 0, (self.proc.returncode, text)  # SIGTERM: the normal stop
        return text

    def client(self, secret_key: str | None = None, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "secretsmanager", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key=self.token if secret_key is None else secret_key,
            config=Config(retries={"max_attempts": 1}, **config))

    def http(self, method: str, target: str, *, body: bytes | None = None,
             headers: Mapping[str, str] | None = None, token: bool = True
             ) -> tuple[int, dict[str, str], bytes]:
        """One plain HTTP request (the Agent's routes, or hand-made API requests)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = dict(headers or {})
            if token:
                sent.setdefault("X-Aws-Parameters-Secrets-Token", self.token)
            conn.request(method, target, body=body, headers=sent)
            response = conn.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            conn.close()

    def api(self, operation: str, params: Mapping[str, Any] | bytes, *,
            headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """POST / with the token header (no signature): status and JSON answer."""
        body = params if isinstance(params, bytes) else json.dumps(params).encode()
        status, _, raw = self.http("POST", "/", body=body, headers={
            "X-Amz-Target": f"secretsmanager.{operation}",
            "Content-Type": "application/x-amz-json-1.1", **(headers or {})})
        return status, json.loads(raw)
