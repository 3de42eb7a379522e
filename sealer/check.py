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

__all__ = ["Baseline", "Staged", "WorkTree", "check_files", "check_hook", "hook_files"]


class Baseline:
    """What a file is compared with for the rollback rules: its version at a git revision
    (`check --base origin/main` in CI; HEAD for `check --staged`)."""

    def __init__(self, root: Path, ref: str = "HEAD", *, allow_replace: bool = False,
                 allow_rekey: bool = False) -> None:
        from .errors import UsageError

        if not ref or ref.startswith("-"):
            raise UsageError(f"invalid git revision {ref!r}", hint="e.g. --base origin/main")
        if ref != "HEAD" and not _is_commit(root, ref):  # HEAD: absent before the first commit
            raise UsageError(f"unknown git revision {ref!r}: nothing to compare with, so "
                             "rollbacks could not be seen",
                             hint="fetch it first (git fetch origin main); a shallow clone "
                                  "needs the base's history too (fetch-depth: 0)")
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


def _is_commit(root: Path, ref: str) -> bool:
    from .git import run_git

    return run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root,
                   check=False) is not None


class Staged(Baseline):
    """Check what git is about to commit: index contents, compared with HEAD (or `ref`).
    `configs`: the sealer.yaml files whose changes are reported (default: the staged ones)."""

    reads_work_tree = False

    def __init__(self, root: Path, ref: str = "HEAD", *, configs: Sequence[Path] | None = None,
                 allow_replace: bool = False, allow_rekey: bool = False) -> None:
        super().__init__(root, ref, allow_replace=allow_replace, allow_rekey=allow_rekey)
        self._configs = configs

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

        paths = self._configs
        if paths is None:
            paths = [p for p in staged_paths(self.root) if p.name == CONFIG_NAME]
        return [load_config(p.absolute()) for p in paths if p.is_file()]

    def _versions(self, config: Config) -> tuple[bytes | None, bytes | None]:
        """sealer.yaml as committed at the base, and as being checked."""
        from .git import blob_at

        try:
            current: bytes | None = self.content(config.path)
        except SealerError:
            current = None
        return blob_at(self.root, self.ref, config.path), current

    def signers_changed(self, config: Config) -> list[Finding]:
        """A `signers-changed` finding per environment whose signers (or their keys) differ
        between the staged sealer.yaml and the base's."""
        before, after = map(_signer_view, self._versions(config))
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
        required principals or post-quantum requirement differ from the base's, groups
        expanded and keys compared (a principal whose key changed is a change too)."""
        committed, current = self._versions(config)
        if committed is None:
            return []  # a new sealer.yaml: the review sees all of it, there is no change
        before, after = _access_view(committed), _access_view(current)
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


class WorkTree(Staged):
    """What a pre-commit hook is passed: files in the working tree, compared with `ref`. At
    commit time pre-commit has set unstaged changes aside, so the working tree holds what is
    being committed; with --all-files, --files and --from-ref it is what the run is about."""

    reads_work_tree = True

    def content(self, file: Path) -> bytes:
        return read_bytes(file, limit=yamlio.MAX_BYTES)


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


def check_hook(root: Path, files: Sequence[Path], *, no_plaintext: bool = False,
               base: str = "HEAD", allow_replace: bool = False,
               allow_rekey: bool = False) -> tuple[list[Finding], int]:
    """`check --hook`: the findings for the files a pre-commit hook is passed, and how many
    files were checked. Each file is read in the working tree, and where its staged version
    differs (a hook runner that does not set unstaged changes aside, or `pre-commit run
    --files` on a partly staged file) that version too: either could be what is committed.
    Rollback rules compare with `base`. With `no_plaintext`, the plaintext and leak scan of
    every file instead (`leaks`)."""
    differing = _unstaged(root)

    def staged_too(paths: Sequence[Path]) -> list[Path]:
        return [p for p in paths if p.absolute() in differing]

    if no_plaintext:
        from .leaks import read_head, scan_files

        findings = scan_files(files, read_head)
        if also := staged_too(files):
            findings = _and_staged(findings, scan_files(also, Staged(root).content))
        return findings, len(files)
    sealed, configs = hook_files(files)
    options = {"allow_replace": allow_replace, "allow_rekey": allow_rekey}
    findings = check_files(sealed, staged=WorkTree(root, base, configs=configs, **options))
    also, also_configs = staged_too(sealed), staged_too(configs)
    if also or also_configs:
        index = Staged(root, base, configs=also_configs, **options)
        findings = _and_staged(findings, check_files(also, staged=index))
    return findings, len(sealed)


def _unstaged(root: Path) -> set[Path]:
    """Files whose working-tree content differs from the index (modified, or changed type)."""
    from .git import run_git

    out = run_git(["diff", "--name-only", "-z", "--no-ext-diff", "--no-textconv",
                   "--diff-filter=MT"], root, check=False) or b""
    return {(root / n).absolute() for n in out.decode("utf-8", "surrogateescape").split("\0")
            if n}


def _and_staged(findings: list[Finding], staged: Iterable[Finding]) -> list[Finding]:
    """`findings`, then those of the staged versions that the working tree does not have."""
    seen = set(findings)
    return findings + [f._replace(message=f"the staged version: {f.message}")
                       for f in staged if f not in seen]


def hook_files(files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """What `check --hook` checks when pre-commit passes it `files`: the sealed files among
    them, and for a sealer.yaml or a schema one names, every tracked sealed file below that
    sealer.yaml (a change of rules can break files the commit does not touch); and the
    sealer.yaml files among them, whose signers and access changes are reported."""
    from .config import CONFIG_NAME
    from .sealedfiles import is_sealed_name, sealed_files

    sealed: list[Path] = []
    configs: list[Path] = []
    governing: list[Path] = []
    owners = _SchemaOwners()
    for file in files:
        if is_sealed_name(file.name):
            sealed.append(file)
        elif file.name == CONFIG_NAME:
            configs.append(file)
            governing.append(file)
        else:
            governing += owners.naming(file)
    directories = [_near(c.parent) for c in dict.fromkeys(c.absolute() for c in governing)]
    below = sealed_files(directories, tracked=True) if directories else []
    return list(dict.fromkeys([*sealed, *below])), configs


class _SchemaOwners:
    """The sealer.yaml files whose `schemas:` name a file (each sealer.yaml loaded once)."""

    def __init__(self) -> None:
        self._chains: dict[Path, list[Path]] = {}
        self._schemas: dict[Path, set[Path]] = {}

    def naming(self, file: Path) -> list[Path]:
        from .config import config_chain

        directory = file.absolute().parent
        if directory not in self._chains:
            self._chains[directory] = config_chain(file)
        target = file.resolve()
        return [path for path in self._chains[directory] if target in self._of(path)]

    def _of(self, path: Path) -> set[Path]:
        from .config import contained_path, load_config

        if path not in self._schemas:
            config = load_config(path)
            found = (contained_path(config.root, text) for text in config.schemas.values())
            self._schemas[path] = {p.resolve() for p in found if p is not None}
        return self._schemas[path]


def _near(path: Path) -> Path:
    """`path` relative to the current directory when it lies below it (as findings show it)."""
    try:
        return path.absolute().relative_to(Path.cwd())
    except ValueError:
        return path


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
    if (staged is None or staged.reads_work_tree) and _leads_out(file, config):
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
    findings = list(file_rules(subject)) + list(_schema_shape(subject)) + list(_schedules(subject))
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


def _schedules(s: Subject) -> Iterator[Finding]:
    """Rotation settings whose schedule is malformed (FORMAT.md §10.1): a finding here, where
    `rotation status` would say only "invalid" and `rotate --due` would stop."""
    from .rotation.schedule import schedule_of
    from .rotation.versions import rotation_entries

    for key, rotation in rotation_entries(s.document.metadata):
        try:
            schedule_of(rotation)
        except SealerError as exc:
            where = ("metadata", "keys", key, "rotation") if key else ("metadata", "rotation")
            yield s.finding("sealed-structure", exc.message, where=where,
                            path=parse_path(key) if key else None, hint=exc.hint)


def _with_key(s: Subject, identities: Sequence[Identity]) -> list[Finding]:
    """With --decrypt: the MAC verified and values validated. A file none of the identities
    can open (a CI key checking its own environment among others) is a warning, skipped."""
    from .access import open_sealed
    from .errors import NoIdentityError
    from .schemas import validate_values

    try:
        opened = open_sealed(s.file, identities, action="check", document=s.document)
    except NoIdentityError as exc:
        if not identities:  # no key at all: nothing can be checked, which stays an error
            return [_structure(s.file, exc)]
        return [_not_a_recipient(s, identities)]
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


def _not_a_recipient(s: Subject, identities: Sequence[Identity]) -> Finding:
    sources = ", ".join(sorted({i.source for i in identities}))
    return Finding("sealed-structure", "warn", str(s.file), 1, None,
                   f"not a recipient, skipped: none of your identities (from {sources}) can "
                   "open it, so its MAC and values were not checked",
                   f"check it with a key of one of its recipients (`sealer recipients list "
                   f"{s.file}`)")
