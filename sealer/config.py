"""The project file `sealer.yaml`: principals, groups, environments, creation rules, schemas,
policy. Found by walking up from the file being sealed or checked, not from the current
directory, so the same command gives the same answer wherever it is run from.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from . import yamlio
from .errors import ConfigError, SealerError
from .fsio import read_bytes
from .limits import MAX_FILE_BYTES
from .regex import Pattern, compile_pattern

__all__ = [
    "CONFIG_NAME",
    "Config",
    "Environment",
    "Rule",
    "find_config",
    "load_config",
    "project_for",
]

CONFIG_NAME = "sealer.yaml"
DEFAULT_SECRET_PATTERNS = (
    "password", "passwd", "secret", "token", "private_key", "privatekey", "api_key", "apikey",
    "access_key", "credential", "client_secret", "passphrase",
)


class Environment(NamedTuple):
    name: str
    recipients: tuple[str, ...]  # principal names, groups expanded
    allowed: frozenset[str]  # recipients | allow
    required: frozenset[str]
    max_rotation_age: str | None
    signers: tuple[str, ...] = ()  # principal names whose SSH keys may sign (docs/SIGNING.md)
    require_signature: bool = False
    require_post_quantum: bool = False
    # key_groups (docs/KEY-GROUPS.md): each group's principal names, and how many are needed
    key_groups: tuple[tuple[str, ...], ...] = ()
    threshold: int | None = None


class Rule(NamedTuple):
    """A creation rule: files matching `path` (a glob relative to the config) belong to it."""

    path: str
    environment: str
    schema: str | None
    clear: dict[str, str] | None

    def matches(self, relative: str) -> bool:
        return _glob(self.path).fullmatch(relative)


MAX_GLOB = 500  # characters


@lru_cache(maxsize=256)
def _glob(pattern: str) -> Pattern:
    """`**/` matches any directories (also none), `**` anything, `*` and `?` within one segment.

    The glob comes from the repository: translated to RE2, which matches in linear time (Python's
    re backtracks exponentially on many `**/` against a long path)."""
    if len(pattern) > MAX_GLOB:
        raise ConfigError(f"glob is longer than {MAX_GLOB} characters",
                          hint="use a shorter glob; `**/` already matches any depth")
    out, i = ["(?s)"], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return compile_pattern("".join(out), what="glob", limit=8 * MAX_GLOB + 4)


class Config:
    """A loaded, validated sealer.yaml."""

    def __init__(self, path: Path, raw: dict[str, Any], lines: dict[tuple[Any, ...], int]) -> None:
        self.path = path
        self.root = path.parent.resolve()
        self.raw = raw
        self.lines = lines
        self.principals: dict[str, str] = dict(raw.get("principals", {}))
        self.groups: dict[str, list[str]] = dict(raw.get("groups", {}))
        self.environments = {name: self._environment(name, env)
                             for name, env in raw.get("environments", {}).items()}
        self.rules = [self._rule(i, r) for i, r in enumerate(raw.get("creation_rules", []))]
        self.schemas: dict[str, str] = dict(raw.get("schemas", {}))
        self.policy: dict[str, Any] = dict(raw.get("policy", {}))
        self._check_policy_patterns()
        self._by_key: dict[str, str] | None = None

    def error(self, where: tuple[Any, ...], message: str, hint: str | None = None) -> ConfigError:
        line = self.lines.get(where) or self.lines.get(where[:-1]) or 1
        return ConfigError(f"line {line}: {message}", file=str(self.path), hint=hint)

    def expand(self, names: list[str], where: tuple[Any, ...], seen: tuple[str, ...] = ()
               ) -> list[str]:
        """Principal names for a list of principals and groups (groups may nest, not loop)."""
        out: list[str] = []
        for name in names:
            if name in self.principals:
                out.append(name)
            elif name in self.groups and name not in seen:
                out += self.expand(self.groups[name], ("groups", name), (*seen, name))
            elif name in seen:
                raise self.error(where, f"group {name!r} contains itself")
            else:
                raise self.error(where, f"{name!r} is neither a principal nor a group",
                                 hint="define it under principals: or groups:")
        return list(dict.fromkeys(out))

    def _environment(self, name: str, env: dict[str, Any]) -> Environment:
        where = ("environments", name)
        recipients = self.expand(env["recipients"], (*where, "recipients"))
        allowed = set(recipients) | set(self.expand(env.get("allow", []), (*where, "allow")))
        required = set(self.expand(env.get("require", []), (*where, "require")))
        groups, threshold = self._key_groups(env.get("key_groups"), (*where, "key_groups"))
        allowed |= {name for group in groups for name in group}
        if required - allowed:
            raise self.error((*where, "require"), "a required principal is not allowed: "
                             + ", ".join(sorted(required - allowed)),
                             hint="add it to recipients or allow")
        signers = self.expand(env.get("signers", []), (*where, "signers"))
        self._interval(env.get("max_rotation_age"), (*where, "max_rotation_age"))
        return Environment(name, tuple(recipients), frozenset(allowed), frozenset(required),
                           env.get("max_rotation_age"), tuple(signers),
                           bool(env.get("require_signature", False)),
                           bool(env.get("require_post_quantum", False)), groups, threshold)

    def _key_groups(self, raw: dict[str, Any] | None, where: tuple[Any, ...]
                    ) -> tuple[tuple[tuple[str, ...], ...], int | None]:
        """An environment's required key groups (the schema has checked their shape)."""
        if raw is None:
            return (), None
        groups = tuple(tuple(self.expand(g, (*where, "groups"))) for g in raw["groups"])
        names = [n for g in groups for n in g]
        if len(names) != len(set(names)):
            raise self.error(where, "a principal is in two key groups",
                             hint="a recipient belongs to one group: give each group its own "
                                  "keys")
        if raw["threshold"] > len(groups):
            raise self.error((*where, "threshold"), f"threshold {raw['threshold']} is more than "
                             f"the {len(groups)} key groups")
        return groups, int(raw["threshold"])

    def _interval(self, value: Any, where: tuple[Any, ...]) -> None:
        from .times import parse_interval

        if value is not None:
            try:
                parse_interval(value, what=str(where[-1]))
            except SealerError as exc:
                raise self.error(where, exc.message, hint=exc.hint) from None

    def _rule(self, index: int, raw: dict[str, Any]) -> Rule:
        if raw["environment"] not in self.environments:
            raise self.error(("creation_rules", index, "environment"),
                             f"unknown environment {raw['environment']!r}",
                             hint="define it under environments:")
        where = ("creation_rules", index)
        self._compiles(lambda: _glob(raw["path"]), (*where, "path"))
        if raw.get("clear"):
            from .document import ClearRule

            self._compiles(lambda: ClearRule.from_metadata(raw, str(self.path)),
                           (*where, "clear"))
        return Rule(raw["path"], raw["environment"], raw.get("schema"), raw.get("clear"))

    def _compiles(self, compile: Any, where: tuple[Any, ...]) -> None:
        """Compile a pattern or glob of sealer.yaml now: a bad one is a ConfigError at its line,
        not a failure in the middle of a command."""
        try:
            compile()
        except SealerError as exc:
            raise self.error(where, exc.message, hint=exc.hint) from None

    def _check_policy_patterns(self) -> None:
        for name in ("file_name", "key_name"):
            if isinstance(self.policy.get(name), str):
                self._compiles(lambda n=name: self.policy_pattern(n), ("policy", name))
        for index, glob in enumerate(self.policy.get("allow_plaintext") or []):
            self._compiles(lambda g=glob: _glob(g), ("policy", "allow_plaintext", index))

    def policy_pattern(self, name: str) -> Pattern | None:
        """policy.file_name or policy.key_name compiled (RE2, searched), or None when unset."""
        text = self.policy.get(name)
        if not text:
            return None
        return compile_pattern(text, what=f"policy.{name}", file=str(self.path))

    def matches(self, pattern: str, file: Path) -> bool:
        """Whether `file` matches a glob written relative to this config's directory."""
        relative = _relative(file, self.root)
        return relative is not None and _glob(pattern).fullmatch(relative)

    def rule_for(self, file: Path) -> Rule | None:
        """The first creation rule matching `file`, or None."""
        relative = _relative(file, self.root)
        if relative is None:
            return None
        return next((r for r in self.rules if r.matches(relative)), None)

    def recipient_of(self, principal: str) -> str:
        return self.principals[principal]

    def resolve_names(self, names: list[str]) -> list[str]:
        """Recipient keys for principal and group names (ConfigError for unknown names)."""
        return [self.principals[n] for n in self.expand(names, ("principals",))]

    def environment_for(self, file: Path) -> Environment | None:
        rule = self.rule_for(file)
        return self.environments[rule.environment] if rule else None

    def principal_for(self, recipient: str) -> str | None:
        """The principal name whose key is `recipient` (compared in canonical form)."""
        if self._by_key is None:
            from .keys import parse_recipient

            self._by_key = {_canonical(text, parse_recipient): name
                            for name, text in reversed(self.principals.items())}
        return self._by_key.get(recipient)

    def severity(self, rule_id: str, default: str) -> str:
        rules: dict[str, str] = self.policy.get("rules", {})
        return rules.get(rule_id, default)

    def secret_patterns(self) -> tuple[str, ...]:
        return tuple(self.policy.get("secret_key_patterns", DEFAULT_SECRET_PATTERNS))


def _canonical(text: str, parse: Any) -> str:
    try:
        return str(parse(text).text)
    except Exception:
        return text


def _relative(file: Path, root: Path) -> str | None:
    """`file` relative to the (resolved) config directory; symlinks resolved only if needed."""
    absolute = os.path.abspath(file)
    prefix = str(root) + os.sep
    if absolute.startswith(prefix):
        return Path(absolute[len(prefix):]).as_posix()
    try:
        return file.resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def find_config(start: Path) -> Path | None:
    """sealer.yaml in the directory of `start` or the nearest directory above it, up to the
    repository root (docs/SECURITY.md): one above the repository, one owned by another user
    (not this user, not the owner of `start`'s directory), or a symlink leading out of its
    directory is not the repository's, and is not honoured."""
    chain = config_chain(start)
    return chain[0] if chain else None


def config_chain(start: Path) -> list[Path]:
    """Every honoured sealer.yaml from `start`'s directory up to the repository root, nearest
    first (find_config's rules). The nearest governs; the ones above it may only make things
    stricter (environment_settings, audit)."""
    directory = start.absolute()
    directory = directory if directory.is_dir() else directory.parent
    owners = {os.geteuid(), _owner(directory)}
    out: list[Path] = []
    for candidate in (directory, *directory.parents):
        path = candidate / CONFIG_NAME
        if path.is_file() and _owner(path) in owners and _stays_in(path, candidate):
            out.append(path.resolve())
        if (candidate / ".git").exists():
            break  # the top of the work tree: nothing above it belongs to the repository
    return out


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _stays_in(path: Path, directory: Path) -> bool:
    """Whether `path`, symlinks resolved, is inside `directory` (symlinks resolved too)."""
    try:
        path.resolve().relative_to(directory.resolve())
    except (OSError, ValueError):
        return False
    return True


def contained_path(root: Path, text: Any) -> Path | None:
    """`text`, a path a repository file gives relative to `root`, as a path inside `root`; None
    when it is absolute, starts with `~`, uses `..`, or leads out through a symlink."""
    if not isinstance(text, str) or not text or text.startswith("~") or "\0" in text:
        return None
    relative = Path(text)
    if relative.is_absolute() or ".." in relative.parts:
        return None
    candidate = root / relative
    return candidate if _stays_in(candidate, root) else None


def load_config(path: Path) -> Config:
    """Read and validate sealer.yaml; every problem is a ConfigError pointing at a line."""
    try:
        raw, lines = yamlio.load_with_lines(read_bytes(path, limit=MAX_FILE_BYTES),
                                            source=str(path))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(getattr(exc, "message", str(exc)), file=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping (version: 1, principals:, environments:, …)",
                          file=str(path))
    _validate(raw, lines, path)
    config = Config(path, raw, lines)
    _check_principals(config)
    _check_audit(config)
    return config


def _check_audit(config: Config) -> None:
    audit = config.raw.get("audit") or {}
    if "path" in audit and contained_path(config.root, audit["path"]) is None:
        raise config.error(("audit", "path"), "audit.path must be a relative path inside the "
                           "repository (no ~, no .., no symlink out of it)",
                           hint="the host's own log location is SEALER_AUDIT_LOG")


def _validate(raw: dict[str, Any], lines: dict[tuple[Any, ...], int], path: Path) -> None:
    from .schemas import config_validator, shipped_fingerprint
    from .verdicts import known_valid, remember_valid

    schema = shipped_fingerprint() + b"sealer-config"
    if known_valid(schema, raw):  # this very content was valid before: no jsonschema import
        return
    errors = sorted(config_validator().iter_errors(raw), key=lambda e: list(map(str, e.path)))
    if not errors:
        remember_valid(schema, raw)
        return
    error = errors[0]
    where = tuple(error.absolute_path)
    extra = _extra_keys(error)
    line = _line_for((*where, extra[0]) if extra else where, lines)
    location = ".".join(map(str, where)) or "top level"
    raise ConfigError(f"line {line}: {location}: {_describe(error)}", file=str(path),
                      hint="see docs/CONFIG.md for the fields sealer.yaml accepts")


def _line_for(where: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    while where and where not in lines:
        where = where[:-1]
    return lines.get(where, 1)


def _extra_keys(error: Any) -> list[str]:
    """The offending key of an unknown-key error (additionalProperties, propertyNames)."""
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        return [error.instance]
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    return sorted(set(error.instance) - set(error.schema.get("properties", {})))


def _describe(error: Any) -> str:
    extra = _extra_keys(error)
    if extra and error.validator == "enum":
        return f"unknown name {extra[0]!r}; known: {', '.join(error.validator_value)}"
    if extra and error.validator == "pattern":
        return f"{extra[0]!r} is not a valid name (letters, digits, _ . @ -)"
    if extra:
        return f"unknown key {extra[0]!r}"
    return str(error.message)


def _check_principals(config: Config) -> None:
    from .keys import parse_recipient

    for name, text in config.principals.items():
        try:
            parse_recipient(text)
        except Exception as exc:
            raise config.error(("principals", name), f"principal {name!r}: "
                               f"{getattr(exc, 'message', exc)}") from None


def project_for(file: Path) -> Config | None:
    """The sealer.yaml governing `file`, loaded (cached while the file is unchanged), or None."""
    path = find_config(file)
    if path is None:
        return None
    return _cached(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _cached(path: Path, mtime_ns: int) -> Config:
    return load_config(path)


@lru_cache(maxsize=16)
def _parsed(path: Path, mtime_ns: int) -> dict[str, Any] | None:
    try:
        return parse_raw(read_bytes(path, limit=MAX_FILE_BYTES), source=str(path))
    except SealerError:
        return None


def parse_raw(data: bytes | None, *, source: str) -> dict[str, Any] | None:
    """sealer.yaml content parsed with sealer's strict YAML but not validated: None when there
    is none, or it is not YAML or not a mapping. The one unvalidated reading, for readers' hot
    path and for comparing two committed versions (check --staged)."""
    if not data:
        return None
    try:
        raw = yamlio.load(data, source=source)
    except SealerError:
        return None
    return raw if isinstance(raw, dict) else None


def raw_chain(file: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(path, unvalidated content) of every honoured sealer.yaml governing `file`, nearest
    first; unreadable or broken ones are left out (check reports them)."""
    out = []
    for path in config_chain(file):
        raw = _parsed(path, path.stat().st_mtime_ns)
        if raw is not None:
            out.append((path, raw))
    return out


def environment_settings(file: Path) -> dict[str, Any]:
    """The raw settings of the environment whose creation rule covers `file` (unvalidated).

    The nearest sealer.yaml decides; a sealer.yaml further up cannot be weakened by it: where
    one of those covers `file` with `require_signature` or `require_post_quantum`, they hold, with
    the signers of the outermost one that requires a signature (a nested file cannot add
    signers).

    A governing sealer.yaml that cannot be read or parsed is a ConfigError naming it: what it
    cannot tell may be `require_signature`, so readers and writers stop rather than go on
    without its rules (the audit settings assume `required` for the same reason)."""
    settings: dict[str, Any] = {}
    chain = raw_chain(file)
    honoured = {path for path, _raw in chain}
    for path in config_chain(file):
        if path not in honoured:
            raise ConfigError("cannot be read or is not a YAML mapping, so the rules it may "
                              "hold (require_signature, signers) are unknown; nothing was "
                              "decrypted or written", file=str(path),
                              hint="fix it: `sealer check` says what is wrong")
    for index, (path, raw) in enumerate(chain):
        found = _raw_environment(file, path, raw)
        if index == 0:
            settings = found
        elif found.get("require_signature") is True:
            keep = {k: v for k, v in settings.items() if k not in _SIGNER_FIELDS}
            settings = {**keep, **{k: found[k] for k in _SIGNER_FIELDS if k in found}}
        if found.get("require_post_quantum") is True:
            settings["require_post_quantum"] = True
    return settings


_SIGNER_FIELDS = ("require_signature", "signers", "_principals", "_groups", "_name")


def _raw_environment(file: Path, path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    relative = _relative(file, path.parent.resolve())
    for rule in raw.get("creation_rules") or []:
        if (isinstance(rule, dict) and isinstance(rule.get("path"), str) and relative
                and _raw_glob(rule["path"], path).fullmatch(relative)):
            env = (raw.get("environments") or {}).get(rule.get("environment"))
            settings = dict(env) if isinstance(env, dict) else {}
            settings["_name"] = rule.get("environment")
            settings["_principals"] = raw.get("principals") or {}
            settings["_groups"] = raw.get("groups") or {}
            return settings
    return {}


def _raw_glob(pattern: str, config: Path) -> Pattern:
    """A glob of an unvalidated sealer.yaml: one that cannot be matched in bounded time is an
    error naming the file, not a rule silently skipped (its settings may be require_signature)."""
    try:
        return _glob(pattern)
    except ConfigError as exc:
        raise ConfigError(f"creation rule path: {exc.message}", file=str(config),
                          hint=exc.hint) from None


def expand_groups(names: Any, groups: Any, seen: tuple[str, ...] = ()) -> list[str]:
    """Principal names for a raw (unvalidated) list of principals and groups; groups nest,
    loops and non-lists are ignored (validation reports them)."""
    out: list[str] = []
    for name in names if isinstance(names, list) else []:
        member = groups.get(name) if isinstance(groups, dict) else None
        if isinstance(member, list) and name not in seen:
            out += expand_groups(member, groups, (*seen, name))
        else:
            out.append(str(name))
    return list(dict.fromkeys(out))


def required_signer_keys(settings: dict[str, Any]) -> tuple[set[str], list[str]]:
    """(canonical keys, names) of the signers an environment's raw settings list
    (environment_settings), groups expanded; names whose key is not an SSH key are dropped
    from the keys."""
    from .keys import parse_recipient

    principals = settings.get("_principals") or {}
    names = expand_groups(settings.get("signers") or [], settings.get("_groups") or {})
    allowed = set()
    for name in names:
        try:
            allowed.add(parse_recipient(str(principals.get(name, ""))).text)
        except SealerError:
            continue
    return allowed, names
