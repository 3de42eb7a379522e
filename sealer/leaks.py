"""The no-plaintext checks for commits: plaintext where a creation rule expects a sealed file,
and private keys or well-known tokens in any staged file.

Findings name the file, the line and the kind of secret — never the matched text. A line that
carries the marker `sealer-allow` is skipped, and so are files matching
`policy.allow_plaintext` globs in sealer.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from .config import CONFIG_NAME, Config, project_for
from .policy import RULES, Finding
from .sealedfiles import is_sealed_name

__all__ = ["PATTERNS", "scan_files"]

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


def scan_files(files: Sequence[Path], contents: dict[Path, bytes]) -> list[Finding]:
    """Findings for staged `files` whose index contents are in `contents`."""
    findings: list[Finding] = []
    for file in files:
        config = project_for(file)
        if _allowed(file, config):
            continue
        data = contents[file][:MAX_SCAN_BYTES]
        findings += _plaintext(file, data, config)
        if not is_sealed_name(file.name):
            findings += _tokens(file, data)
    return findings


def _allowed(file: Path, config: Config | None) -> bool:
    if config is None:
        return False
    globs = config.policy.get("allow_plaintext", [])
    return any(config.matches(pattern, file) for pattern in globs)


def _finding(rule: str, file: Path, line: int, message: str, hint: str) -> Finding:
    return Finding(rule, RULES[rule][0], str(file), line, None, message, hint)


def _plaintext(file: Path, data: bytes, config: Config | None) -> Iterator[Finding]:
    """A file a creation rule covers that is not a sealed file is a secret about to leak."""
    if config is None or file.name == CONFIG_NAME or config.rule_for(file) is None:
        return
    if is_sealed_name(file.name) and b"\nsealer:" in b"\n" + data[:4096]:
        return
    yield _finding("plaintext-secret", file, 1,
                   "a creation rule says files here are sealed, but this one is plaintext",
                   f"seal it: sealer seal {file} -o NAME.sealed.yaml, then `git rm --cached "
                   f"{file}`")


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
