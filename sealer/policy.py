"""Policy rules over one sealed file, checked without any key (docs/CONFIG.md, "Rules").

Each rule yields findings; `check.py` decides severity from the config and reports them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Any, NamedTuple

from .config import DEFAULT_SECRET_PATTERNS, Config, Environment, Rule
from .document import SealedDocument
from .paths import Path, format_path, get, leaves, parse_path
from .times import parse_interval, parse_time

__all__ = ["RULES", "Finding", "Subject", "Violation", "config_rules", "file_rules",
           "recipient_violations"]

# rule id -> (default severity, what it checks)
RULES: dict[str, tuple[str, str]] = {
    "sealed-structure": ("error", "the sealed file is well-formed (and authentic, with a key)"),
    "unmatched-file": ("warn", "a creation rule in sealer.yaml covers the file"),
    "recipient-not-allowed": ("error", "every recipient is allowed for the file's environment"),
    "recipient-not-post-quantum": ("error", "every recipient is a post-quantum key where the "
                                            "environment sets require_post_quantum"),
    "recipient-missing": ("error", "every principal the environment requires is a recipient"),
    "key-groups": ("error", "the file has the key groups and threshold its environment's "
                            "key_groups require"),
    "schema-unknown": ("error", "the schemas the file names exist"),
    "schema-mismatch": ("error", "keys and types match the schema (no key needed)"),
    "schema-values": ("error", "values match the schema (needs a key: check --decrypt)"),
    "file-name": ("error", "the file name follows policy.file_name"),
    "key-name": ("error", "key names follow policy.key_name"),
    "metadata-missing": ("error", "the metadata policy.required_metadata lists is present"),
    "secret-in-clear": ("error", "no key that looks secret is left in clear"),
    "rotation-overdue": ("error", "no secret is older than its environment's max_rotation_age"),
    "rollback": ("error", "a staged sealed file's serial does not go down (check --staged)"),
    "file-replaced": ("error", "a staged sealed file keeps its file id (check --staged)"),
    "plaintext-secret": ("error", "no plaintext file where a creation rule expects a sealed one"),
    "leaked-secret": ("error", "no private key or well-known token in any staged file"),
    "signature-missing": ("error", "a file whose environment has require_signature is signed"),
    "signature-invalid": ("error", "every signature verifies over the file's content"),
    "signature-untrusted": ("error", "every signature is by one of the environment's signers"),
    "signers-changed": ("error", "a change to an environment's signers is reviewed "
                                 "(check --staged)"),
    "data-key-changed": ("error", "a sealed file's data key does not change without a signature "
                                  "by an accepted signer (check --staged / --base)"),
    "access-changed": ("error", "a change to who may read an environment, or who must, is "
                                "reviewed (check --staged)"),
    "signature-not-required": ("warn", "every environment requires signatures (otherwise "
                                       "anyone with its public keys can forge its files)"),
}


class Finding(NamedTuple):
    rule: str
    severity: str  # "error" | "warn"
    file: str
    line: int
    path: str | None  # key path inside the file's data, when there is one
    message: str
    hint: str | None = None


class Subject(NamedTuple):
    """What the rules look at: the document, its lines, and what sealer.yaml says about it."""

    file: FsPath
    document: SealedDocument
    raw: bytes  # the file's bytes: lines are worked out only when a finding needs one
    lines: dict[tuple[Any, ...], int]
    config: Config | None
    rule: Rule | None
    now: datetime

    @property
    def environment(self) -> Environment | None:
        if self.config is None or self.rule is None:
            return None
        return self.config.environments[self.rule.environment]

    def line(self, *where: Any) -> int:
        if not self.lines:
            from .yamlio import load_with_lines

            self.lines.update(load_with_lines(self.raw, source=str(self.file))[1])
        key = tuple(where)
        while key and key not in self.lines:
            key = key[:-1]
        return self.lines.get(key, 1)

    def finding(self, rule: str, message: str, *, path: Path | None = None,
                where: tuple[Any, ...] | None = None, hint: str | None = None) -> Finding:
        line = self.line(*(where if where is not None else ("data", *(path or ()))))
        return Finding(rule, RULES[rule][0], str(self.file), line,
                       format_path(path) if path else None, message, hint)

    def policy(self, name: str, default: Any = None) -> Any:
        return self.config.policy.get(name, default) if self.config else default


def config_rules(config: Config) -> Iterator[Finding]:
    """Findings about a sealer.yaml itself (reported once per check run)."""
    for name, env in config.environments.items():
        if not env.require_signature:
            line = config.lines.get(("environments", name)) or 1
            yield Finding("signature-not-required", RULES["signature-not-required"][0],
                          str(config.path), line, None,
                          f"environment {name!r} does not require signatures: anyone with its "
                          "public keys can write a file its readers accept (values, "
                          "recipients, rotation settings)",
                          "add signers: and require_signature: true to it (`sealer init` sets "
                          "this up; `sealer keygen --signing` makes a key)")


def file_rules(subject: Subject) -> Iterator[Finding]:
    for rule in (_unmatched, _access, _file_name, _key_names, _required_metadata,
                 _secrets_in_clear, _rotation, _signatures):
        yield from rule(subject)


def _unmatched(s: Subject) -> Iterator[Finding]:
    if s.config is not None and s.rule is None:
        yield s.finding("unmatched-file", "no creation rule in sealer.yaml matches this file",
                        where=("sealer",), hint=f"add a creation rule to {s.config.path}")


class Violation(NamedTuple):
    """A recipient list breaking its environment's access rules (check and the write gate)."""

    rule: str
    position: int | None  # in the recipient list, when one recipient is at fault
    message: str
    hint: str


def recipient_violations(config: Config, env: Environment, recipients: Sequence[str],
                         file: str = "FILE") -> list[Violation]:
    """Recipients not allowed, not post-quantum where required, and required ones missing."""
    out: list[Violation] = []
    present: set[str] = set()
    for index, recipient in enumerate(recipients):
        name = config.principal_for(recipient)
        if name is not None:
            present.add(name)
        if name is None or name not in env.allowed:
            who = f"principal {name!r}" if name else f"unknown key {_short(recipient)}"
            out.append(Violation("recipient-not-allowed", index,
                                 f"{who} may not decrypt {env.name} secrets",
                                 f"remove it: sealer recipients remove {file} -r "
                                 f"{name or recipient.split(' ')[0][:12] + '…'}"))
    for index, recipient in enumerate(recipients):
        if env.require_post_quantum and not recipient.startswith("age1pq1"):
            out.append(Violation("recipient-not-post-quantum", index,
                                 f"{_short(recipient)} is a classical key; {env.name} requires "
                                 "post-quantum recipients",
                                 "re-seal for age1pq1… keys only (sealer keygen --pq): "
                                 f"sealer unseal {file} | sealer seal - -o {file} "
                                 "-R pq-recipients.txt"))
    for name in sorted(env.required - present):
        out.append(Violation("recipient-missing", None,
                             f"not sealed for {name!r}, which {env.name} requires",
                             f"sealer recipients add {file} -r {name}"))
    return out


def group_violations(config: Config, env: Environment, threshold: int | None,
                     groups: Sequence[Sequence[str]], file: str = "FILE") -> list[Violation]:
    """A file (its threshold, None without key groups, and each group's recipients) that does
    not have the key groups its environment requires: exactly those groups (compared by
    principal), and at least that threshold. Keyless: `check` and the write gate."""
    if env.threshold is None:
        return []
    want = sorted(sorted(g) for g in env.key_groups)
    have = sorted(sorted(config.principal_for(r) or _short(r) for r in g) for g in groups)
    need = (f"{env.threshold} of {len(want)} key groups: "
            + "; ".join(", ".join(g) for g in env.key_groups))
    if threshold is None:
        message = f"not sealed with key groups; {env.name} requires {need}"
    elif threshold < env.threshold or have != want:
        shown = "; ".join(", ".join(config.principal_for(r) or _short(r) for r in g)
                          for g in groups)
        message = (f"sealed for {threshold} of {len(groups)} key groups ({shown}); {env.name} "
                   f"requires {need}")
    else:
        return []
    flags = " ".join(f"--group {','.join(g)}" for g in env.key_groups)
    return [Violation("key-groups", None, message,
                      f"sealer unseal {file} | sealer seal - -o {file} {flags} "
                      f"--threshold {env.threshold}")]


def document_groups(doc: SealedDocument) -> list[list[str]]:
    """Each key group's recipients (none in a file without groups)."""
    from .document import group_count

    return [[w.recipient for w in doc.recipients if w.group == g]
            for g in range(1, group_count(doc) + 1)]


def _access(s: Subject) -> Iterator[Finding]:
    env = s.environment
    if env is None or s.config is None:
        return
    recipients = [w.recipient for w in s.document.recipients]
    for v in recipient_violations(s.config, env, recipients, str(s.file)):
        where = ("recipients", v.position) if v.position is not None else ("recipients",)
        yield s.finding(v.rule, v.message, where=where, hint=v.hint)
    for v in group_violations(s.config, env, s.document.header.threshold,
                              document_groups(s.document), str(s.file)):
        yield s.finding(v.rule, v.message, where=("sealer",), hint=v.hint)


def _short(recipient: str) -> str:
    return recipient[:20] + "…" if len(recipient) > 21 else recipient


def _file_name(s: Subject) -> Iterator[Finding]:
    pattern = s.config.policy_pattern("file_name") if s.config else None
    if pattern is not None and not pattern.search(s.file.name):
        yield s.finding("file-name", f"file name does not match {s.policy('file_name')!r}",
                        where=("sealer",))


def _key_names(s: Subject) -> Iterator[Finding]:
    pattern = s.config.policy_pattern("key_name") if s.config else None
    if pattern is None:
        return
    for path in _key_paths(s.document.data, ()):
        if not pattern.search(str(path[-1])):
            yield s.finding("key-name", f"key name does not match {s.policy('key_name')!r}",
                            path=path)


def _key_paths(node: Any, prefix: Path) -> Iterator[Path]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _key_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _key_paths(value, (*prefix, index))


def _required_metadata(s: Subject) -> Iterator[Finding]:
    for field in s.policy("required_metadata", []):
        if s.document.metadata.get(field) in (None, "", [], {}):
            yield s.finding("metadata-missing", f"metadata has no {field!r}",
                            where=("metadata",),
                            hint=f"add it under the `sealer:` block with `sealer edit {s.file}`")


def _secrets_in_clear(s: Subject) -> Iterator[Finding]:
    rule = s.document.clear_rule
    if not rule.active:
        return
    patterns = s.config.secret_patterns() if s.config else DEFAULT_SECRET_PATTERNS
    for path, _value in leaves(s.document.data):
        if rule.is_clear(path) and _looks_secret(path, patterns):
            yield s.finding("secret-in-clear", "looks like a secret but is kept in clear",
                            path=path, hint="narrow metadata.clear so this key is encrypted")


def _looks_secret(path: Path, patterns: tuple[str, ...]) -> bool:
    names = [p.lower() for p in path if isinstance(p, str)]
    return any(pattern in name for name in names for pattern in patterns)


def _rotation(s: Subject) -> Iterator[Finding]:
    env = s.environment
    if env is None or env.max_rotation_age is None:
        return
    limit = parse_interval(env.max_rotation_age, what="max_rotation_age")
    for path, rotated in _rotation_dates(s.document):
        if s.now - rotated > limit:
            days = (s.now - rotated).days
            yield s.finding("rotation-overdue",
                            f"last rotated {days} days ago; {env.name} allows "
                            f"{env.max_rotation_age}", path=path or None,
                            where=None if path else ("sealer",),
                            hint=f"sealer rotate {s.file}" + (f" {format_path(path)}"
                                                              if path else ""))


def _rotation_dates(doc: SealedDocument) -> Iterator[tuple[Path, datetime]]:
    """Each rotated key's rotated_at; the file's own date for everything else."""
    covered = False
    for text, entry in (doc.metadata.get("keys") or {}).items():
        stamp = (entry.get("rotation") or {}).get("rotated_at") if isinstance(entry, dict) else None
        if isinstance(stamp, str) and (when := parse_time(stamp)) is not None:
            covered = True
            yield parse_path(text), when
    file_level = (doc.metadata.get("rotation") or {}).get("rotated_at")
    when = parse_time(file_level) if isinstance(file_level, str) else None
    if when is not None or not covered:
        yield (), when or parse_time(doc.header.created) or datetime.now(UTC)


def subtree(data: dict[str, Any], path: Path) -> Any:
    return get(data, path) if path else data


def _signatures(s: Subject) -> Iterator[Finding]:
    env = s.environment
    if not s.document.signatures and not (env is not None and env.require_signature):
        return  # nothing to verify: the signing code is not even imported
    from .signing import SignatureError, signer_of

    expected = _expected_signers(s)
    for index, entry in enumerate(s.document.signatures):
        try:
            key = signer_of(s.document, entry)
        except SignatureError:
            yield s.finding("signature-invalid", f"the signature by {_short(entry.signer)} does "
                            "not verify: the signed content changed or it is damaged",
                            where=("signatures", index),
                            hint=f"re-sign: SEALER_SIGNING_KEY=KEY sealer rekey {s.file}")
            continue
        if env is not None and env.signers and key not in expected:
            yield s.finding("signature-untrusted", f"signed by {_signer_name(s, key)}, which "
                            f"may not sign {env.name} secrets (signers: {', '.join(env.signers)})",
                            where=("signatures", index),
                            hint="re-sign with a signer's key, or add the key to signers")
    if env is not None and env.require_signature and not s.document.signatures:
        yield s.finding("signature-missing", f"{env.name} requires a signature by one of: "
                        f"{', '.join(env.signers) or '(no signers configured)'}",
                        where=("sealer",),
                        hint=f"sign it: SEALER_SIGNING_KEY=~/.ssh/id_ed25519 sealer rekey {s.file}")


def signed_by_expected(s: Subject) -> bool:
    """Whether the file carries a valid signature by one of its environment's signers."""
    expected = _expected_signers(s)
    if not expected or not s.document.signatures:
        return False
    from .signing import valid_signers

    return any(key in expected for key in valid_signers(s.document)[0])


def _expected_signers(s: Subject) -> set[str]:
    from .signing import canonical_key

    env = s.environment
    if env is None or s.config is None:
        return set()
    keys = (canonical_key(s.config.principals[name]) for name in env.signers)
    return {k for k in keys if k is not None}


def _signer_name(s: Subject, key: str) -> str:
    from .signing import canonical_key

    for name, text in (s.config.principals.items() if s.config else ()):
        if canonical_key(text) == key:
            return f"principal {name!r}"
    return f"unknown key {_short(key)}"
