"""Access maps and access diffs (sealer.accessmap) as text, JSON, SARIF and Markdown (the
HTML report is sealer.accesshtml).

Everything shown comes from a repository, so every name and path is escaped for where it goes:
`printable` on a terminal, Markdown escaping in a pull-request comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from .accessmap import (
    CHANGE_KINDS,
    NO_ENVIRONMENT,
    AccessChange,
    AccessDiff,
    AccessMap,
    FileAccess,
)
from .printable import printable

__all__ = ["DIFF_FORMATS", "MAP_FORMATS", "markdown_escape", "render_diff", "render_map"]

MAP_FORMATS = ("text", "json")
DIFF_FORMATS = ("text", "json", "sarif", "markdown")


def _list(names: Sequence[str]) -> str:
    return ", ".join(names) or "(nobody)"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- the access map ---------------------------------------------------------------------------


def render_map(access: AccessMap, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(access.as_json(), indent=2, ensure_ascii=False) + "\n"
    lines: list[str] = []
    for env in access.environments:
        files = [f for f in access.files if f.environment == env.name
                 and (env.name == NO_ENVIRONMENT or f.config == env.config)]
        where = f" ({env.config})" if env.config else ""
        lines.append(f"environment {env.name}{where}: {_plural(env.files, 'sealed file')}")
        if env.name != NO_ENVIRONMENT:
            lines.append(f"  must read: {_list(env.required)}")
            signature = "required" if env.signature_required else "not required"
            lines.append(f"  may sign:  {_list(env.signers)} (signature {signature})")
        for f in files:
            lines += _file_lines(f)
        lines.append(f"  can read:  {_list(env.readers)} ({_plural(len(env.readers), 'reader')})")
    people = access.principals()
    named = sum(e.name != NO_ENVIRONMENT for e in access.environments)
    lines.append(f"{_plural(len(access.files), 'sealed file')}, "
                 f"{_plural(named, 'environment')}, "
                 f"{_plural(len(people), 'reader')}: {_list(people)}")
    return "".join(printable(line) + "\n" for line in lines)


def _file_lines(f: FileAccess) -> list[str]:
    lines = [f"  {f.file}"]
    if f.problem:
        return [*lines, f"    unreadable: {f.problem}"]
    if f.threshold is not None:
        groups = " ".join(f"[{', '.join(g)}]" for g in f.groups)
        lines.append(f"    read:    any {f.threshold} of these {len(f.groups)} key groups "
                     f"together: {groups}")
    else:
        lines.append(f"    read:    {_list(f.can_read)}")
    if f.missing:
        lines.append(f"    missing: {_list(f.missing)} (required, not a recipient)")
    if f.signed_by or f.signature_required:
        state = ""
        if f.signers or f.signature_required:
            state = " (accepted)" if f.accepted else " (not by an accepted signer)"
        lines.append(f"    signed:  {_list(f.signed_by)}{state}")
    return lines


# -- the access diff --------------------------------------------------------------------------


def render_diff(diff: AccessDiff, fmt: str, *, root: Path | None = None) -> str:
    if fmt == "json":
        return json.dumps(diff.as_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "sarif":
        return _sarif(diff, root or Path("."))
    if fmt == "markdown":
        return _markdown(diff)
    lines = [f"access {diff.base}..{diff.head}: {_plural(len(diff.changes), 'change')}"]
    for c in diff.changes:
        lines.append(f"  {c.environment}: {_sentence(c)}")
        if c.kind.startswith("read-"):
            lines += [f"    {path}" for path in c.paths]
    return "".join(printable(line) + "\n" for line in lines)


def _sentence(c: AccessChange, quote: Callable[[str], str] = str) -> str:
    what = CHANGE_KINDS[c.kind]
    if c.kind.startswith("read-"):
        return (f"{quote(c.principal)} {what} on {_plural(len(c.paths), 'secret file')} "
                f"of {quote(c.environment)}")
    if not c.principal:
        return f"{quote(c.environment)} {what}"
    return f"{quote(c.principal)} {what} for {quote(c.environment)}"


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")


def markdown_escape(text: str) -> str:
    """Repository text as literal Markdown: control characters escaped, every character
    Markdown gives a meaning backslash-escaped, so a name cannot be a link, an image, HTML or
    a mention's formatting."""
    return _MARKDOWN.sub(r"\\\1", printable(text)).replace("@", "@\u200b")


def _markdown(diff: AccessDiff) -> str:
    head = (f"### sealer: access changes {markdown_escape(diff.base)}.."
            f"{markdown_escape(diff.head)}\n\n")
    if not diff.changes:
        return head + "No change in who can read, who must read or who may sign.\n"
    gains = sum(c.kind == "read-gain" for c in diff.changes)
    lines = [head + f"{_plural(len(diff.changes), 'change')}"
             + (f", **{_plural(gains, 'read gain')}**" if gains else "") + "\n",
             "| environment | change | files |", "|---|---|---|"]
    for c in diff.changes:
        files = "<br>".join(markdown_escape(p) for p in c.paths[:20])
        if len(c.paths) > 20:
            files += f"<br>… and {len(c.paths) - 20} more"
        lines.append(f"| {markdown_escape(c.environment)} | {_sentence(c, markdown_escape)} "
                     f"| {files} |")
    return "\n".join(lines) + "\n"


def _sarif(diff: AccessDiff, root: Path) -> str:
    """As `check --format sarif` reports findings (report.render_findings): read and required
    changes under the rule access-changed, signer changes under signers-changed."""
    from .policy import RULES, Finding
    from .report import render_findings

    findings = []
    for c in diff.changes:
        rule = "signers-changed" if c.kind.startswith(("sign", "signature")) else "access-changed"
        severity = "error" if c.kind in ("read-gain", "sign-gain", "required-removed",
                                         "signature-not-required") else "warn"
        message = f"{_sentence(c)} ({diff.base}..{diff.head})"
        for path in c.paths or ("sealer.yaml",):
            findings.append(Finding(rule, severity, str(root / path), 1, None, message,
                                    "who may read or sign is a security decision: review it"))
    assert all(f.rule in RULES for f in findings)
    return render_findings(findings, "sarif", checked=len(findings))
