"""Findings as text, JSON, SARIF 2.1.0 (code scanning) or GitHub Actions annotations."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .policy import RULES, Finding

__all__ = ["FORMATS", "render_findings"]

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render_findings(findings: Sequence[Finding], fmt: str, *, checked: int,
                    noun: str = "sealed file") -> str:
    """Findings as `fmt`. SARIF and GitHub annotations name files relative to the repository's
    root (the git top level of the current directory, else the current directory), which is
    where code scanning and the Actions runner look for them."""
    if fmt == "text":
        return _text(findings, checked, noun)
    if fmt == "json":
        return _json(findings, checked)
    return {"sarif": _sarif, "github": _github}[fmt](findings, _root())


def _root() -> Path:
    """The top of the git work tree holding the current directory; the directory itself
    outside one (or without git)."""
    from .errors import SealerError
    from .git import repository_root

    cwd = Path.cwd()
    try:
        return repository_root(cwd).resolve()
    except SealerError:
        return cwd.resolve()


def _relative(file: str, root: Path) -> str | None:
    """`file` relative to `root`, with `/`; None if it is not under it. Only the directories
    are resolved (git reports the top level that way), not a symbolic link named as the file."""
    path = Path(os.path.abspath(file))
    try:
        return (path.parent.resolve() / path.name).relative_to(root).as_posix()
    except ValueError:
        return None


def _where(f: Finding) -> str:
    return f"{f.file}:{f.line}"


def _text(findings: Sequence[Finding], checked: int, noun: str) -> str:
    from .printable import printable

    lines = []
    for f in findings:
        at = f" {f.path}:" if f.path else ""
        lines.append(printable(f"{_where(f)}: {f.severity}: [{f.rule}]{at} {f.message}"))
        if f.hint:
            lines.append(printable(f"  hint: {f.hint}"))
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    lines.append(f"{checked} {noun}{'s' if checked != 1 else ''} checked: "
                 f"{errors} error{'s' if errors != 1 else ''}, "
                 f"{warnings} warning{'s' if warnings != 1 else ''}")
    return "\n".join(lines) + "\n"


def _json(findings: Sequence[Finding], checked: int) -> str:
    return json.dumps({"checked": checked, "findings": [f._asdict() for f in findings]},
                      indent=2, ensure_ascii=False) + "\n"


def _uri(file: str, root: Path) -> str:
    from urllib.parse import quote

    relative = _relative(file, root)
    if relative is None:
        return Path(os.path.abspath(file)).as_uri()
    return quote(relative)  # a URI reference: percent-encoded, `/` kept


def _sarif(findings: Sequence[Finding], root: Path) -> str:
    rules = [{"id": rule, "shortDescription": {"text": text},
              "defaultConfiguration": {"level": _level(level)}}
             for rule, (level, text) in RULES.items()]
    results = [{
        "ruleId": f.rule,
        "ruleIndex": list(RULES).index(f.rule),
        "level": _level(f.severity),
        "message": {"text": (f"{f.path}: " if f.path else "") + f.message
                    + (f" (hint: {f.hint})" if f.hint else "")},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": _uri(f.file, root)},
            "region": {"startLine": f.line}}}],
    } for f in findings]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "sealer", "version": __version__, "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _level(severity: str) -> str:
    return "error" if severity == "error" else "warning"


def _escape(text: str, *, prop: bool = False) -> str:
    """GitHub workflow-command escaping (data: % CR LF; properties also : and ,)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _github(findings: Sequence[Finding], root: Path) -> str:
    from .printable import printable

    lines = []
    for f in findings:
        kind = "error" if f.severity == "error" else "warning"
        file = _relative(f.file, root) or f.file
        props = f"file={_escape(file, prop=True)},line={f.line}," \
                f"title={_escape('sealer ' + f.rule, prop=True)}"
        body = (f"{f.path}: " if f.path else "") + f.message + (f" (hint: {f.hint})"
                                                               if f.hint else "")
        lines.append(printable(f"::{kind} {props}::{_escape(body)}"))
    return "\n".join(lines) + ("\n" if lines else "")
