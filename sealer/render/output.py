"""Putting rendered plaintext on disk: private, atomic, and never over a sealed file.

A rendered file replaces its previous version atomically (sealer.fsio.atomic_write) with mode
0600, in directories created 0700; the github format appends instead, in one write, and only
to a regular file reached without following a symbolic link at the end; the files format
writes a directory of such files (sealer.render.files). Nothing here runs until the whole
output is in memory, so a render that fails writes nothing: an append that fails half way is
truncated back, and the directories a failed write created are removed again.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from ..errors import SealerError, UsageError

__all__ = ["Rendered", "is_current", "refuse_sealed_output", "write_output", "write_outputs",
           "write_private"]


class Rendered(NamedTuple):
    """A rendered output, in memory.

    `content` is the output's bytes. `output` is where it goes (None: the caller prints it).
    `append` (github) adds `content` to the end of `output` instead of replacing it.
    `commands` are workflow commands (`::add-mask::`) that must reach stdout before `content`
    is written anywhere. `files` (the files format) maps each file name in the directory
    `output` to its bytes; `content` is then the list of names.
    """

    content: bytes
    output: Path | None
    format: str
    append: bool = False
    commands: bytes = b""
    files: Mapping[str, bytes] | None = None


def refuse_sealed_output(output: Path, inputs: Sequence[Path]) -> None:
    """Plaintext must never replace a sealed file, an input above all (checked before
    decrypting)."""
    if not output.exists():
        return
    if any(_same(output, source) for source in inputs) or (output.is_file()
                                                            and _is_sealed(output)):
        raise UsageError("refusing to overwrite a sealed file with plaintext", file=str(output),
                         hint="choose another -o path")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _is_sealed(path: Path) -> bool:
    from ..document import looks_sealed
    from ..fsio import read_bytes
    from ..yamlio import MAX_BYTES, load

    try:
        return looks_sealed(load(read_bytes(path, limit=MAX_BYTES), source=str(path)))
    except SealerError:
        return False


def write_output(rendered: Rendered) -> None:
    """Write one output: atomically with mode 0600, appended (github), or a directory of such
    files (files)."""
    if rendered.output is None:
        raise UsageError("no output file", hint="pass -o FILE, or --stdout to print")
    if rendered.append:
        _append(rendered.output, rendered.content)
        return
    directory = rendered.output if rendered.files is not None else rendered.output.parent
    created = _missing_dirs(directory)
    try:
        if rendered.files is not None:
            from .files import write_directory

            write_directory(rendered.output, rendered.files)
        else:
            make_private_dirs(directory)
            write_private(rendered.output, rendered.content)
    except BaseException:
        _remove_created(created, rendered)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`, mode 0600 (its directory must exist)."""
    from ..fsio import atomic_write

    atomic_write(path, data, mode=0o600)


def write_outputs(outputs: Sequence[Rendered]) -> None:
    """Write several outputs rendered beforehand (render all first: a failure then writes
    nothing). Each is replaced atomically; a disk failure half way can still leave the earlier
    ones written."""
    for rendered in outputs:
        write_output(rendered)


def is_current(rendered: Rendered) -> bool:
    """Whether the file on disk holds exactly `content` (False when it is missing); for the
    files format, whether the directory holds exactly its files."""
    if rendered.output is None:
        raise UsageError("--check needs the file to compare with", hint="pass -o FILE")
    if rendered.files is not None:
        from .files import directory_is_current

        return directory_is_current(rendered.output, rendered.files)
    try:
        with open(rendered.output, "rb") as fh:
            return fh.read(len(rendered.content) + 1) == rendered.content
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise SealerError(f"cannot read: {exc.strerror or exc}", file=str(rendered.output)
                          ) from None


def _missing_dirs(directory: Path) -> list[Path]:
    """`directory` and its parents that do not exist, deepest first."""
    missing = []
    while str(directory) not in ("", ".") and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    return missing


def _remove_created(created: list[Path], rendered: Rendered) -> None:
    """After a failed write, remove the directories it created (`created`, deepest first):
    the files format's own files in them first, then each directory that is empty. Anything
    someone else put there meanwhile stays, with its directory."""
    import contextlib

    from .files import MANIFEST

    if created and created[0] == rendered.output and rendered.files is not None:
        for name in [*rendered.files, str(MANIFEST)]:
            with contextlib.suppress(OSError):
                os.unlink(rendered.output / name)
        with contextlib.suppress(OSError):
            os.rmdir(rendered.output / MANIFEST.parent)
    for path in created:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            continue
        except OSError:
            return


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents with mode 0700 (existing ones are left)."""
    for path in reversed(_missing_dirs(directory)):
        try:
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # mkdir's mode is reduced by the umask
        except FileExistsError:
            continue
        except OSError as exc:
            raise SealerError(f"cannot create the directory: {exc.strerror or exc}",
                              file=str(path)) from None


def _append(path: Path, data: bytes) -> None:
    """Append `data` whole or not at all, to a regular file, never through a symbolic link (a
    planted link would make sealer append secrets to any file it can write) and never to a
    FIFO or device.

    One write of the whole block, under an flock (other sealer processes appending to the file
    wait; the runner itself reads it only after the step). A write that fails part way or a
    failed fsync (a full disk, a quota, a file size limit) truncates the file back to its size
    before, so no half variable is left, and no plaintext."""
    fd = _open_for_append(path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_regular(path)
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:  # one write; the rest of a short one raises the reason (ENOSPC, …)
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            raise _append_failed(path, fd, size, exc) from None
    except OSError as exc:
        raise SealerError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
    finally:
        os.close(fd)  # releases the lock


def _open_for_append(path: Path) -> int:
    flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
             | os.O_NONBLOCK)  # O_NONBLOCK: opening a FIFO must not wait for a reader
    try:
        return os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SealerError("refusing to append through a symbolic link", file=str(path),
                              hint="point it at the regular file itself") from None
        if exc.errno == errno.ENXIO:  # a FIFO without a reader
            raise _not_regular(path) from None
        raise SealerError(f"cannot open for appending: {exc.strerror or exc}",
                          file=str(path)) from None


def _append_failed(path: Path, fd: int, size: int, exc: OSError) -> SealerError:
    """Truncate back to `size` what a failed append wrote; the error to raise."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    try:
        os.ftruncate(fd, size)
    except OSError:
        return SealerError(f"cannot write: {exc.strerror or exc}; part of the block may be "
                           "left at the end of the file", file=str(path),
                           hint=f"remove what follows byte {size} of it")
    return SealerError(f"cannot write: {exc.strerror or exc}; nothing was appended",
                       file=str(path), hint="free some disk space" if full else None)


def _not_regular(path: Path) -> SealerError:
    return SealerError("refusing to append: not a regular file", file=str(path),
                       hint="$GITHUB_ENV and $GITHUB_OUTPUT are regular files the runner made")
