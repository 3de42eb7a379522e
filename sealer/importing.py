"""`sealer import sops`: SOPS files in, sealed files out.

Every file is decrypted and verified first (`sealer.sops`), and refused when its MAC leaves
any part of it unauthenticated unless the caller accepts that; only then is anything written,
each file through `files.seal_file` (the write gate, the creation rule's recipients). With
`in_place` the SOPS files are removed once their sealed forms are written, and a tree that does
not convert completely converts nothing unless `keep_going`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from . import yamlio
from .access import Identities, authorize_write, resolve_identities
from .errors import SealerError, UsageError
from .fsio import StrPath, as_path, read_bytes
from .keys import Recipient
from .plaintext import METADATA_KEY
from .sops import decrypt_file, looks_like_sops, store_for

__all__ = ["ConfigImport", "Converted", "ImportReport", "import_sops", "import_sops_config",
           "sealed_output", "sops_files"]

_ENC_MARKERS = (".enc", ".sops", ".encrypted")
_STORE_EXTENSIONS = (".yaml", ".yml", ".json", ".env", ".ini")
MAX_TREE_FILES = 10_000


class Converted(NamedTuple):
    source: Path
    output: Path
    changed: bool
    unauthenticated: list[tuple[str, str]]


class ImportReport(NamedTuple):
    converted: list[Converted]
    failed: list[tuple[Path, SealerError]]


class _Prepared(NamedTuple):
    source: Path
    output: Path
    text: bytes
    unauthenticated: list[tuple[str, str]]


def sealed_output(source: Path) -> Path:
    """`app.enc.yaml`, `app.yaml`, `app.sops.json`, `app.enc.env` -> `app.sealed.yaml`;
    `.env` -> `.env.sealed.yaml`."""
    name = source.name
    for ext in _STORE_EXTENSIONS:
        if name.endswith(ext) and len(name) > len(ext):
            name = name[: -len(ext)]
            break
    for marker in _ENC_MARKERS:
        if name.endswith(marker) and len(name) > len(marker):
            name = name[: -len(marker)]
            break
    return source.with_name(name + ".sealed.yaml")


def sops_files(paths: Sequence[Path]) -> list[Path]:
    """Files named, and the SOPS files (by content) under the directories named."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                candidate = Path(root, name)
                if candidate.is_symlink() or name.endswith((".sealed.yaml", ".sealed.yml")):
                    continue
                if _is_sops(candidate):
                    out.append(candidate)
                if len(out) > MAX_TREE_FILES:
                    raise UsageError(f"more than {MAX_TREE_FILES} SOPS files", file=str(path))
    return out


def _is_sops(path: Path) -> bool:
    from . import limits

    try:
        data = read_bytes(path, limit=limits.MAX_FILE_BYTES)  # bounded as it is read
    except SealerError:
        return False
    return looks_like_sops(data, store_for(path))


def import_sops(paths: Sequence[StrPath], *, identities: Identities = None,
                recipients: Sequence[Recipient] | None = None, output: StrPath | None = None,
                in_place: bool = False, keep_going: bool = False,
                accept_unauthenticated: bool = False, store: str | None = None) -> ImportReport:
    """Decrypt and verify every SOPS file, then seal each one (nothing is written for a file
    that fails, and nothing at all when any fails, unless `keep_going`)."""
    sources = sops_files([as_path(p) for p in paths])
    if not sources:
        raise UsageError("no SOPS files found", hint="name SOPS files, or directories that "
                                                      "hold some")
    if output is not None and len(sources) != 1:
        raise UsageError("-o/--output needs exactly one SOPS file")
    ids = resolve_identities(identities)
    prepared: list[_Prepared] = []
    failed: list[tuple[Path, SealerError]] = []
    for source in sources:
        target = as_path(output) if output is not None else sealed_output(source)
        try:
            prepared.append(_prepare(source, target, ids, recipients, accept_unauthenticated,
                                     store))
        except SealerError as exc:
            failed.append((source, exc))
    _check_targets(prepared)
    if failed and not keep_going:
        raise failed[0][1] if len(sources) == 1 else _partial(failed, len(sources))
    converted = [_write(p, ids, recipients, in_place) for p in prepared]
    return ImportReport(converted, failed)


def _partial(failed: list[tuple[Path, SealerError]], total: int) -> SealerError:
    source, first = failed[0]
    where = first.file or str(source)
    return type(first)(f"{len(failed)} of {total} SOPS files cannot be imported, so nothing "
                       f"was written; the first, {where}: {first.message}",
                       hint="fix them, or pass --continue to import the others")


def _check_targets(prepared: list[_Prepared]) -> None:
    seen: dict[Path, Path] = {}
    for item in prepared:
        other = seen.setdefault(item.output.resolve(), item.source)
        if other != item.source:
            raise UsageError(f"{other} and {item.source} would both become {item.output}",
                             hint="import one of them with -o")


def _prepare(source: Path, target: Path, ids: Identities, recipients: Sequence[Recipient] | None,
             accept_unauthenticated: bool, store: str | None) -> _Prepared:
    from . import limits

    data = read_bytes(source, limit=limits.MAX_FILE_BYTES)
    plain = decrypt_file(data, list(ids or ()), source=str(source), store=store)
    if len(plain.branches) != 1:
        raise UsageError(f"holds {len(plain.branches)} YAML documents; a sealed file holds one",
                         file=str(source), hint="split it into one SOPS file per document")
    if plain.unauthenticated and not accept_unauthenticated:
        path, why = plain.unauthenticated[0]
        more = len(plain.unauthenticated) - 1
        raise SealerError(
            f"{path} is {why}" + (f" (and {more} more such values)" if more else "")
            + ": importing it would vouch for content nobody can verify; nothing was "
              "imported", file=str(source),
            hint="compare the file with a reviewed version (git log -p), then pass "
                 "--accept-unauthenticated")
    if METADATA_KEY in plain.branches[0]:
        raise UsageError(f"has a top-level `{METADATA_KEY}:` key, which sealer reserves for "
                         "metadata; nothing was imported", file=str(source),
                         hint="rename that key with sops first")
    text = yamlio.dump(plain.branches[0]).encode("utf-8")
    authorize_write(target, [r.text for r in recipients] if recipients else None,
                    keeps_data_key=False)
    return _Prepared(source, target, text, plain.unauthenticated)


def _write(item: _Prepared, ids: Identities, recipients: Sequence[Recipient] | None,
           in_place: bool) -> Converted:
    from .files import seal_file

    written = seal_file(item.text, item.output, source=str(item.source), recipients=recipients,
                        identities=ids, input_type="yaml")
    if in_place and item.source.resolve() != item.output.resolve():
        item.source.unlink()
    return Converted(item.source, item.output, written.changed, item.unauthenticated)


# -- .sops.yaml ------------------------------------------------------------------------------


class ConfigImport(NamedTuple):
    output: Path | None  # None: printed (the text is in `text`)
    text: str
    missing: list[str]


def import_sops_config(path: StrPath, output: StrPath | None = None, *,
                       to_stdout: bool = False) -> ConfigImport:
    """sealer.yaml from a `.sops.yaml` (creation rules, age recipients, one-group key groups,
    unencrypted suffix and regex), and what has no equivalent. Refuses to overwrite."""
    from . import limits
    from .fsio import create_private_file
    from .printable import printable
    from .sops.rules import translate

    source = as_path(path)
    raw = yamlio.load(read_bytes(source, limit=limits.MAX_FILE_BYTES), source=str(source))
    translated = translate(raw, str(source))
    header = [f"# sealer.yaml (docs/CONFIG.md), from {source.name} by `sealer import "
              "sops-config`.", "# Principal names are placeholders: rename them."]
    header += [printable(f"# no equivalent: {line}") for line in translated.missing]
    text = "\n".join(header) + "\n" + yamlio.dump(translated.config)
    if to_stdout:
        return ConfigImport(None, text, translated.missing)
    target = as_path(output) if output is not None else source.with_name("sealer.yaml")
    if target.exists():
        raise UsageError("exists; refusing to overwrite it", file=str(target),
                         hint="pass -o NEW-FILE, or -o - to print it")
    create_private_file(target, text.encode("utf-8"))
    target.chmod(0o644)  # a project file, committed: not a secret
    return ConfigImport(target, text, translated.missing)
