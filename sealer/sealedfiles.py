"""Which files are sealed files, and finding them: the one definition of the suffixes and the one
walk over a tree, used by check, rotation status, rotate --due, render targets, history and the
git attributes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import SealerError

__all__ = ["SEALED_SUFFIXES", "base_name", "is_sealed_name", "is_yaml_name", "sealed_files",
           "sealed_forms", "sealed_name"]

SEALED_SUFFIXES = (".sealed.yaml", ".sealed.yml")
_PLAIN_SUFFIXES = (".yaml", ".yml")


def is_sealed_name(name: str | Path) -> bool:
    """Whether a file name says it is a sealed file."""
    return str(name).endswith(SEALED_SUFFIXES)


def is_yaml_name(name: str | Path) -> bool:
    """Whether a file name says it is YAML (`.yaml`, `.yml`), sealed or not."""
    return str(name).endswith(_PLAIN_SUFFIXES)


def sealed_forms(source: Path) -> list[Path]:
    """Where the sealed form of plaintext YAML `source` would lie beside it: `app.yaml` ->
    app.sealed.yaml, app.sealed.yml; none for a sealed file or a file that is not YAML."""
    if is_sealed_name(source.name) or not is_yaml_name(source.name):
        return []
    return [source.with_name(base_name(source) + suffix) for suffix in SEALED_SUFFIXES]


def sealed_name(source: Path) -> Path:
    """Where a plaintext file's sealed form goes: `app.yaml` -> `app.sealed.yaml` (and
    `app.yml`, `app` alike)."""
    name = source.name
    for ext in _PLAIN_SUFFIXES:
        if name.endswith(ext):
            return source.with_name(name[: -len(ext)] + SEALED_SUFFIXES[0])
    return source.with_name(name + SEALED_SUFFIXES[0])


def base_name(file: Path) -> str:
    """`app.sealed.yaml` (or `app.yaml`) -> `app`."""
    name = file.name
    for suffix in (*SEALED_SUFFIXES, *_PLAIN_SUFFIXES):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def sealed_files(paths: Sequence[Path], *, tracked: bool = False) -> list[Path]:
    """Files named, and sealed files found under the directories named: in a git work tree the
    files git tracks or would track (its ignore rules apply; with `tracked`, only the files in
    its index), elsewhere every file outside hidden directories. Sorted per directory, without
    duplicates; a missing path is an error."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in _walk(path, tracked) if is_sealed_name(p.name))
        elif path.exists():
            out.append(path)
        else:
            raise SealerError("no such file or directory", file=str(path))
    return list(dict.fromkeys(out))


def _walk(directory: Path, tracked: bool) -> Iterator[Path]:
    listed = _git_files(directory, tracked)
    if listed is not None:
        yield from listed
        return
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        yield from (Path(root) / f for f in files)


def _git_files(directory: Path, tracked: bool) -> list[Path] | None:
    """Tracked (and unless `tracked`, untracked-but-not-ignored) files, or None outside a git
    work tree."""
    from .git import run_git

    others = [] if tracked else ["--others", "--exclude-standard"]
    try:
        out = run_git(["ls-files", "-z", "--cached", *others, "--", "."], directory,
                      check=False)
    except SealerError:
        return None
    if out is None:
        return None
    names = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
    return [directory / n for n in names if (directory / n).is_file()]
