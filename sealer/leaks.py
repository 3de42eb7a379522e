"""The no-plaintext checks for commits: sealer's own plaintext outputs (env-style files with
its "do not commit" banner, Kubernetes Secrets with its annotation), the plaintext YAML a sealed
file beside it was sealed from, plaintext where a creation rule expects a sealed file, and
private keys or well-known tokens in any file.

Findings name the file, the line and the kind of secret — never the matched text. A line that
carries the marker `sealer-allow` is skipped, and so are files matching
`policy.allow_plaintext` globs in sealer.yaml.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .config import CONFIG_NAME, Config, project_for
from .document import looks_sealed
from .errors import SealerError
from .fsio import read_bytes
from .policy import RULES, Finding
from .render.banner import BANNER_PREFIX, BANNER_WARNING
from .sealedfiles import is_sealed_name, is_yaml_name, sealed_forms

__all__ = ["PATTERNS", "read_head", "scan_files"]

ALLOW_MARKER = "sealer-allow"
MAX_SCAN_BYTES = 5 * 1024 * 1024
PATTERNS: dict[str, re.Pattern[bytes]] = {
    "a PEM private key": re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    "an age secret key": re.compile(rb"AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]{40,}"),
    "an AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    "a Slack token": re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "a Slack webhook": re.compile(rb"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    "a Stripe live key": re.compile(rb"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}"),
    "a Google API key": re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b"),
}
# The first line of what `render -f dotenv|shell|systemd` writes (render.flatten.banner; a
# test renders real files to hold the two together).
RENDERED_BANNER = re.compile(re.escape(BANNER_PREFIX.encode()) + rb"[^\n]*"
                             + re.escape(BANNER_WARNING.encode()))
_SECRET_KIND = re.compile(rb"^kind:[ \t]*[\"']?Secret[\"']?[ \t\r]*$", re.MULTILINE)
_OUTPUT_HINT = ("a rendered output is plaintext: remove it from the commit (git rm --cached "
                 "FILE), add it to .gitignore, and render where it is used (sealer render)")


def scan_files(files: Sequence[Path], content: Callable[[Path], bytes]) -> list[Finding]:
    """Findings for `files`, read by `content` (the index's version, or `read_head`)."""
    findings: list[Finding] = []
    for file in files:
        config = project_for(file)
        if _allowed(file, config):
            continue
        data = content(file)[:MAX_SCAN_BYTES]
        findings += _plaintext(file, data, config)
        if not is_sealed_name(file.name):
            findings += _tokens(file, data)
    return findings


def read_head(file: Path) -> bytes:
    """What git would commit of a working-tree file, up to the scan limit: a symlink's target
    path (never the file it leads to), nothing for what is not a regular readable file."""
    try:
        if file.is_symlink():
            return os.fsencode(os.readlink(file))
        if not file.is_file():
            return b""
        with open(file, "rb") as fh:
            return fh.read(MAX_SCAN_BYTES)
    except OSError:
        return b""


def _allowed(file: Path, config: Config | None) -> bool:
    if config is None:
        return False
    globs = config.policy.get("allow_plaintext", [])
    return any(config.matches(pattern, file) for pattern in globs)


def _finding(rule: str, file: Path, line: int, message: str, hint: str) -> Finding:
    return Finding(rule, RULES[rule][0], str(file), line, None, message, hint)


def _plaintext(file: Path, data: bytes, config: Config | None) -> Iterator[Finding]:
    """At most one finding for a plaintext file that holds secrets: one of sealer's outputs,
    the plaintext a sealed file beside it was sealed from, or a file a creation rule covers."""
    if is_sealed_name(file.name) and b"\nsealer:" in b"\n" + data[:4096]:
        return
    found = _rendered(file, data) or _sealed_source(file, data)
    if found is not None:
        yield found
        return
    if config is None or file.name == CONFIG_NAME or config.rule_for(file) is None:
        return
    yield _finding("plaintext-secret", file, 1,
                   "a creation rule says files here are sealed, but this one is plaintext",
                   f"seal it: sealer seal {file} -o NAME.sealed.yaml, then `git rm --cached "
                   f"{file}`")


def _rendered(file: Path, data: bytes) -> Finding | None:
    """sealer's own plaintext outputs: an env-style file opening with render's banner, or a
    Kubernetes Secret carrying render's content digest annotation."""
    if RENDERED_BANNER.match(data):
        return _finding("plaintext-secret", file, 1, "a file rendered by sealer (its first "
                        "line says: do not commit) holds plaintext secrets", _OUTPUT_HINT)
    if not is_yaml_name(file.name) or _SECRET_KIND.search(data) is None:
        return None
    from .render.kubernetes import DIGEST_ANNOTATION  # only for a YAML Secret: keys, pyrage

    quoted = re.escape(DIGEST_ANNOTATION.encode())
    mark = re.search(rb"^[ \t]+[\"']?" + quoted + rb"[\"']?[ \t]*:", data, re.MULTILINE)
    if mark is None:
        return None
    return _finding("plaintext-secret", file, data.count(b"\n", 0, mark.start()) + 1,
                    f"a Kubernetes Secret rendered by sealer (annotation {DIGEST_ANNOTATION}) "
                    "holds plaintext secrets", _OUTPUT_HINT)


def _sealed_source(file: Path, data: bytes) -> Finding | None:
    """`app.yaml` beside `app.sealed.yaml`, a YAML mapping sharing keys with it (or beside a
    sealed file that cannot be read): the plaintext `sealer seal app.yaml` read."""
    if file.name == CONFIG_NAME:
        return None
    sealed = next((p for p in sealed_forms(file) if p.is_file()), None)
    if sealed is None:
        return None
    plain = _mapping(file, data)
    if plain is None or looks_sealed(plain):
        return None
    tree = None if sealed.is_symlink() else _mapping(sealed, None)  # never read through a link
    data_keys = tree.get("data") if tree is not None else None
    keys = set(data_keys) if isinstance(data_keys, dict) else set(plain)  # unreadable: by name
    if not (set(plain) & keys) - {"sealer"}:
        return None
    return _finding("plaintext-secret", file, 1,
                    f"the plaintext {sealed.name} was sealed from: its keys are in clear here",
                    f"remove it from the commit (git rm --cached {file}) and delete it: "
                    f"{sealed.name} holds the secrets, `sealer edit` changes them")


def _mapping(file: Path, data: bytes | None) -> dict[Any, Any] | None:
    """`data` (else the file, bounded) as a YAML mapping; None when it is not one."""
    from . import yamlio

    try:
        if data is None:
            data = read_bytes(file, limit=yamlio.MAX_BYTES)
        tree = yamlio.load(data, source=str(file))
    except SealerError:
        return None
    return tree if isinstance(tree, dict) else None


def _tokens(file: Path, data: bytes) -> Iterator[Finding]:
    if b"\0" in data[:8192]:
        return  # binary files are not scanned
    for number, line in enumerate(data.splitlines(), start=1):
        if ALLOW_MARKER.encode() in line:
            continue
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                yield _finding("leaked-secret", file, number, f"looks like {kind}",
                               "remove it from the commit (git restore --staged FILE) and seal "
                               "it; mark a false positive with a `sealer-allow` comment")
                break
