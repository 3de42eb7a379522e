"""Files on disk: atomic replacement, private files and directories, the writer lock, and
keeping plaintext out of core dumps.

Atomic replacement. The new content goes into an unnamed file in the target's directory
(Linux O_TMPFILE), is fsynced, given a temporary name (linkat through /proc/self/fd) and renamed
over the target, and the directory is fsynced: a reader, a crash, a full disk or a kill sees the
old file or the new one, never a mix. Until the last two system calls the content has no name,
so a SIGKILL while it is written leaves nothing behind. Where there is no O_TMPFILE (older
tmpfs, some overlay and network filesystems, systems other than Linux) the content is written
to a named temporary file from the start.

Either way the temporary name is `.NAME.sealer-tmp-PID-RANDOM`, mode 0600 while it is written,
and its writer holds an flock on it until the rename. A writer killed in between leaves that file
behind, plaintext included for `render -o` and `unseal -o`: the next sealer that writes in that
directory removes every such file of its user whose PID is not alive and that nobody holds
locked (the lock keeps writers in another PID namespace or on another host safe). The same rule,
with `sealer-KIND-PID-RANDOM`, holds for private_tempdir() directories: `sealer edit` (and every
CLI start, for the price of one directory listing) removes those a killed sealer left.

The writer lock (`locked`) is per file: an flock on the file itself, taken again when the file
was replaced while its writer waited; a file that does not exist yet is locked through its
directory (an flock on the directory) until it does. Writers of different files, in one
directory or not, run side by side; two writers of one file, and two creators of one name, are
serialised. No lock file is ever made (docs/ARCHITECTURE.md, "Locks and bulk writes").

Bulk writes (`batched_writes`): the writes made inside the block are held as unnamed, unsynced
files with their locks held; `flush` (every BATCH_FILES files and at the end) fsyncs each, renames
each over its target, then fsyncs each directory once: every file is old or new after a crash at
any point, and a file is reported written only once its rename is durable (docs/FAULTS.md).

Symbolic links. A write of a path that is a symbolic link replaces the file it points to and
keeps the link, and the lock is taken on that file, so writers through the link and through the
target are serialised. A link whose target lies outside the work tree holding
the link (outside git: the link's directory) is refused: a repository never makes sealer write
elsewhere.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import BusyError, SealerError

__all__ = [
    "StrPath",
    "WriteBatch",
    "as_path",
    "atomic_write",
    "batched_writes",
    "create_private_file",
    "disable_core_dumps",
    "locked",
    "private_tempdir",
    "read_bytes",
    "remove_abandoned_tempdirs",
    "remove_abandoned_temporaries",
    "work_tree_of",
    "write_target",
]

StrPath = str | os.PathLike[str]  # what the library's public functions accept as a file
LOCK_TIMEOUT_SECONDS = 30.0
BATCH_FILES = 128  # writes a batch holds before it flushes: 2 descriptors each (file, lock)
_LOCK_POLL_SECONDS = 0.02
_TEMPORARY = re.compile(r"\..*\.sealer-tmp-([0-9]{1,10})-[0-9a-f]+", re.DOTALL)
_TEMPDIR = re.compile(r"sealer-[a-z]+-([0-9]{1,10})-\w+")
_NO_UNNAMED_FILES = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)  # no O_TMPFILE here


def as_path(path: StrPath) -> Path:
    """A public function's file argument as a Path (TypeError for anything else, as open())."""
    if isinstance(path, Path):
        return path
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"expected a path (str or os.PathLike), not {type(path).__name__}")
    return Path(path)


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _read_size(fd: int, limit: int) -> int:
    """How much to ask for: a regular file's size and one byte more (which shows that it grew),
    never the whole limit: CPython allocates what a read asks for up front (32 MiB per file
    otherwise). Anything else (a pipe) reads up to the limit and one byte."""
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        return min(st.st_size, limit) + 1
    return limit + 1


def read_bytes(path: Path, *, limit: int | None = None) -> bytes:
    """Read a file, turning OS errors into one-line errors that name the file."""
    try:
        with open(path, "rb") as fh:
            if limit is None:
                data = fh.read()
            else:
                size = _read_size(fh.fileno(), limit)
                data = fh.read(size)
                if len(data) == size <= limit:  # it grew while being read: the rest, bounded
                    data += fh.read(limit + 1 - size)
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


def work_tree_of(path: Path) -> Path | None:
    """The top of the git work tree holding `path` (a directory with `.git`), found without
    running git; None outside one."""
    start = path.absolute()
    for candidate in (start.parent, *start.parent.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def write_target(path: Path) -> Path:
    """The file a write of `path` replaces: `path`, or the file a symbolic link `path` points
    to, when that stays inside the link's work tree (see the module docstring)."""
    if not path.is_symlink():
        return path
    try:
        target = path.resolve(strict=False)
    except (OSError, RuntimeError):  # a loop of links
        raise SealerError("is a loop of symbolic links; nothing was written", file=str(path),
                          hint="replace the link by the file it should be") from None
    root = (work_tree_of(path) or path.absolute().parent).resolve()
    if not target.is_relative_to(root) or target == root:
        raise SealerError(f"is a symbolic link to {target}, outside {root}; sealer does not "
                          "write through it, nothing was written", file=str(path),
                          hint="replace the link by the file, or name the target directly")
    return target


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `data` atomically (see the module docstring); through a symbolic
    link, its target (`write_target`). Inside `batched_writes()`, the replacement is made when
    the batch flushes.

    `mode` defaults to the existing file's mode, or 0644 minus the umask for a new file. Plaintext
    outputs pass 0o600. The content is written 0600 and only chmod-ed before it gets a name.
    """
    path = write_target(path)
    directory = path.parent if str(path.parent) else Path(".")
    if mode is None:
        mode = _existing_mode(path)
    batch = _BATCH.get()
    if batch is None or batch.sweep(directory):
        remove_abandoned_temporaries(directory)
    try:
        fd, tmp = _open_temporary(directory, path.name)
    except OSError as exc:
        raise SealerError(f"cannot write: {_describe(exc)}", file=str(path)) from None
    if batch is not None:
        batch.add(_Pending(path, directory, fd, tmp), data, mode)
        return
    try:
        _write_all(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
        _rename(fd, tmp, directory, path)
        tmp = None
    except OSError as exc:
        _discard(tmp)
        raise _not_written(path, exc) from None
    except BaseException:
        _discard(tmp)
        raise
    finally:
        os.close(fd)  # releases the lock on the temporary file: only after the rename
    _fsync_dir(directory)


def _rename(fd: int, tmp: Path | None, directory: Path, path: Path) -> None:
    """Give the written file open as `fd` a name (unless it has one, `tmp`) and rename it over
    `path`."""
    if tmp is None:
        tmp = _give_name(fd, directory, path.name)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def _not_written(path: Path, exc: OSError) -> SealerError:
    return SealerError(
        f"cannot write: {_describe(exc)}; the previous version is unchanged", file=str(path),
        hint="free some disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None,
    )


def _open_temporary(directory: Path, name: str) -> tuple[int, Path | None]:
    """A locked 0600 file to write in `directory`: unnamed (None) where the filesystem can."""
    fd = _open_unnamed(directory)
    tmp = None
    if fd is None:
        tmp = directory / _temporary_name(name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600)
    with contextlib.suppress(OSError):  # the lock only guards against a sweep from elsewhere
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, tmp


def _open_unnamed(directory: Path) -> int | None:
    """An O_TMPFILE descriptor in `directory`, or None where there are no unnamed files."""
    unnamed = getattr(os, "O_TMPFILE", None)
    if unnamed is None or not os.path.isdir("/proc/self/fd"):  # linkat needs /proc
        return None
    try:
        return os.open(directory, unnamed | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno in _NO_UNNAMED_FILES:
            return None
        raise


def _give_name(fd: int, directory: Path, name: str) -> Path:
    """Link the unnamed file open as `fd` into `directory` under a temporary name."""
    tmp = _temporary_name(name)
    at = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:  # a dir_fd makes os.link call linkat(AT_SYMLINK_FOLLOW); plain link() would not follow
        os.link(f"/proc/self/fd/{fd}", tmp, dst_dir_fd=at, follow_symlinks=True)
    finally:
        os.close(at)
    return directory / tmp


def _temporary_name(name: str) -> str:
    return f".{name[:48]}.sealer-tmp-{os.getpid()}-{os.urandom(6).hex()}"  # as _TEMPORARY


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def remove_abandoned_temporaries(directory: Path) -> None:
    """Remove the temporary files that killed writers left in `directory`: this user's, whose
    writer's PID is not alive and that nobody holds locked."""
    for entry in _entries(directory):
        match = _TEMPORARY.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _alive(int(match[1])):
            _remove_abandoned(Path(entry.path), os.O_NONBLOCK, os.unlink)


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as found:
            return list(found)
    except OSError:
        return []


def _remove_abandoned(path: Path, flags: int, remove: Callable[[Path], None]) -> None:
    """Remove `path` if this user owns it and nobody holds it locked."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags)
    except OSError:
        return
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            remove(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _existing_mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# -- the writer lock --------------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the writer lock for `path` for the block: an flock on the file itself, or on its
    directory while there is no such file (see the module docstring and docs/ARCHITECTURE.md).
    Through a symbolic link, its target is locked, as that is where the write goes.

    Inside `batched_writes()` a lock whose file has a write pending is held until the batch
    flushes, and the batch flushes first when the file already has one (its new content must be
    read) or when the lock has to be waited for (a batch never waits holding locks).
    """
    path = write_target(path)
    batch = _BATCH.get()
    if batch is not None and batch.pending(path):
        batch.flush()
    fd = _lock(path, timeout, batch)
    try:
        yield
    finally:
        if batch is not None and batch.pending(path):
            batch.hold(fd)
        else:
            os.close(fd)  # closing the descriptor releases the lock


def _lock(path: Path, timeout: float, batch: WriteBatch | None) -> int:
    """A descriptor holding the lock of `path`: on the file, or on its directory while there
    is none; taken again when what it locks stopped being the file while this writer waited."""
    deadline = time.monotonic() + timeout
    while True:
        fd = _lock_object(path)
        try:
            _acquire(fd, path, deadline, timeout, batch)
            if _still_current(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # replaced or created meanwhile: lock what is there now


def _lock_object(path: Path) -> int:
    """An open descriptor of the file `path`, or of its directory when `path` is not a regular
    file this process can open (none yet, or one it may not read, which it cannot update)."""
    fd = _open_regular(path)
    if fd is not None:
        return fd
    directory = path.parent if str(path.parent) else Path(".")
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SealerError(f"cannot open directory: {_describe(exc)}", file=str(directory)) from None


def _open_regular(path: Path) -> int | None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # never wait on a FIFO
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def _still_current(fd: int, path: Path) -> bool:
    """Whether the locked descriptor is still the lock of `path`: the file itself (not one a
    writer's rename replaced), or the directory while there is still no such file."""
    held = os.fstat(fd)
    if stat.S_ISDIR(held.st_mode):
        probe = _open_regular(path)
        if probe is None:
            return True
        os.close(probe)
        return False
    try:
        now = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _acquire(fd: int, path: Path, deadline: float, timeout: float,
             batch: WriteBatch | None) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if batch is not None and batch.holding():
                batch.flush()  # release this batch's locks before waiting: no deadlock
                continue
            if time.monotonic() >= deadline:
                raise BusyError(
                    f"another sealer process has been writing this file for {timeout:.0f}s",
                    file=str(path), hint="wait for it to finish, then run the command again",
                ) from None
            time.sleep(_LOCK_POLL_SECONDS)
        except OSError as exc:  # no flock here (some network filesystems)
            raise SealerError(f"cannot lock for writing: {_describe(exc)}", file=str(path),
                              hint="write on a local filesystem, or mount this one with "
                                   "working locks (NFS: local_lock=flock on one host)") from None


# -- bulk writes ------------------------------------------------------------------------------


class _Pending:
    """A write made inside a batch: the unnamed (or temporarily named) file open as `fd`."""

    __slots__ = ("directory", "fd", "path", "tmp")

    def __init__(self, path: Path, directory: Path, fd: int, tmp: Path | None) -> None:
        self.path, self.directory, self.fd, self.tmp = path, directory, fd, tmp


class WriteBatch:
    """The writes made inside `batched_writes()`, replaced together when it flushes. (Plain
    classes here, not dataclasses: those import `inspect`, ~6 ms of every command's start.)"""

    def __init__(self, size: int = BATCH_FILES) -> None:
        self.size = size
        self._queue: list[_Pending | Callable[[], None]] = []
        self._locks: list[int] = []
        self._swept: set[Path] = set()

    def sweep(self, directory: Path) -> bool:
        """Whether `directory` still needs its sweep of abandoned temporaries (once a batch)."""
        if directory in self._swept:
            return False
        self._swept.add(directory)
        return True

    def add(self, pending: _Pending, data: bytes, mode: int) -> None:
        try:
            _write_all(pending.fd, data)
            os.fchmod(pending.fd, mode)
        except BaseException as exc:
            os.close(pending.fd)
            _discard(pending.tmp)
            if isinstance(exc, OSError):
                raise _not_written(pending.path, exc) from None
            raise
        self._queue.append(pending)

    def then(self, callback: Callable[[], None] | None) -> None:
        """Call `callback` once every write queued before it is durable (after the flush that
        makes them so); not at all when one of them fails. Flushes when the batch is full: a
        bulk writer calls this after each file, with None when it has nothing to be told."""
        if callback is not None:
            self._queue.append(callback)
        if sum(isinstance(q, _Pending) for q in self._queue) >= self.size:
            self.flush()

    def pending(self, path: Path) -> bool:
        """Whether a write of `path` (as write_target gives it) waits in this batch."""
        where = os.path.abspath(path)
        return any(isinstance(q, _Pending) and os.path.abspath(q.path) == where
                   for q in self._queue)

    def holding(self) -> bool:
        return bool(self._locks)

    def hold(self, fd: int) -> None:
        """Keep a writer's lock until the flush that replaces its file."""
        self._locks.append(fd)

    def flush(self) -> None:
        """fsync every pending file, rename each over its target in order, fsync each
        directory once, release the locks, then call the callbacks. The first file that cannot
        be written stops the renames (it and those after it keep their previous version); the
        callbacks queued before it run, and its error is raised."""
        queue, self._queue = self._queue, []
        writes = [q for q in queue if isinstance(q, _Pending)]
        renamed: list[_Pending] = []
        try:
            failed = _sync_all(writes)
            ready = writes if failed is None else writes[:writes.index(failed[0])]
            failed = _rename_all(ready, renamed) or failed
            for directory in dict.fromkeys(w.directory for w in renamed):
                _fsync_dir(directory)
        finally:
            self._release(writes, renamed)
        for item in queue:
            if failed is not None and item is failed[0]:
                raise _not_written(failed[0].path, failed[1])
            if callable(item):
                item()

    def discard(self) -> None:
        """Drop the pending writes (their files keep the previous version) and the locks."""
        queue, self._queue = self._queue, []
        self._release([q for q in queue if isinstance(q, _Pending)], [])

    def _release(self, writes: list[_Pending], renamed: list[_Pending]) -> None:
        for pending in writes:
            if pending not in renamed:
                _discard(pending.tmp)
            os.close(pending.fd)
        locks, self._locks = self._locks, []
        for fd in locks:
            os.close(fd)


def _sync_all(writes: list[_Pending]) -> tuple[_Pending, OSError] | None:
    for pending in writes:
        try:
            os.fsync(pending.fd)
        except OSError as exc:
            return pending, exc
    return None


def _rename_all(writes: list[_Pending], renamed: list[_Pending]
                ) -> tuple[_Pending, OSError] | None:
    for pending in writes:
        try:
            _rename(pending.fd, pending.tmp, pending.directory, pending.path)
        except OSError as exc:
            return pending, exc
        pending.tmp = None
        renamed.append(pending)
    return None


_BATCH: contextvars.ContextVar[WriteBatch | None] = contextvars.ContextVar("sealer_batch",
                                                                          default=None)


@contextlib.contextmanager
def batched_writes(size: int = BATCH_FILES) -> Iterator[WriteBatch]:
    """Batch the atomic writes (and hold the locks) of the block: see the module docstring.

    The block's end flushes. A SealerError leaving the block flushes the writes queued before
    it (they are whole and passed their gate, as a loop of single writes would have made them)
    and is re-raised; anything else (an interrupt) discards them: those files are unchanged.
    Nested, the outer batch is used.
    """
    outer = _BATCH.get()
    if outer is not None:
        yield outer
        return
    batch = WriteBatch(size)
    token = _BATCH.set(batch)
    try:
        yield batch
    except SealerError:
        _BATCH.reset(token)
        batch.flush()
        raise
    except BaseException:
        _BATCH.reset(token)
        batch.discard()
        raise
    _BATCH.reset(token)
    batch.flush()


def _private_base() -> str | None:
    shm = Path("/dev/shm")  # noqa: S108 - a private 0700 mkdtemp() directory is made inside
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return None


@contextlib.contextmanager
def private_tempdir(kind: str = "tmp") -> Iterator[Path]:
    """A 0700 directory for plaintext, in memory (/dev/shm) where possible, always removed.

    Its name is `sealer-KIND-PID-RANDOM` (`kind` is lowercase letters) and this process holds an
    flock on it, so remove_abandoned_tempdirs() can tell it from one a killed sealer left.
    Removal on Ctrl-C and SIGTERM relies on the CLI turning those signals into exceptions.
    """
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=f"sealer-{kind}-{os.getpid()}-", dir=_private_base()))
    fd = -1
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.chmod(path, 0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if fd >= 0:
            os.close(fd)  # the lock is released after the removal


def remove_abandoned_tempdirs() -> None:
    """Remove the private_tempdir() directories that a killed sealer left (an `edit` killed
    with SIGKILL while the editor ran): this user's, whose PID is not alive, not locked. Costs
    one directory listing when there are none."""
    try:
        base = _private_base() or _system_tempdir()
    except OSError:  # no usable temporary directory: then there is nothing in one either
        return
    for entry in _entries(Path(base)):
        match = _TEMPDIR.fullmatch(entry.name)
        if match and entry.is_dir(follow_symlinks=False) and not _alive(int(match[1])):
            _remove_abandoned(Path(entry.path), os.O_DIRECTORY, _remove_tree)


def _system_tempdir() -> str:
    import tempfile  # only without /dev/shm: it costs ~2 ms to import

    return tempfile.gettempdir()


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# -- core dumps ------------------------------------------------------------------------------

_PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def disable_core_dumps() -> None:
    """No core dump of this process may hold its plaintext: RLIMIT_CORE 0, soft and hard, and
    on Linux prctl(PR_SET_DUMPABLE, 0), which also stops dumps piped to a core handler and keeps
    other processes of this user from attaching with ptrace or reading its memory.

    execve() of an ordinary program makes it dumpable again, but the limit is inherited: what
    sealer starts (the editor, git, rotator commands, and the command `sealer exec` becomes,
    whose environment holds the secrets) gets no core dump either, and only a privileged
    process can raise the hard limit again. Best effort: a failure is ignored.
    """
    import resource

    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        _not_dumpable()


def _not_dumpable() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)  # the C library this process already uses
        libc.prctl(_PR_SET_DUMPABLE, ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0))
