"""Files on disk: atomic replacement, private files and directories, and the writer lock.

Every write goes to a temporary file in the target's directory, is fsynced and renamed over the
target, so a reader (or a crash, a full disk, a kill) sees the old file or the new one, never a
mix. Writers to one directory are serialised with an advisory lock on that directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import BusyError, SealerError

__all__ = [
    "StrPath",
    "as_path",
    "atomic_write",
    "create_private_file",
    "locked",
    "private_tempdir",
    "read_bytes",
]

StrPath = str | os.PathLike[str]  # what the library's public functions accept as a file
LOCK_TIMEOUT_SECONDS = 30.0
_LOCK_POLL_SECONDS = 0.02


def as_path(path: StrPath) -> Path:
    """A public function's file argument as a Path (TypeError for anything else, as open())."""
    if isinstance(path, Path):
        return path
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"expected a path (str or os.PathLike), not {type(path).__name__}")
    return Path(path)


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def read_bytes(path: Path, *, limit: int | None = None) -> bytes:
    """Read a file, turning OS errors into one-line errors that name the file."""
    try:
        with open(path, "rb") as fh:
            data = fh.read() if limit is None else fh.read(limit + 1)
    except FileNotFoundError:
        raise SealerError("no such file", file=str(path), hint="check the path") from None
    except IsADirectoryError:
        raise SealerError("is a directory, not a file", file=str(path)) from None
    except OSError as exc:
        raise SealerError(f"cannot read: {_describe(exc)}", file=str(path)) from None
    if limit is not None and len(data) > limit:
        raise SealerError(
            f"file is larger than the {limit // (1024 * 1024)} MiB limit",
            file=str(path),
            hint="sealer files hold secrets, not bulk data; split the file",
        )
    return data


def create_private_file(path: Path, data: bytes) -> None:
    """Create a new file with mode 0600; refuse if it exists. Used for keys."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise SealerError(
            "already exists; refusing to overwrite it", file=str(path),
            hint="choose another path with -o, or move the existing file away first",
        ) from None
    except OSError as exc:
        raise SealerError(f"cannot create: {_describe(exc)}", file=str(path)) from None
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)
        raise SealerError(f"cannot write: {_describe(exc)}", file=str(path)) from None
    os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `data` atomically.

    `mode` defaults to the existing file's mode, or 0644 minus the umask for a new file. Plaintext
    outputs pass 0o600. The temporary file is created 0600 and only chmod-ed before the rename.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if mode is None:
        mode = _existing_mode(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise SealerError(f"cannot write: {_describe(exc)}", file=str(path)) from None
    try:
        _write_all(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SealerError(
            f"cannot write: {_describe(exc)}; the previous version is unchanged", file=str(path),
            hint="free some disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None,
        ) from None
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _existing_mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the writer lock for `path` (an flock on its directory) for the block.

    Locking the directory rather than the file survives the rename that replaces the file and
    needs no lock file that could be left behind or committed.
    """
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SealerError(f"cannot open directory: {_describe(exc)}", file=str(directory)) from None
    try:
        _acquire(fd, path, timeout)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(fd: int, path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise BusyError(
                    f"another sealer process has been writing here for {timeout:.0f}s",
                    file=str(path), hint="wait for it to finish, then run the command again",
                ) from None
            time.sleep(_LOCK_POLL_SECONDS)


def _private_base() -> str | None:
    shm = Path("/dev/shm")  # noqa: S108 - a private 0700 mkdtemp() directory is made inside
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return None


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """A 0700 directory for plaintext, in memory (/dev/shm) where possible, always removed.

    Removal on Ctrl-C and SIGTERM relies on the CLI turning those signals into exceptions.
    """
    path = Path(tempfile.mkdtemp(prefix="sealer-", dir=_private_base()))
    try:
        os.chmod(path, 0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
