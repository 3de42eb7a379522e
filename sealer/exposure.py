"""`sealer exposure`: for each current value, who is no longer a recipient but could know it —
because the same value was sealed for them in an earlier commit (docs/ACCESS.md). Removing a
recipient does not make them forget: what they could read, they may have kept.

Needs a key that opens the history. Every version is decrypted through the read gate
(`access.open_sealed`, audited as action "exposure"); a version it refuses (no key of yours
opens it, an unaccepted signature) is skipped and counted. The history is the one of
`sealer history` (git.history.file_history): each commit that changed the file. Nothing here
holds or prints a value: only key paths, principals and commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .access import Identities, open_sealed, resolve_identities
from .accessmap import shown_name, unknown_label
from .config import project_for
from .document import SealedDocument, parse_sealed
from .errors import SealerError
from .paths import format_path, leaves
from .sealedfiles import sealed_files

__all__ = ["Exposure", "ExposureReport", "exposure", "rotation_targets"]


class Exposure(NamedTuple):
    file: str  # relative to the top of the work tree
    key: str  # the key path whose current value they could know
    principal: str  # a former recipient: principal name, or unknown_label()
    since: str  # the first commit that sealed this value for them (12 hex digits)
    date: str  # its commit date


class ExposureReport(NamedTuple):
    exposures: list[Exposure]
    files: int
    versions: int  # earlier versions opened
    skipped: int  # earlier versions with former recipients that could not be opened

    def as_json(self) -> dict[str, Any]:
        return {"exposures": [e._asdict() for e in self.exposures], "files": self.files,
                "versions": self.versions, "skipped": self.skipped}


def _values(opened_tree: dict[str, Any]) -> dict[str, Any]:
    return {format_path(path): value for path, value in leaves(opened_tree)}


def _version(root: Path, commit: str, relative: str) -> SealedDocument | None:
    """The file as committed in `commit`, or None (absent, too large, or not a sealed file)."""
    from .git import blob_at, run_git
    from .limits import MAX_FILE_BYTES

    size = run_git(["cat-file", "-s", f"{commit}:{relative}"], root, check=False)
    if not size or not size.strip().isdigit() or int(size) > MAX_FILE_BYTES:
        return None
    data = blob_at(root, commit, root / relative)
    try:
        return parse_sealed(data, source=f"{commit}:{relative}") if data else None
    except SealerError:
        return None


def _name(file: Path, key: str) -> str:
    project = project_for(file)
    principal = project.principal_for(key) if project else None
    return principal or unknown_label(key)


def _file_exposure(file: Path, identities: Identities) -> tuple[list[Exposure], int, int]:
    from .git import repository_root
    from .git.history import file_history

    current = open_sealed(file, identities, action="exposure")
    values = _values(current.plaintext())
    now = {w.recipient for w in current.document.recipients}
    root = repository_root(file.absolute().parent).resolve()
    relative = Path(shown_name(file)).as_posix()
    found: dict[tuple[str, str], Exposure] = {}
    opened = skipped = 0
    for change in reversed(file_history(file)):  # oldest first: where exposure began
        document = _version(root, change.commit, relative) if change.serial is not None else None
        former = {w.recipient for w in document.recipients} - now if document else set()
        if document is None or not former:
            continue
        try:
            old = _values(open_sealed(file, identities, action="exposure",
                                      document=document).plaintext())
        except SealerError:
            skipped += 1
            continue
        opened += 1
        for key, value in values.items():
            if key in old and old[key] == value:
                for who in sorted(former):
                    found.setdefault((key, who), Exposure(
                        relative, key, _name(file, who), change.commit, change.date))
    return list(found.values()), opened, skipped


def exposure(paths: Sequence[Path] = (), identities: Identities = None) -> ExposureReport:
    """What former recipients could know of the current values under `paths`."""
    ids = resolve_identities(identities)
    out: list[Exposure] = []
    files = sealed_files(list(paths) or [Path(".")])
    opened = skipped = 0
    for file in files:
        found, more, missed = _file_exposure(file, ids)
        out += found
        opened, skipped = opened + more, skipped + missed
    out.sort(key=lambda e: (e.file, e.key, e.principal.startswith("unknown "), e.principal))
    return ExposureReport(out, len(files), opened, skipped)


def rotation_targets(report: ExposureReport, root: Path
                     ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """What to rotate so that no former recipient knows a current value: for each exposed key
    path, the rotated key that holds it (the path itself or the nearest one above it), once.
    Returns (targets, exposed keys without rotation settings). `root` is the work tree the
    report's file names are relative to."""
    from .document import read_sealed
    from .paths import parse_path
    from .rotation.versions import rotation_entries

    targets: dict[tuple[Path, str], None] = {}
    manual: dict[tuple[Path, str], None] = {}
    for item in report.exposures:
        file = root / item.file
        rotated = {k for k, _rot in rotation_entries(read_sealed(file).metadata) if k}
        path = parse_path(item.key)
        holder = next((format_path(path[:cut]) for cut in range(len(path), 0, -1)
                       if format_path(path[:cut]) in rotated), None)
        if holder is None:
            manual[(file, item.key)] = None
        else:
            targets[(file, holder)] = None
    return list(targets), list(manual)
