"""`sealer check`: find sealed files, apply structure, schema and policy rules, collect findings.

No key is needed; with identities (`--decrypt`) the MAC is verified and values are validated too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import yamlio
from .config import Config, project_for
from .document import SealedDocument, from_tree, looks_sealed
from .errors import SealerError
from .fsio import read_bytes
from .paths import Path as KeyPath
from .paths import get, parse_path
from .policy import RULES, Finding, Subject, config_rules, file_rules, signed_by_expected

if TYPE_CHECKING:
    from .keys import Identity

__all__ = ["Baseline", "Staged", "check_files"]


class Baseline:
    """What a file is compared with for the rollback rules: its version at a git revision
    (`check --base origin/main` in CI; HEAD for `check --staged`)."""

    def __init__(self, root: Path, ref: str = "HEAD", *, allow_replace: bool = False,
                 allow_rekey: bool = False) -> None:
        if not ref or ref.startswith("-"):
            from .errors import UsageError

            raise UsageError(f"invalid git revision {ref!r}", hint="e.g. --base origin/main")
        self.root = root
        self.ref = ref
        self.allow_replace = allow_replace
        self.allow_rekey = allow_rekey

    def committed(self, file: Path) -> SealedDocument | None:
        from .git import blob_at

        blob = blob_at(self.root, self.ref, file)
        try:
            return _read(file, blob) if blob is not None else None
        except SealerError:
            return None


class Staged(Baseline):
    """Check what git is about to commit: index contents, compared with HEAD."""

    def __init__(self, root: Path, *, allow_replace: bool = False,
                 allow_rekey: bool = False) -> None:
        super().__init__(root, "HEAD", allow_replace=allow_replace, allow_rekey=allow_rekey)

    def content(self, file: Path) -> bytes:
        from .git import staged_blob

        blob = staged_blob(self.root, file)
        if blob is None:
            raise SealerError("is not in the git index", file=str(file))
        return blob

    def configs(self) -> list[Config]:
        """The sealer.yaml files being committed (a signers change may come alone)."""
        from .config import CONFIG_NAME, load_config
        from .git import staged_paths

        return [load_config(p) for p in staged_paths(self.root)
                if p.name == CONFIG_NAME and p.is_file()]

    def signers_changed(self, config: Config) -> list[Finding]:
        """A `signers-changed` finding per environment whose signers (or their keys) differ
        between the staged sealer.yaml and HEAD's."""
        from .git import head_blob, staged_blob

        before, after = (_signer_view(read(self.root, config.path))
                         for read in (head_blob, staged_blob))
        out = []
        for env in sorted(set(before) | set(after)):
            if before.get(env) != after.get(env) and before.get(env, after.get(env)):
                line = config.lines.get(("environments", env, "signers")) or 1
                out.append(Finding(
                    "signers-changed", RULES["signers-changed"][0], str(config.path), line, None,
                    f"the signers of environment {env!r} changed: "
                    f"{_signer_names(before.get(env))} -> {_signer_names(after.get(env))}",
                    "who may sign is a security decision: have it reviewed, then set "
                    "policy.rules.signers-changed to warn for this commit if your hook blocks it"))
        return out

    def access_changed(self, config: Config) -> list[Finding]:
        """An `access-changed` finding per environment whose readers (recipients and allow),
        required principals or post-quantum requirement differ from HEAD's, groups expanded
        and keys compared (a principal whose key changed is a change too)."""
        from .git import head_blob, staged_blob

        committed = head_blob(self.root, config.path)
        if committed is None:
            return []  # a new sealer.yaml: the review sees all of it, there is no change
        before, after = _access_view(committed), _access_view(staged_blob(self.root,
                                                                          config.path))
        out = []
        for env in sorted(set(before) | set(after)):
            changes = _describe_access(before.get(env, {}), after.get(env, {}))
            if changes:
                line = config.lines.get(("environments", env)) or 1
                out.append(Finding(
                    "access-changed", RULES["access-changed"][0], str(config.path), line, None,
                    f"access to environment {env!r} changed: {'; '.join(changes)}",
                    "who may read is a security decision: have it reviewed, then set "
                    "policy.rules.access-changed to warn for this commit if your hook blocks it"))
        return out


def _access_view(blob: bytes | None) -> dict[str, dict[str, Any]]:
    """environment -> {read, required: {(name, key)}, post_quantum: bool} from sealer.yaml."""
    from .config import expand_groups, parse_raw

    raw = parse_raw(blob, source="sealer.yaml")
    if raw is None:
        return {}
    principals, groups = raw.get("principals") or {}, raw.get("groups") or {}

    def named(names: Any) -> frozenset[tuple[str, str]]:
        return frozenset((n, str(principals.get(n))) for n in expand_groups(names, groups))

    out: dict[str, dict[str, Any]] = {}
    for name, env in (raw.get("environments") or {}).items():
        if isinstance(env, dict):
            out[str(name)] = {
                "read": named(env.get("recipients")) | named(env.get("allow")),
                "required": named(env.get("require")),
                "post_quantum": env.get("require_post_quantum") is True}
    return out


def _describe_access(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for aspect, label in (("read", "may read"), ("required", "must be a recipient")):
        old, new = before.get(aspect, frozenset()), after.get(aspect, frozenset())
        gained = sorted({n for n, _ in new - old})
        lost = sorted({n for n, _ in old - new} - set(gained))
        rekeyed = sorted({n for n, _ in new - old} & {n for n, _ in old - new})
        gained = [n for n in gained if n not in rekeyed]
        if gained:
            changes.append(f"{', '.join(gained)} now {label}")
        if lost:
            changes.append(f"{', '.join(lost)} no longer {label}")
        if rekeyed:
            changes.append(f"the key of {', '.join(rekeyed)} ({label}) changed")
    if bool(before.get("post_quantum")) != bool(after.get("post_quantum")):
        changes.append("post-quantum recipients " + ("now required" if after.get("post_quantum")
                                                     else "no longer required"))
    return changes


def check_files(files: Sequence[Path], *, identities: Sequence[Identity] | None = None,
                now: datetime | None = None, staged: Staged | None = None,
                baseline: Baseline | None = None) -> list[Finding]:
    """Every finding for `files`, with severities from each file's sealer.yaml ("off" dropped).
    `staged`: check the index against HEAD; `baseline`: compare with a revision (rollback)."""
    now = now or datetime.now(UTC)
    findings: list[Finding] = []
    by_directory: dict[Path, Config | None] = {}  # one sealer.yaml lookup per directory
    for file in files:
        directory = file.absolute().parent
        if directory not in by_directory:
            by_directory[directory] = project_for(file)
        config = by_directory[directory]
        findings += configured(config, check_file(file, config, identities=identities, now=now,
                                                  staged=staged, baseline=baseline))
    configs = {c.path: c for c in by_directory.values() if c is not None}
    if staged is not None:
        configs.update((c.path, c) for c in staged.configs())
        for config in configs.values():
            findings += configured(config, staged.signers_changed(config))
            findings += configured(config, staged.access_changed(config))
    for config in configs.values():
        findings += configured(config, config_rules(config))
    return findings


def _signer_view(blob: bytes | None) -> dict[str, tuple[Any, ...]]:
    """environment -> (require_signature, sorted (signer name, key text)) from sealer.yaml,
    groups expanded."""
    from .config import expand_groups, parse_raw

    raw = parse_raw(blob, source="sealer.yaml")
    if raw is None:
        return {}
    principals = raw.get("principals") or {}
    out: dict[str, tuple[Any, ...]] = {}
    for name, env in (raw.get("environments") or {}).items():
        if isinstance(env, dict) and (env.get("signers") or env.get("require_signature")):
            signers = sorted((n, str(principals.get(n)))
                             for n in expand_groups(env.get("signers"), raw.get("groups")))
            out[str(name)] = (bool(env.get("require_signature")), tuple(signers))
    return out


def _signer_names(view: tuple[Any, ...] | None) -> str:
    return ", ".join(name for name, _key in view[1]) or "(none)" if view else "(none)"


def configured(config: Config | None, findings: Iterable[Finding]) -> list[Finding]:
    """Apply the severities sealer.yaml sets ("off" drops a finding)."""
    out = []
    for finding in findings:
        severity = config.severity(finding.rule, finding.severity) if config else finding.severity
        if severity != "off":
            out.append(finding._replace(severity=severity))
    return out


def check_file(file: Path, config: Config | None, *, identities: Sequence[Identity] | None,
               now: datetime, staged: Staged | None = None,
               baseline: Baseline | None = None) -> list[Finding]:
    if staged is None and _leads_out(file, config):
        return [Finding("sealed-structure", RULES["sealed-structure"][0], str(file), 1, None,
                        "is a symlink leading out of the repository; it was not read",
                        "commit the sealed file itself, not a link to one elsewhere")]
    try:
        raw = staged.content(file) if staged else read_bytes(file, limit=yamlio.MAX_BYTES)
        document = _read(file, raw)
    except SealerError as exc:
        return [_structure(file, exc)]
    rule = config.rule_for(file) if config else None
    subject = Subject(file, document, raw, {}, config, rule, now)
    findings = list(file_rules(subject)) + list(_schema_shape(subject))
    comparison = staged if staged is not None else baseline
    if comparison is not None:
        findings += _rollback(subject, comparison)
    if identities is not None:
        findings += _with_key(subject, identities)
    return findings


def _leads_out(file: Path, config: Config | None) -> bool:
    """A symlink whose target is outside the repository (the work tree, else the directory of
    the governing sealer.yaml, else the file's own directory): a hostile checkout's way to make
    check read a file of the host's."""
    if not file.is_symlink():
        return False
    from .git import work_tree_of

    root = work_tree_of(file) or (config.root if config else file.absolute().parent)
    try:
        file.resolve().relative_to(root.resolve())
    except (OSError, ValueError):
        return True
    return False


def _rollback(s: Subject, staged: Baseline) -> Iterator[Finding]:
    """A sealed file may not go back in serial from its committed (or base) version, nor
    silently become another file."""
    before = staged.committed(s.file)
    if before is None:
        return
    header = s.document.header
    if header.id != before.header.id:
        if not staged.allow_replace:
            yield s.finding("file-replaced", "the file id changed: this is a different sealed "
                            "file than the one committed", where=("sealer", "id"),
                            hint="if you replaced it on purpose (seal --replace), commit with "
                                 "SEALER_ALLOW_REPLACE=1 or check --allow-replace")
    elif header.serial < before.header.serial:
        yield s.finding("rollback", f"serial went down from {before.header.serial} to "
                        f"{header.serial}: an older version is being committed",
                        where=("sealer", "serial"),
                        hint="re-apply your change to the current version (git checkout HEAD "
                             "-- FILE, then sealer set/edit)")
    elif (before.header.commitment is not None
          and header.commitment != before.header.commitment
          and not staged.allow_rekey and not signed_by_expected(s)):
        yield s.finding("data-key-changed", "the data key changed and no accepted signer "
                        "vouches for it: a key planted by someone who holds only the public "
                        "keys would expose every secret written under it later",
                        where=("sealer", "commitment"),
                        hint="if it is your own rekey or recipients remove, commit with "
                             "SEALER_ALLOW_REKEY=1 (or check --allow-rekey) after review; "
                             "require signatures to make this automatic")


def _read(file: Path, raw: bytes) -> SealedDocument:
    tree = yamlio.load(raw, source=str(file))
    if not looks_sealed(tree):
        raise SealerError("not a sealed file (no sealer header)", file=str(file))
    return from_tree(tree, str(file))


def _structure(file: Path, exc: SealerError) -> Finding:
    message = exc.message
    line = 1
    if message.startswith("line ") and ":" in message:
        number, _, message = message[5:].partition(": ")
        line = int(number) if number.isdigit() else 1
    return Finding("sealed-structure", RULES["sealed-structure"][0], str(file), line, None,
                   message, exc.hint)


def schema_targets(metadata: dict[str, Any], default: str | None) -> list[tuple[KeyPath, str]]:
    """(key path, schema name) pairs: the file's schema, then each key's."""
    out: list[tuple[KeyPath, str]] = []
    name = metadata.get("schema") or default
    if isinstance(name, str):
        out.append(((), name))
    for text, entry in (metadata.get("keys") or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("schema"), str):
            out.append((parse_path(text), entry["schema"]))
    return out


def _schemas(s: Subject) -> Iterator[tuple[KeyPath, str, Path | None]]:
    from .schemas import resolve_schema

    project = s.config.schemas if s.config else None
    root = s.config.root if s.config else None
    for path, name in schema_targets(s.document.metadata, s.rule.schema if s.rule else None):
        yield path, name, resolve_schema(name, project, root)


def _schema_shape(s: Subject) -> Iterator[Finding]:
    from .schemas import validate_shape

    rule = s.document.clear_rule
    for path, name, schema in _schemas(s):
        if schema is None:
            yield s.finding("schema-unknown", f"unknown schema {name!r}", where=("metadata",),
                            hint="use a built-in schema (sealer check --list-schemas) or "
                                 "add it under schemas: in sealer.yaml")
            continue
        node = get(s.document.data, path) if path else s.document.data
        for issue in validate_shape(node, schema, lambda p, base=path: rule.is_clear((*base, *p))):
            yield s.finding("schema-mismatch", f"{name}: {issue.message}",
                            path=(*path, *issue.path) or None)


def _with_key(s: Subject, identities: Sequence[Identity]) -> list[Finding]:
    from .access import open_sealed
    from .schemas import validate_values

    try:
        opened = open_sealed(s.file, identities, action="check", document=s.document)
    except SealerError as exc:
        return [_structure(s.file, exc)]
    findings = []
    for path, name, schema in _schemas(s):
        if schema is None:
            continue
        for issue in validate_values(opened.value(path), schema):
            findings.append(s.finding("schema-values", f"{name}: {issue.message}",
                                      path=(*path, *issue.path) or None))
    return findings
