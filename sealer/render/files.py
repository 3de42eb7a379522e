"""The files format: one file per secret in a directory, for the readers that take a secret per
file — systemd's `LoadCredential=`, docker compose's `secrets: {x: {file: …}}`, kustomize's
`secretGenerator` `files:` and `kubectl create secret generic --from-file=DIR`.

A file's name is the secret's flat name (docs/RENDER.md §2: `db.password` -> `db_password`,
with --prefix, --separator and --upper), and must be a name every one of those readers takes
as a file name and as a key: letters, digits, `-`, `_` and `.`, at most 253 characters, not
starting with a dot — so never `.`, `..` or a hidden file, and never with `/` or NUL. Each
file holds the value's bytes exactly: text in UTF-8 with no newline added, a binary value's
own bytes, null as an empty file.

The directory is created 0700 when missing; an existing one must belong to this user and be
closed to group and others. Each file is replaced atomically with mode 0600. sealer lists
the names it wrote in `DIR/.sealer/manifest`; a later render removes the files on that list
that are no longer secrets, and nothing else (systemd skips dot entries in a credential
directory and kubectl's --from-file=DIR skips subdirectories, so neither reads the list).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import SealerError
from .flatten import flatten, text_of
from .merge import Merged
from .output import Rendered, make_private_dirs, refuse_sealed_output, write_private
from .spec import RenderSpec

__all__ = ["FILE_NAME", "MANIFEST", "directory_is_current", "render", "rendered",
           "write_directory"]

FILE_NAME = re.compile(r"[-_A-Za-z0-9][-._A-Za-z0-9]{0,252}\Z")
FILE_HINT = ("file names are letters, digits, -, _ and ., at most 253 characters, not "
             "starting with a dot; rename the key, or pass --prefix")
MANIFEST = Path(".sealer") / "manifest"  # relative to the output directory
_HEADER = "# sealer: the files it wrote here; a later render removes those no longer secrets\n"


def contents(merged: Merged, spec: RenderSpec) -> dict[str, bytes]:
    """name -> the value's bytes, in document order."""
    out: dict[str, bytes] = {}
    for entry in flatten(merged, spec.names, valid=FILE_NAME, what="file name", hint=FILE_HINT):
        value = entry.value
        out[entry.name] = value if isinstance(value, bytes) else text_of(value).encode("utf-8")
    return out


def render(merged: Merged, spec: RenderSpec) -> bytes:
    """The manifest: the names the directory will hold (the files come with `rendered`)."""
    return _manifest(contents(merged, spec))


def rendered(merged: Merged, spec: RenderSpec) -> Rendered:
    """The directory's files in memory; refuses a name that is a sealed file there now."""
    files = contents(merged, spec)
    if spec.output is not None:
        for name in files:
            refuse_sealed_output(spec.output / name, merged.files)
    return Rendered(_manifest(files), spec.output, spec.format, files=files)


def _manifest(names: Iterable[str]) -> bytes:
    return (_HEADER + "".join(f"{name}\n" for name in names)).encode("utf-8")


def write_directory(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` into `directory` (see the module doc); remove the stale ones it wrote.

    Everything that can be checked is checked before the first write. The manifest is written
    first with the old and the new names, so a kill half way leaves no file sealer would not
    recognise as its own; then the files; then the manifest with the new names; then stale
    files are removed.
    """
    _prepare(directory)
    for name in files:
        _refuse_non_regular(directory / name)
    old = read_manifest(directory)
    stale = [name for name in old if name not in files]
    _write_manifest(directory, [*files, *stale])
    for name, data in files.items():
        write_private(directory / name, data)
    _write_manifest(directory, files)
    for name in stale:
        _remove_own(directory / name)


def directory_is_current(directory: Path, files: Mapping[str, bytes]) -> bool:
    """Whether `directory` holds exactly `files`, and none of the stale files sealer wrote."""
    for name, data in files.items():
        try:
            with open(directory / name, "rb") as fh:
                if fh.read(len(data) + 1) != data:
                    return False
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
        except OSError as exc:
            raise SealerError(f"cannot read: {exc.strerror or exc}", file=str(directory / name)
                              ) from None
    return not any(os.path.lexists(directory / name) for name in read_manifest(directory)
                   if name not in files)


def read_manifest(directory: Path) -> list[str]:
    """The names a previous render wrote (valid names only: nothing else is ever removed)."""
    try:
        fd = os.open(directory / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            text = fh.read(1024 * 1024).decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise SealerError(f"cannot read: {exc.strerror or exc}", file=str(directory / MANIFEST),
                          hint="sealer keeps its list of written files there: move it away"
                          ) from None
    return [line for line in text.splitlines() if FILE_NAME.match(line)]


def _prepare(directory: Path) -> None:
    """Create the directory 0700, or check that an existing one is private and this user's."""
    if not os.path.lexists(directory):
        make_private_dirs(directory)
        return
    try:
        info = os.stat(directory)
    except OSError as exc:
        raise SealerError(f"cannot use the directory: {exc.strerror or exc}",
                          file=str(directory)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise SealerError("not a directory: the files format writes one file per secret into "
                          "a directory", file=str(directory), hint="pass -o DIR")
    if info.st_uid != os.geteuid():
        raise SealerError("the directory belongs to another user; refusing to write secrets "
                          "into it", file=str(directory),
                          hint="choose a directory of your own, or a new one (created 0700)")
    if info.st_mode & 0o077:
        raise SealerError(f"the directory is open to group or others (mode "
                          f"{stat.S_IMODE(info.st_mode):04o}); refusing to write secrets into "
                          "it", file=str(directory),
                          hint=f"chmod 700 {directory}, or choose a new directory (created "
                               "0700)")


def _refuse_non_regular(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise SealerError("exists and is not a regular file (a directory or a symbolic link); "
                          "refusing to replace it", file=str(path),
                          hint="move it away, or rename the key")


def _write_manifest(directory: Path, names: Iterable[str]) -> None:
    folder = directory / MANIFEST.parent
    try:
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is reduced by the umask
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            raise SealerError("exists and is not a directory; sealer keeps its list of "
                              "written files there", file=str(folder),
                              hint="move it away") from None
    except OSError as exc:
        raise SealerError(f"cannot create the directory: {exc.strerror or exc}",
                          file=str(folder)) from None
    write_private(directory / MANIFEST, _manifest(names))


def _remove_own(path: Path) -> None:
    """Remove a stale file sealer wrote: a regular file of this user's, never a link's target."""
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
            os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SealerError(f"cannot remove a file that is no longer a secret: "
                          f"{exc.strerror or exc}", file=str(path)) from None
