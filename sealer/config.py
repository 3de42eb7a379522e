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


class Rule(NamedTuple):
    """A creation rule: files matching `path` (a glob relative to the config) belong to it."""

    path: str
    environment: str
    schema: str | None
    clear: dict[str, str] | None

    def matches(self, relative: str) -> bool:
        return _glob(self.path).match(relative) is not None


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """`**/` matches any directories (also none), `**` anything, `*` and `?` within one segment."""
    out, i = [], 0
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
    return re.compile("".join(out) + r"\Z", re.DOTALL)


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
        if required - allowed:
            raise self.error((*where, "require"), "a required principal is not allowed: "
                             + ", ".join(sorted(required - allowed)),
                             hint="add it to recipients or allow")
        signers = self.expand(env.get("signers", []), (*where, "signers"))
        self._interval(env.get("max_rotation_age"), (*where, "max_rotation_age"))
        return Environment(name, tuple(recipients), frozenset(allowed), frozenset(required),
                           env.get("max_rotation_age"), tuple(signers),
                           bool(env.get("require_signature", False)),
                           bool(env.get("require_post_quantum", False)))

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
        return Rule(raw["path"], raw["environment"], raw.get("schema"), raw.get("clear"))

    def matches(self, pattern: str, file: Path) -> bool:
        """Whether `file` matches a glob written relative to this config's directory."""
        relative = _relative(file, self.root)
        return relative is not None and _glob(pattern).match(relative) is not None

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
    """sealer.yaml in the directory of `start` or the nearest directory above it."""
    directory = start.absolute()
    directory = directory if directory.is_dir() else directory.parent
    for candidate in (directory, *directory.parents):
        path = candidate / CONFIG_NAME
        if path.is_file():
            return path.resolve()
    return None


def load_config(path: Path) -> Config:
    """Read and validate sealer.yaml; every problem is a ConfigError pointing at a line."""
    try:
        raw, lines = yamlio.load_with_lines(read_bytes(path), source=str(path))
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
    return config


def _validate(raw: dict[str, Any], lines: dict[tuple[Any, ...], int], path: Path) -> None:
    from .schemas import config_validator

    errors = sorted(config_validator().iter_errors(raw), key=lambda e: list(map(str, e.path)))
    if not errors:
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


def raw_config(file: Path) -> tuple[Path, dict[str, Any]] | None:
    """(path, parsed but unvalidated sealer.yaml) governing `file`, or None.

    For readers' hot path (audit settings, require_signature): one parse per process while the
    file is unchanged, and no JSON Schema; check and seal validate sealer.yaml fully. A broken
    sealer.yaml reads as none here and is reported by those commands.
    """
    path = find_config(file)
    if path is None:
        return None
    raw = _parsed(path, path.stat().st_mtime_ns)
    return (path, raw) if raw is not None else None


@lru_cache(maxsize=16)
def _parsed(path: Path, mtime_ns: int) -> dict[str, Any] | None:
    try:
        return parse_raw(read_bytes(path), source=str(path))
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


def environment_settings(file: Path) -> dict[str, Any]:
    """The raw settings of the environment whose creation rule covers `file` (unvalidated)."""
    found = raw_config(file)
    if found is None:
        return {}
    path, raw = found
    relative = _relative(file, path.parent.resolve())
    for rule in raw.get("creation_rules") or []:
        if (isinstance(rule, dict) and isinstance(rule.get("path"), str) and relative
                and _glob(rule["path"]).match(relative)):
            env = (raw.get("environments") or {}).get(rule.get("environment"))
            settings = dict(env) if isinstance(env, dict) else {}
            settings["_name"] = rule.get("environment")
            settings["_principals"] = raw.get("principals") or {}
            settings["_groups"] = raw.get("groups") or {}
            return settings
    return {}

