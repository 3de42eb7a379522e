"""`sealer report`: one self-contained HTML page, made without any key — the access matrix
(principals by environment and file, with totals) and the rotation calendar (last rotated,
next due, overdue in red; `rotation.versions.rotation_status`).

The page has no script and loads nothing (its Content-Security-Policy says so too): inline CSS
only, so it reads the same with JavaScript disabled, from a CI artifact or an e-mail. Every
string from the repository — principal names, paths, environments, key paths, dates — is HTML
escaped where it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from .accessmap import NO_ENVIRONMENT, AccessMap, FileAccess, access_map
from .fsio import atomic_write

if TYPE_CHECKING:
    from .exposure import ExposureReport
    from .rotation.versions import StatusRow

__all__ = ["page", "report_html", "write_report"]

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_LATE = ("overdue", "expired", "due")

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
thead th{background:#f2f2f2}
th.env{background:#e4ecf7;text-align:center}
td.read{background:#dff3df;text-align:center}
td.share{background:#fff4d6;text-align:center}
td.missing{background:#fbe3e3;color:#a00;text-align:center;font-weight:bold}
td.total,th.total{font-weight:bold;background:#fafafa}
tr.overdue td,tr.expired td{color:#b00000;font-weight:bold}
tr.due td{color:#b00000}
tr.soon td{color:#8a5a00}
.unknown{color:#a00}
.muted{color:#777}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _name(who: str) -> str:
    css = ' class="unknown"' if who.startswith("unknown ") else ""
    return f"<span{css}>{_e(who)}</span>"


def _group(files: Sequence[FileAccess]) -> list[tuple[str, list[FileAccess]]]:
    """Files by environment, in the map's order."""
    out: dict[str, list[FileAccess]] = {}
    for f in files:
        out.setdefault(f.environment, []).append(f)
    return list(out.items())


def _matrix(access: AccessMap) -> str:
    missing = {who for f in access.files for who in f.missing}
    people = sorted(set(access.principals()) | missing,
                    key=lambda n: (n.startswith("unknown "), n))
    groups = _group(access.files)
    head1 = "".join(f'<th class="env" colspan="{len(fs)}">{_e(env)}</th>' for env, fs in groups)
    head2 = "".join(f"<th>{_e(f.file)}</th>" for _, fs in groups for f in fs)
    rows = []
    for who in people:
        cells, count = [], 0
        for _, fs in groups:
            for f in fs:
                if who in f.can_read and f.threshold is not None and f.threshold > 1:
                    cells.append('<td class="share" title="holds one key group\'s share: '
                                 f'{f.threshold} groups together can read">share</td>')
                elif who in f.can_read:
                    count += 1
                    cells.append('<td class="read" title="can read">read</td>')
                elif who in f.missing:
                    cells.append('<td class="missing" title="required, not a recipient">'
                                 "missing</td>")
                else:
                    cells.append("<td></td>")
        rows.append(f"<tr><th>{_name(who)}</th>{''.join(cells)}"
                    f'<td class="total">{count}</td></tr>')
    totals = "".join(f'<td class="total">{len(f.can_read)}</td>' if not f.threshold or
                     f.threshold == 1 else f'<td class="total">{f.threshold} of {len(f.groups)} '
                     "groups</td>" for _, fs in groups for f in fs)
    return ('<table id="matrix"><thead>'
            f'<tr><th rowspan="2">principal</th>{head1}'
            '<th class="total" rowspan="2">files readable</th></tr>'
            f"<tr>{head2}</tr></thead><tbody>{''.join(rows)}</tbody>"
            f'<tfoot><tr><th class="total">readers</th>{totals}<td></td></tr></tfoot></table>')


def _environments(access: AccessMap) -> str:
    rows = []
    for env in access.environments:
        if env.name == NO_ENVIRONMENT:
            rows.append(f"<tr><td>{_e(env.name)}</td><td>{env.files}</td>"
                        f"<td>{len(env.readers)}</td><td colspan=\"3\" class=\"muted\">"
                        "no creation rule covers these files</td></tr>")
            continue
        signature = "required" if env.signature_required else "not required"
        rows.append(f"<tr><td>{_e(env.name)}</td><td>{env.files}</td><td>{len(env.readers)}</td>"
                    f"<td>{_e(', '.join(env.required) or '—')}</td>"
                    f"<td>{_e(', '.join(env.signers) or '—')}</td><td>{signature}</td></tr>")
    return ('<table id="environments"><thead><tr><th>environment</th><th>files</th>'
            "<th>readers</th><th>must read</th><th>may sign</th><th>signature</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _calendar(access: AccessMap, rotation: Sequence[StatusRow]) -> str:
    if not rotation:
        return '<p class="muted" id="calendar">No secret has rotation settings.</p>'
    environment = {f.file: f.environment for f in access.files}
    rows = []
    keyed = sorted(rotation, key=lambda r: (environment.get(r.file, NO_ENVIRONMENT), r.due or "~",
                                            r.file, r.key))
    for r in keyed:
        css = r.state if r.state in _LATE else "soon" if r.state == "due soon" else "ok"
        rows.append(f'<tr class="{css}"><td>{_e(environment.get(r.file, NO_ENVIRONMENT))}</td>'
                    f"<td>{_e(r.file)}</td><td>{_e(r.key)}</td>"
                    f"<td>{_e(r.rotated_at or '—')}</td><td>{_e(r.due or '—')}</td>"
                    f"<td>{_e(r.state)}</td></tr>")
    late = sum(r.state in _LATE for r in rotation)
    return ('<table id="calendar"><thead><tr><th>environment</th><th>file</th><th>key</th>'
            "<th>last rotated</th><th>next due</th><th>state</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody><tfoot><tr><td colspan=\"6\" class=\"total\">"
            f"{len(rotation)} rotated secret{'s' if len(rotation) != 1 else ''}, "
            f"{late} due or overdue</td></tr></tfoot></table>")


def _exposure(report: ExposureReport | None) -> str:
    if report is None:
        return ('<p class="muted" id="exposure">Not computed: it needs a key that opens the '
                "history (<code>sealer report --exposure</code>).</p>")
    if not report.exposures:
        return ('<p id="exposure">No current value is known to a former recipient '
                f"({report.versions} earlier version{'s' if report.versions != 1 else ''} "
                "opened).</p>")
    rows = "".join(f'<tr class="due"><td>{_e(e.file)}</td><td>{_e(e.key)}</td>'
                   f"<td>{_name(e.principal)}</td><td>{_e(e.since)}</td><td>{_e(e.date)}</td>"
                   "</tr>" for e in report.exposures)
    files = len({e.file for e in report.exposures})
    return ('<table id="exposure"><thead><tr><th>file</th><th>key</th><th>former recipient'
            "</th><th>since commit</th><th>date</th></tr></thead>"
            f"<tbody>{rows}</tbody><tfoot><tr><td colspan=\"5\" class=\"total\">"
            f"{len(report.exposures)} value{'s' if len(report.exposures) != 1 else ''} a "
            f"former recipient could know, in {files} file{'s' if files != 1 else ''}: "
            "rotate them (<code>sealer rotate --exposed</code>)</td></tr></tfoot></table>")


def page(access: AccessMap, rotation: Sequence[StatusRow], *, title: str,
         generated: str, exposure: ExposureReport | None = None) -> str:
    """The whole HTML document."""
    people = access.principals()
    summary = (f"{len(access.files)} sealed files, "
               f"{sum(e.name != NO_ENVIRONMENT for e in access.environments)} environments, "
               f"{len(people)} readers")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=\"muted\">Generated {_e(generated)} by sealer, "
            + ("with a key for the exposure list only. " if exposure is not None else
               "without any key. ")
            + f'<span id="summary">{_e(summary)}</span></p>'
            "<h2>Who can read what</h2>" + _matrix(access)
            + "<h2>Environments</h2>" + _environments(access)
            + "<h2>Rotation calendar</h2>" + _calendar(access, rotation)
            + "<h2>What former recipients could know</h2>" + _exposure(exposure)
            + "</body></html>\n")


def report_html(paths: Sequence[Path] = (), *, now: datetime | None = None,
                exposure: ExposureReport | None = None) -> tuple[str, int]:
    """(the page for the sealed files under `paths`, how many files it covers); `exposure`
    (sealer.exposure, which needs a key) adds its list."""
    from .accessmap import shown_name
    from .sealedfiles import sealed_files

    now = now or datetime.now(UTC)
    access = access_map(paths)
    rows = [r._replace(file=shown_name(Path(r.file)))
            for r in _rotation_rows(sealed_files(list(paths) or [Path(".")]), now)]
    text = page(access, rows, title="sealer access report",
                generated=now.strftime("%Y-%m-%d %H:%M UTC"), exposure=exposure)
    return text, len(access.files)


def _rotation_rows(files: Sequence[Path], now: datetime) -> list[StatusRow]:
    from .errors import SealerError
    from .rotation.versions import rotation_status

    rows: list[StatusRow] = []
    for file in files:
        try:
            rows += rotation_status([file], now=now)
        except SealerError:
            continue  # an unreadable file: the matrix says so
    return rows


def write_report(paths: Sequence[Path], output: Path, *, now: datetime | None = None,
                 exposure: ExposureReport | None = None) -> int:
    """Write the page to `output`; returns how many sealed files it covers."""
    text, count = report_html(paths, now=now, exposure=exposure)
    atomic_write(output, text.encode("utf-8"))  # the old page or the new one, never half
    return count
