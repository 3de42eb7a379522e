"""`sealer serve`: the AWS Secrets Manager API and the Secrets Manager Agent's routes, answered
from a directory of sealed files (docs/SERVE.md).

Every file passes the read gate when it is loaded (and again when it changes); its values stay
decrypted in this process's memory only. Each value handed out is an audit entry
(sealer.serve.auditing). A change of the files, or SIGHUP, reloads them: the new set replaces
the old one whole, or, when a file fails, the old set stays and the error names the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from ..access import Identities
from ..errors import SealerError, UsageError
from ..printable import printable

__all__ = ["ServeOptions", "load_token", "serve"]

TOKEN_ENV = "SEALER_SERVE_TOKEN"  # noqa: S105 (a variable name)
MIN_TOKEN = 16


@dataclass(frozen=True)
class ServeOptions:
    root: Path
    host: str = "127.0.0.1"
    port: int = 2773  # the Secrets Manager Agent's port
    unix_socket: Path | None = None
    allow_write: bool = False
    allow_remote: bool = False
    region: str = "us-east-1"
    account: str = "000000000000"
    reload_interval: float = 2.0
    verbose: bool = False


def _runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if base and Path(base).is_absolute():
        return Path(base) / "sealer"
    state = os.environ.get("XDG_STATE_HOME", "")
    return (Path(state) if state and Path(state).is_absolute()
            else Path.home() / ".local" / "state") / "sealer"


def default_token_file() -> Path:
    return _runtime_dir() / "serve.token"


def load_token(token_file: Path | None) -> tuple[str, str]:
    """(token, where it is): $SEALER_SERVE_TOKEN, else the token file (made with a fresh
    random token, 0600, when it does not exist)."""
    from ..fsio import create_private_file

    env = os.environ.get(TOKEN_ENV)
    if env is not None and token_file is None:
        if len(env) < MIN_TOKEN:
            raise UsageError(f"${TOKEN_ENV} must be at least {MIN_TOKEN} characters")
        return env, f"${TOKEN_ENV}"
    path = token_file or default_token_file()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = secrets.token_urlsafe(32)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_private_file(path, (text + "\n").encode())
        return text, str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the token file: {getattr(exc, 'strerror', exc)}",
                         file=str(path)) from None
    if len(text) < MIN_TOKEN:
        raise UsageError(f"the token must be at least {MIN_TOKEN} characters", file=str(path))
    mode = path.stat().st_mode & 0o077
    if mode:
        raise UsageError("the token file is readable by others; make it 0600", file=str(path),
                         hint=f"chmod 600 {path}")
    return text, str(path)


def serve(options: ServeOptions, token: str, identities: Identities = None, *,
          ready: Callable[[str], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or `stop` is set). `ready` gets the address once bound."""
    from ..audit import Entry
    from .api import Service
    from .auditing import AuditBatcher
    from .catalog import Resolved
    from .server import App, make_server

    batcher = AuditBatcher()

    def audit(action: str, secret: Resolved, outcome: str) -> None:
        batcher.record(Entry(action=action, file=secret.loaded.path,
                             keys=[secret.key_text] if secret.key_text else [],
                             recipient=secret.loaded.recipient, outcome=outcome))

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        service = Service(options.root, identities, region=options.region,
                          account=options.account, allow_write=options.allow_write,
                          audit=audit)
        app = App(service, token, verbose=options.verbose, log=log)
        server = make_server(app, host=options.host, port=options.port,
                             unix_socket=options.unix_socket,
                             allow_remote=options.allow_remote)
    except BaseException:
        batcher.close()
        raise
    stop = stop or threading.Event()
    reload_now = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_stop(_sig: int, _frame: FrameType | None) -> None:
        stop.set()
        reload_now.set()  # wakes the loop below, which then sees `stop`

    def on_hup(_sig: int, _frame: FrameType | None) -> None:
        reload_now.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_stop)
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="sealer-serve", daemon=True)
    thread.start()
    address = (f"unix:{options.unix_socket}" if options.unix_socket is not None
               else f"http://{_host_text(options.host)}:{server.server_address[1]}")  # type: ignore[index]
    log(f"sealer serve: {len(service.catalog.listed())} secrets from {options.root} on "
        f"{address}" + (" (writes allowed)" if options.allow_write else ""))
    unopened = [f.name for f in service.snapshot.files.values() if f.document is None]
    if unopened:
        log(f"sealer serve: not served (no identity opens them): {len(unopened)} files, e.g. "
            f"{printable(unopened[0])}")
    if ready is not None:
        ready(address)
    failed: dict[str, Any] | None = None  # the files as they were when a reload failed
    try:
        while not stop.is_set():
            forced = reload_now.wait(options.reload_interval)
            reload_now.clear()
            if stop.is_set():
                break
            seen = _seen(service.snapshot.root)
            if forced or (seen != _held(service.snapshot) and seen != failed):
                failed = None if _reload(service, batcher, log) else seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        batcher.close()
        if options.unix_socket is not None:
            with contextlib.suppress(OSError):
                options.unix_socket.unlink()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log("sealer serve: stopped")


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _seen(root: Path) -> dict[str, Any] | None:
    """Each sealed file's name and stat now (None: the directory cannot be walked)."""
    from .catalog import file_stat, scan

    out: dict[str, Any] = {}
    try:
        for name, path in scan(root):
            out[name] = file_stat(path)
    except (SealerError, OSError):
        return None
    return out


def _held(snapshot: Any) -> dict[str, Any]:
    return {name: loaded.stat for name, loaded in snapshot.files.items()}


def _reload(service: Any, batcher: Any, log: Callable[[str], None]) -> bool:
    try:
        fresh = service.reload()
    except (SealerError, OSError) as exc:
        log(f"sealer serve: error: {printable(str(exc))}; still serving the previous set")
        return False
    batcher.forget()
    log(f"sealer serve: reloaded: {len(fresh.files)} files")
    return True
