"""Who can read what (docs/ACCESS.md), without any key: for each sealed file its recipients
resolved to the principals of sealer.yaml (unknown keys by a short fingerprint), the
principals its environment requires, who may sign it and who did; per environment the same,
summed over its files. And the change in access between two git revisions (`access diff`).

sealer.yaml is read only through `config.load_config` (the work tree: `config.project_for`);
a revision's sealer.yaml files are read from git into a private directory and loaded from
there, so a committed one is validated exactly as the checked-out one is. Sealed files at a
revision are read with `git.blob_at`, as `check --base` reads them. Nothing is decrypted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .config import CONFIG_NAME, Config, Environment, load_config, project_for
from .document import SealedDocument, parse_sealed, read_sealed
from .errors import ConfigError, SealerError, UsageError
from .sealedfiles import is_sealed_name, sealed_files

if TYPE_CHECKING:
    from .access import SignerRule

__all__ = ["AccessChange", "AccessDiff", "AccessMap", "EnvironmentAccess", "FileAccess",
           "access_at", "access_diff", "access_map", "parse_fail_on", "shown_name",
           "unknown_label"]

NO_ENVIRONMENT = "(none)"  # files no creation rule covers

# kind -> how the text and Markdown reports say it
CHANGE_KINDS: dict[str, str] = {
    "read-gain": "gains read",
    "read-loss": "loses read",
    "sign-gain": "may now sign",
    "sign-loss": "may no longer sign",
    "required-added": "is now required",
    "required-removed": "is no longer required",
    "signature-required": "now requires a signature",
    "signature-not-required": "no longer requires a signature",
}


class FileAccess(NamedTuple):
    file: str  # relative to the repository root (as given outside a repository)
    environment: str  # NO_ENVIRONMENT when no creation rule covers it
    config: str | None  # the governing sealer.yaml, relative to the repository root
    readers: tuple[str, ...]  # principals that are recipients, sorted
    unknown: tuple[str, ...]  # recipients that are no principal: unknown_label()
    required: tuple[str, ...]  # principals the environment requires
    missing: tuple[str, ...]  # required principals that are no recipient
    signers: tuple[str, ...]  # principals whose keys may sign (the environment's signers)
    signature_required: bool
    signed_by: tuple[str, ...]  # valid signatures: principal names or unknown_label()
    accepted: bool  # one of them is a signer readers accept
    problem: str | None = None  # the file could not be read as a sealed file
    # key groups (docs/KEY-GROUPS.md): `threshold` of these groups together can read it, no
    # member alone (unless the threshold is 1); each group's members, named as `readers` are
    threshold: int | None = None
    groups: tuple[tuple[str, ...], ...] = ()

    @property
    def can_read(self) -> tuple[str, ...]:
        """Everyone who can read it: principals, then unknown keys."""
        return self.readers + self.unknown


class EnvironmentAccess(NamedTuple):
    name: str
    config: str | None
    recipients: tuple[str, ...]  # whom its files are sealed for (sealer.yaml recipients)
    allowed: tuple[str, ...]  # who may be a recipient (recipients and allow)
    required: tuple[str, ...]
    signers: tuple[str, ...]
    signature_required: bool
    files: int
    readers: tuple[str, ...]  # everyone who can read one of its files, sorted


class AccessMap(NamedTuple):
    files: list[FileAccess]
    environments: list[EnvironmentAccess]

    def principals(self) -> list[str]:
        """Everyone who can read any file, sorted (unknown keys last)."""
        return _sorted_names(n for f in self.files for n in f.can_read)

    def as_json(self) -> dict[str, Any]:
        return {"files": [f._asdict() for f in self.files],
                "environments": [e._asdict() for e in self.environments],
                "principals": self.principals()}


def unknown_label(key: str) -> str:
    """A recipient or signer key no principal has: its type and a short SHA-256 fingerprint
    of its text (`unknown age:3f2a9c1b0d4e`)."""
    kind = key.split(" ", 1)[0] if key.startswith("ssh-") else (
        "age-pq" if key.startswith("age1pq1") else "age")
    return f"unknown {kind}:{hashlib.sha256(key.encode('utf-8', 'replace')).hexdigest()[:12]}"


def _sorted_names(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=lambda n: (n.startswith("unknown "), n))


# -- one file ---------------------------------------------------------------------------------


def _signer_keys(config: Config | None, names: Iterable[str]) -> frozenset[str]:
    from .signing import canonical_key

    if config is None:
        return frozenset()
    keys = (canonical_key(config.principals.get(n, "")) for n in names)
    return frozenset(k for k in keys if k is not None)


def _signed(document: SealedDocument, config: Config | None
            ) -> tuple[tuple[str, ...], frozenset[str]]:
    """(names of the valid signers, their keys)."""
    if not document.signatures:
        return (), frozenset()
    from .signing import canonical_key, valid_signers

    keys, _bad = valid_signers(document)
    by_key = {canonical_key(text): name
              for name, text in (config.principals.items() if config else ())}
    return (tuple(_sorted_names(by_key.get(k) or unknown_label(k) for k in keys)),
            frozenset(keys))


def _file_access(name: str, document: SealedDocument, config: Config | None,
                 env: Environment | None, config_name: str | None,
                 rule: SignerRule | None = None, *, work_tree: bool = False) -> FileAccess:
    """What one sealed file says about access. `rule`/`work_tree`: the read gate's signer
    rule of a checked-out file (access.signer_rule), else the environment's own settings."""
    readers: set[str] = set()
    unknown: set[str] = set()
    grouped: dict[int, set[str]] = {}
    for wrapped in document.recipients:
        principal = config.principal_for(wrapped.recipient) if config else None
        label = principal or unknown_label(wrapped.recipient)
        (readers if principal else unknown).add(label)
        if wrapped.group is not None:
            grouped.setdefault(wrapped.group, set()).add(label)
    groups = tuple(tuple(_sorted_names(grouped[g])) for g in sorted(grouped))
    required = tuple(sorted(env.required)) if env else ()
    signers = env.signers if env else ()
    if work_tree:
        required_signature = rule is not None
        accepted_keys = rule.keys if rule is not None else _signer_keys(config, signers)
    else:
        required_signature = bool(env and env.require_signature)
        accepted_keys = _signer_keys(config, signers)
    signed_by, keys = _signed(document, config)
    return FileAccess(name, env.name if env else NO_ENVIRONMENT, config_name,
                      tuple(sorted(readers)), tuple(sorted(unknown)), required,
                      tuple(sorted(set(required) - readers)), tuple(sorted(signers)),
                      required_signature, signed_by, bool(keys & accepted_keys),
                      threshold=document.header.threshold if groups else None, groups=groups)


def _broken(name: str, exc: SealerError, config_name: str | None,
            env: Environment | None) -> FileAccess:
    return FileAccess(name, env.name if env else NO_ENVIRONMENT, config_name, (), (),
                      tuple(sorted(env.required)) if env else (), (),
                      tuple(sorted(env.signers)) if env else (),
                      bool(env and env.require_signature), (), False, exc.message)


def _environments(files: Sequence[FileAccess],
                  configs: dict[str | None, Config]) -> list[EnvironmentAccess]:
    """Every environment of the governing sealer.yaml files (also those without files), and
    NO_ENVIRONMENT when some file has none."""
    out = []
    for config_name, config in sorted(configs.items(), key=lambda c: c[0] or ""):
        for env in config.environments.values():
            mine = [f for f in files if f.config == config_name and f.environment == env.name]
            out.append(EnvironmentAccess(
                env.name, config_name, tuple(sorted(env.recipients)), tuple(sorted(env.allowed)),
                tuple(sorted(env.required)), tuple(sorted(env.signers)), env.require_signature,
                len(mine), tuple(_sorted_names(n for f in mine for n in f.can_read))))
    loose = [f for f in files if f.environment == NO_ENVIRONMENT]
    if loose:
        out.append(EnvironmentAccess(NO_ENVIRONMENT, None, (), (), (), (), False, len(loose),
                                     tuple(_sorted_names(n for f in loose for n in f.can_read))))
    return sorted(out, key=lambda e: (e.name == NO_ENVIRONMENT, e.name, e.config or ""))


def _sorted_files(files: list[FileAccess]) -> list[FileAccess]:
    return sorted(files, key=lambda f: (f.environment == NO_ENVIRONMENT, f.environment, f.file))


# -- the work tree ----------------------------------------------------------------------------


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return Path(os.path.abspath(path)).relative_to(root).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def shown_name(file: Path) -> str:
    """How the access map names a checked-out file: relative to the top of its work tree."""
    from .fsio import work_tree_of

    tree = work_tree_of(file)
    return _shown(file, Path(os.path.abspath(tree)) if tree is not None else None)


def access_map(paths: Sequence[Path] = ()) -> AccessMap:
    """Access to the sealed files named or found under `paths` (default: the current
    directory), as checked out."""
    from .access import signer_rule

    files, configs = [], {}
    for file in sealed_files(list(paths) or [Path(".")]):
        name = shown_name(file)
        config = project_for(file)
        config_name = shown_name(config.path) if config else None
        env = config.environment_for(file) if config else None
        if config is not None:
            configs[config_name] = config
        try:
            document = read_sealed(file)
        except SealerError as exc:
            files.append(_broken(name, exc, config_name, env))
            continue
        files.append(_file_access(name, document, config, env, config_name,
                                  signer_rule(file), work_tree=True))
    files = _sorted_files(files)
    return AccessMap(files, _environments(files, configs))


# -- a git revision ---------------------------------------------------------------------------


class _Blob(NamedTuple):
    path: str
    size: int


def _tree(root: Path, rev: str) -> dict[str, _Blob]:
    """Regular files (no symbolic links, no submodules) of `rev`, by path."""
    from .git import run_git

    out = run_git(["ls-tree", "-r", "-z", "-l", "--full-tree", rev, "--"], root) or b""
    blobs = {}
    for entry in out.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        fields = meta.split()
        if len(fields) == 4 and fields[1] == b"blob" and fields[0] in (b"100644", b"100755") \
                and fields[3].isdigit():
            path = os.fsdecode(name)
            blobs[path] = _Blob(path, int(fields[3]))
    return blobs


class _Configs:
    """The sealer.yaml files of a revision, each loaded (validated) by config.load_config the
    first time a sealed file in scope needs it: one elsewhere in the tree (a test fixture)
    does not stop the report."""

    def __init__(self, root: Path, rev: str, blobs: dict[str, _Blob]) -> None:
        self.root, self.rev = root, rev
        self.names = {p: b for p, b in blobs.items() if Path(p).name == CONFIG_NAME}
        self.loaded: dict[str | None, Config] = {}

    def governing(self, path: str) -> tuple[str | None, Config | None]:
        """The nearest sealer.yaml at or above `path`'s directory (config_chain's choice)."""
        parent = Path(path).parent
        for directory in (parent, *parent.parents):
            name = (directory / CONFIG_NAME).as_posix()
            if name in self.names:
                if name not in self.loaded:
                    self.loaded[name] = self._load(name)
                return name, self.loaded[name]
        return None, None

    def _load(self, name: str) -> Config:
        from .fsio import private_tempdir
        from .git import blob_at
        from .limits import MAX_FILE_BYTES

        where = f"{self.rev}:{name}"
        data = None
        if self.names[name].size <= MAX_FILE_BYTES:
            data = blob_at(self.root, self.rev, self.root / name)
        if data is None:
            raise ConfigError("cannot be read from git, or is too large", file=where)
        with private_tempdir("access") as scratch:
            copy = scratch / CONFIG_NAME
            copy.write_bytes(data)
            try:
                return load_config(copy)
            except ConfigError as exc:
                raise ConfigError(exc.message, file=where, hint=exc.hint) from None


def _in_scope(path: str, scope: Sequence[str]) -> bool:
    return not scope or any(s in ("", ".") or path == s or path.startswith(s.rstrip("/") + "/")
                            for s in scope)


def access_at(root: Path, rev: str, scope: Sequence[str] = ()) -> AccessMap:
    """Access to the sealed files of revision `rev` (under the repository-relative `scope`),
    with the sealer.yaml files of that revision."""
    from .git import blob_at
    from .limits import MAX_FILE_BYTES

    blobs = _tree(root, rev)
    configs = _Configs(root, rev, blobs)
    files: list[FileAccess] = []
    for path in sorted(p for p in blobs if is_sealed_name(p) and _in_scope(p, scope)):
        config_name, config = configs.governing(path)
        env = None
        if config is not None and config_name is not None:
            env = config.environment_for(config.root / Path(path).relative_to(
                Path(config_name).parent))
        try:
            data = blob_at(root, rev, root / path) if blobs[path].size <= MAX_FILE_BYTES else None
            if data is None:
                raise SealerError("cannot be read from git, or is too large")
            document = parse_sealed(data, source=f"{rev}:{path}")
        except SealerError as exc:
            files.append(_broken(path, exc, config_name, env))
            continue
        files.append(_file_access(path, document, config, env, config_name))
    files = _sorted_files(files)
    return AccessMap(files, _environments(files, configs.loaded))


# -- the change between two revisions ---------------------------------------------------------


class AccessChange(NamedTuple):
    kind: str  # a key of CHANGE_KINDS
    environment: str
    principal: str  # "" for signature-required / signature-not-required
    paths: tuple[str, ...]  # the files whose read changed; the sealer.yaml for the others


class AccessDiff(NamedTuple):
    base: str
    head: str
    changes: list[AccessChange]

    def gains_read(self, environment: str | None = None) -> bool:
        return any(c.kind == "read-gain" and environment in (None, c.environment)
                   for c in self.changes)

    def as_json(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head,
                "changes": [c._asdict() for c in self.changes]}


def _revisions(root: Path, spec: str) -> tuple[str, str, str]:
    """(BASE, HEAD, the revision to compare HEAD with) for `BASE..HEAD`, or `BASE...HEAD`
    (compared from their merge base, as a pull request shows it)."""
    from .check import Baseline
    from .git import run_git

    base, dots, head = spec.partition("...") if "..." in spec else spec.partition("..")
    if not dots or not base or not head:
        raise UsageError(f"expected BASE..HEAD, got {spec!r}",
                         hint="e.g. sealer access diff origin/main..HEAD")
    for ref in (base, head):
        Baseline(root, ref)  # an invalid or unknown revision is a UsageError naming it
    if dots == "...":
        out = run_git(["merge-base", base, head], root, check=False)
        if not out:
            raise UsageError(f"{base} and {head} have no common ancestor",
                             hint=f"compare them directly: {base}..{head}")
        return base, head, out.decode().strip()
    return base, head, base


def access_diff(spec: str, scope: Sequence[Path] = (), *, start: Path = Path(".")
                ) -> AccessDiff:
    """The change in access from revision BASE to HEAD (`spec` is `BASE..HEAD`): principals
    gaining or losing read per file, signers gained or lost, required principals added or
    removed, per environment."""
    from .git import repository_root

    root = repository_root(start).resolve()
    relative = [_shown(Path(os.path.abspath(s)), root) for s in scope]
    base, head, since = _revisions(root, spec)
    before, after = access_at(root, since, relative), access_at(root, head, relative)
    changes = _read_changes(before, after) + _environment_changes(before, after)
    order = list(CHANGE_KINDS)
    changes.sort(key=lambda c: (c.environment == NO_ENVIRONMENT, c.environment,
                                order.index(c.kind), c.principal))
    return AccessDiff(base, head, changes)


def _reads(access: AccessMap) -> set[tuple[str, str, str]]:
    return {(f.environment, who, f.file) for f in access.files for who in f.can_read}


def _read_changes(before: AccessMap, after: AccessMap) -> list[AccessChange]:
    old, new = _reads(before), _reads(after)
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for kind, triples in (("read-gain", new - old), ("read-loss", old - new)):
        for env, who, file in triples:
            grouped.setdefault((kind, env, who), []).append(file)
    return [AccessChange(kind, env, who, tuple(sorted(files)))
            for (kind, env, who), files in grouped.items()]


def _by_name(access: AccessMap) -> dict[str, EnvironmentAccess]:
    return {e.name: e for e in access.environments if e.name != NO_ENVIRONMENT}


def _environment_changes(before: AccessMap, after: AccessMap) -> list[AccessChange]:
    old, new = _by_name(before), _by_name(after)
    out = []
    for name in sorted(set(old) | set(new)):
        was, now = old.get(name), new.get(name)
        either = now or was
        where = (either.config,) if either is not None and either.config else ()
        for field, gain, loss in (("signers", "sign-gain", "sign-loss"),
                                  ("required", "required-added", "required-removed")):
            a = set(getattr(was, field, ())) if was else set()
            b = set(getattr(now, field, ())) if now else set()
            out += [AccessChange(gain, name, who, where) for who in sorted(b - a)]
            out += [AccessChange(loss, name, who, where) for who in sorted(a - b)]
        a_sig, b_sig = bool(was and was.signature_required), bool(now and now.signature_required)
        if a_sig != b_sig:
            kind = "signature-required" if b_sig else "signature-not-required"
            out.append(AccessChange(kind, name, "", where))
    return out


def parse_fail_on(specs: Sequence[str]) -> list[str | None]:
    """`--fail-on read-gain` (None: any environment) and `read-gain:ENV` (that one)."""
    out: list[str | None] = []
    for spec in specs:
        kind, _, env = spec.partition(":")
        if kind != "read-gain" or (":" in spec and not env):
            raise UsageError(f"unknown --fail-on {spec!r}",
                             hint="use read-gain (any environment) or read-gain:ENV")
        out.append(env or None)
    return out
