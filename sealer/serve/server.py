"""The HTTP side of `sealer serve`: AWS's JSON 1.1 protocol, the Secrets Manager Agent's routes
and a health route, on loopback or a unix socket.

- `POST /` with `X-Amz-Target: secretsmanager.<Operation>` and a JSON body: the API
  (sealer.serve.api). Authenticated by a SigV4 signature made with the token as the secret
  access key (any SDK, unchanged), or by the token in `X-Aws-Parameters-Secrets-Token`.
- `GET /secretsmanager/get?secretId=…[&versionId=…][&versionStage=…]` and `GET /v1/<id>`
  (the Agent's routes): GetSecretValue's JSON; the token in `X-Aws-Parameters-Secrets-Token`.
- `GET /ping`: `healthy`, without a token.

Every other request is refused with an AWS-shaped error. A request carrying `X-Forwarded-For`
is refused (the Agent's guard against server-side request forgery through a proxy). Bodies
over 1 MiB, more than MAX_CONNECTIONS connections and clients slower than TIMEOUT are cut off;
the server keeps serving the others. Standard library only: ThreadingHTTPServer measured
within the targets (docs/PERFORMANCE.md) and keeps the serve path free of dependencies.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import socket
import socketserver
import stat
import sys
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import UsageError
from ..printable import printable
from .api import ApiError, Service
from .sigv4 import SignatureProblem, verify

__all__ = ["MAX_BODY", "TOKEN_HEADER", "Server", "make_server"]

MAX_BODY = 1024 * 1024
MAX_CONNECTIONS = 128
TIMEOUT = 10.0  # seconds a client may take between reads
TOKEN_HEADER = "x-aws-parameters-secrets-token"  # noqa: S105 (a header name)
JSON_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "secretsmanager."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: an SDK client reuses its connection
    server_version = "sealer"

    def version_string(self) -> str:
        return self.server_version
    timeout = TIMEOUT
    # one buffered write per answer (flushed by http.server after each request), and no
    # Nagle delay: headers and body sent as separate segments cost a delayed ACK (40 ms)
    wbufsize = 64 * 1024
    server: Any

    def setup(self) -> None:
        super().setup()
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- plumbing --------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            print(f"sealer serve: {printable(format % args)}", file=sys.stderr, flush=True)

    def address_string(self) -> str:
        return str(self.client_address[0]) if self.client_address else "unix"

    def _send(self, status: int, body: bytes, content_type: str, *,
              close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any], *, close: bool = False) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self._send(status, body, JSON_TYPE, close=close)

    def _error(self, error: ApiError, *, close: bool = False) -> None:
        self._json(error.status, {"__type": error.code, "message": error.message},
                   close=close)

    def _headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            out[key] = f"{out[key]},{value}" if key in out else value
        return out

    def _token_ok(self, headers: dict[str, str]) -> bool:
        given = headers.get(TOKEN_HEADER)
        return given is not None and hmac.compare_digest(given.encode(),
                                                         self.server.app.token.encode())

    def _guard(self, headers: dict[str, str]) -> None:
        if "x-forwarded-for" in headers:
            raise ApiError("AccessDeniedException", "requests through a proxy "
                           "(X-Forwarded-For) are refused", 403)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "transfer-encoding" in headers:
            raise ApiError("InvalidRequestException", "send the body with Content-Length",
                           411)
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise ApiError("InvalidRequestException", "Content-Length is not a number") \
                from None
        if length < 0 or length > MAX_BODY:
            raise ApiError("RequestEntityTooLargeException",
                           f"the request body is over {MAX_BODY // 1024} KiB", 413)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise _Gone
        return body

    # -- routes ----------------------------------------------------------------------------

    def do_POST(self) -> None:
        headers = self._headers()
        try:
            body = self._read_body(headers)
        except ApiError as error:
            self._error(error, close=True)
            return
        except _Gone:
            self.close_connection = True
            return

        def request() -> tuple[str, dict[str, Any]]:
            self._guard(headers)
            if urlsplit(self.path).path != "/":
                raise ApiError("UnknownOperationException", "POST / is the only API route",
                               404)
            target = headers.get("x-amz-target", "")
            if not target.startswith(TARGET_PREFIX):
                raise ApiError("UnknownOperationException",
                               "X-Amz-Target must be secretsmanager.<Operation>")
            if not self._token_ok(headers):
                try:
                    verify("POST", self.path, headers, body, self.server.app.token)
                except SignatureProblem as problem:
                    status = 403 if problem.code == "MissingAuthenticationTokenException" \
                        else 400
                    raise ApiError(problem.code, problem.message, status) from None
                signed = headers.get("authorization", "").partition("SignedHeaders=")[2]
                if "x-amz-target" not in signed.partition(",")[0].split(";"):
                    raise ApiError("IncompleteSignatureException",
                                   "X-Amz-Target must be among the signed headers")
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise ApiError("SerializationException", "the body is not JSON") from None
            if not isinstance(params, dict):
                raise ApiError("SerializationException", "the body must be a JSON object")
            return target[len(TARGET_PREFIX):], params

        self._answer(request)

    def do_GET(self) -> None:
        headers = self._headers()
        parts = urlsplit(self.path)
        if parts.path == "/ping":
            self._send(200, b"healthy", "text/plain")
            return

        def request() -> tuple[str, dict[str, Any]]:
            self._guard(headers)
            query = parse_qs(parts.query, keep_blank_values=True)

            def one(name: str) -> str | None:
                values = query.get(name)
                if values is not None and len(values) != 1:
                    raise ApiError("InvalidParameterException", f"give {name} once")
                return values[0] if values else None

            if parts.path == "/secretsmanager/get":
                secret_id = one("secretId")
            elif parts.path.startswith("/v1/"):
                secret_id = unquote(parts.path[len("/v1/"):]) or None
            else:
                raise ApiError("ResourceNotFoundException", "no such route: use POST / "
                               "(the AWS API), GET /secretsmanager/get?secretId=… or "
                               "GET /v1/<secret>", 404)
            if not self._token_ok(headers):
                raise ApiError("UnrecognizedClientException",
                               "the X-Aws-Parameters-Secrets-Token header is missing or "
                               "wrong", 401)
            if secret_id is None:
                raise ApiError("InvalidParameterException", "secretId is required")
            params = {"SecretId": secret_id}
            for name, aws in (("versionId", "VersionId"), ("versionStage", "VersionStage")):
                value = one(name)
                if value is not None:
                    params[aws] = value
            return "GetSecretValue", params

        self._answer(request)

    def _answer(self, request: Callable[[], tuple[str, dict[str, Any]]]) -> None:
        """Run the operation `request` names and send its result, or an AWS-shaped error; an
        unexpected failure is logged by its type only and answered 500 (nothing leaks)."""
        try:
            operation, params = request()
            result = self.server.app.service.call(operation, params)
        except ApiError as error:
            self._error(error)
            return
        except Exception as exc:  # the server keeps serving
            self.server.app.internal_error(exc)
            self._error(ApiError("InternalServiceError", "sealer serve failed on this "
                                 "request; its log says why", 500))
            return
        self._json(200, result)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _refuse(self) -> None:
        self._error(ApiError("InvalidRequestException", f"{self.command} is not served", 405),
                    close=True)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse


class _Gone(Exception):
    """The client went away before its request was complete."""


class _Limits:
    """At most MAX_CONNECTIONS connections at once; one more is told 503 and closed."""

    app: App

    def _limit_init(self) -> None:
        self._admitted: set[int] = set()
        self._admit_lock = threading.Lock()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self._admit_lock:
            if len(self._admitted) < MAX_CONNECTIONS:
                self._admitted.add(id(request))
                return True
        with contextlib.suppress(OSError):
            request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                            b"Connection: close\r\n\r\n")
        return False

    def _release(self, request: Any) -> None:
        with self._admit_lock:
            self._admitted.discard(id(request))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, never a traceback: a client that hangs up mid-answer is routine."""
        kind = sys.exc_info()[0]
        if kind is not None and issubclass(kind, (ConnectionError, TimeoutError)):
            return
        self.app.internal_error(sys.exc_info()[1] or RuntimeError())


class _TcpServer(_Limits, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._limit_init()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self._release(request)


class _UnixServer(_Limits, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, path: str, app: App) -> None:
        self.app = app
        self._limit_init()
        old = os.umask(0o177)  # the socket is the owner's alone (0600)
        try:
            super().__init__(path, _Handler)
        finally:
            os.umask(old)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self._release(request)

    def get_request(self) -> tuple[Any, Any]:
        request, _ = self.socket.accept()
        return request, ("unix", 0)


class App:
    """What the handlers share: the service, the token, the log."""

    def __init__(self, service: Service, token: str, *, verbose: bool = False,
                 log: Callable[[str], None] | None = None) -> None:
        self.service, self.token, self.verbose = service, token, verbose
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def internal_error(self, exc: BaseException) -> None:
        # the type only: an exception's text may hold a value
        self.log(f"sealer serve: error: a request failed inside sealer ({type(exc).__name__})")


Server = _TcpServer | _UnixServer


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def make_server(app: App, *, host: str = "127.0.0.1", port: int = 2773,
                unix_socket: Path | None = None, allow_remote: bool = False) -> Server:
    """Bind (nothing is served until `serve_forever`)."""
    if unix_socket is not None:
        if unix_socket.exists() or unix_socket.is_symlink():
            if not stat.S_ISSOCK(unix_socket.lstat().st_mode):
                raise UsageError("exists and is not a socket; refusing to replace it",
                                 file=str(unix_socket))
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(unix_socket))
                except OSError:
                    unix_socket.unlink()  # a stale socket of a server that died
                else:
                    raise UsageError("another server listens on this socket",
                                     file=str(unix_socket))
        return _UnixServer(str(unix_socket), app)
    if not allow_remote and not _is_loopback(host):
        raise UsageError(f"{host} is not a loopback address: sealer serve listens on "
                         "loopback or a unix socket", hint="--allow-remote serves other "
                         "hosts (plain HTTP: put TLS in front, and keep the token secret)")
    try:
        return _TcpServer((host, port), app)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="choose another --port, or stop what listens there") from None
