"""`sealer report`: the self-contained HTML page (access matrix, environments, rotation
calendar), checked in its text and in a real browser — headless Chromium with JavaScript
disabled loads it, the test reads the rendered DOM for the expected cells, and a screenshot is
taken (kept in the test's tmp dir)."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cli_helpers import run
from conftest import require_tool
from git_helpers import git
from hook_helpers import new_repository
from sealing import forge, new_identity

from sealer.accesshtml import report_html
from sealer.files import seal_file
from sealer.rotation.protocol import configure_rotation, rotate

ALICE, ALICE_R = new_identity()
BOB, BOB_R = new_identity()
CI, CI_R = new_identity()
EVE, EVE_R = new_identity()

CONFIG = f"""\
version: 1
principals:
  alice: {ALICE_R.text}
  bob: {BOB_R.text}
  ci: {CI_R.text}
environments:
  prod:
    recipients: [alice, ci]
    allow: [bob]
    require: [ci]
  dev:
    recipients: [alice, bob]
creation_rules:
  - path: secrets/prod/**
    environment: prod
  - path: secrets/dev/**
    environment: dev
policy:
  rules:
    signature-not-required: "off"
"""
HOSTILE = "secrets/dev/<img src=x onerror=alert(1)>&amp.sealed.yaml"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """prod: db (alice, ci; bob required, missing); dev: a token rotated 60 days before NOW
    every 30 days (overdue), a key rotated 10 days before (ok), and a file with a name made to
    be HTML, sealed for bob and an unknown key."""
    repo = new_repository(tmp_path / "repo")
    (repo / "sealer.yaml").write_text(CONFIG)
    for name, text, who in (("secrets/prod/db.sealed.yaml", "password: p1\n", [ALICE_R, CI_R]),
                            ("secrets/dev/api.sealed.yaml", "token: t1\nkey: k1\n",
                             [ALICE_R, BOB_R])):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        seal_file(text.encode(), repo / name, source="t", recipients=who)
    api = repo / "secrets/dev/api.sealed.yaml"
    for key, ago in (("token", 60), ("key", 10)):
        configure_rotation(api, key, [ALICE], every="30d")
        rotate(api, key, [ALICE], now=NOW - timedelta(days=ago))
    forge(repo / HOSTILE, {"k": "v"}, [BOB_R.text, EVE_R.text])
    (repo / "sealer.yaml").write_text(CONFIG.replace("require: [ci]", "require: [ci, bob]"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "secrets")
    monkeypatch.chdir(repo)
    return repo


def test_the_page_escapes_every_repository_string_and_loads_nothing(repo: Path) -> None:
    html, count = report_html([repo], now=NOW)
    assert count == 3
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;&amp;amp.sealed" in html
    assert "<script" not in html.lower() and not re.search(r"<[^>]*\b(src|href)=", html)
    assert not re.search(r"https?://|//[a-z]", html)  # no network address at all
    assert "default-src 'none'" in html  # and the browser is told so


def test_report_command_writes_the_page(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run("report", "-o", out, cwd=repo)
    assert result.code == 0, result.err
    assert result.err == f"sealer: wrote {out}: 3 sealed files\n"
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert "sealer report" in run("report", "--help").out


class Tables(HTMLParser):
    """The rendered DOM's tables: id -> rows of (class of the row, [cell texts])."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[str, list[str]]]] = {}
        self.classes: dict[tuple[str, str], str] = {}  # (table, cell text) -> cell class
        self._table = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._cell_class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = []
            self.tables[self._table].append((found.get("class") or "", self._row))
        elif tag in ("td", "th"):
            self._cell, self._cell_class = [], found.get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    browser = require_tool("chromium")
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root otherwise
    return subprocess.run([browser, "--headless", "--disable-gpu", "--disable-javascript",
                           "--no-first-run", "--disable-extensions", *sandbox, *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_a_browser_without_javascript_shows_the_matrix_and_the_calendar(
        repo: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    html, _count = report_html([repo], now=NOW)
    page.write_text(html, encoding="utf-8")
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert "<img" not in dom  # the hostile name is text in the DOM too, not an element
    tables = Tables()
    tables.feed(dom)
    matrix = {row[0]: row[1:] for _css, row in tables.tables["matrix"][2:]}
    eve = next(name for name in matrix if name.startswith("unknown age:"))
    header = [cells for _css, cells in tables.tables["matrix"][:2]]
    assert header[0] == ["principal", "dev", "prod", "files readable"]
    assert header[1] == [HOSTILE, "secrets/dev/api.sealed.yaml", "secrets/prod/db.sealed.yaml"]
    assert list(matrix) == ["alice", "bob", "ci", eve, "readers"]  # sorted, unknown last
    assert matrix["alice"] == ["", "read", "read", "2"]
    assert matrix["bob"] == ["read", "read", "missing", "2"]
    assert matrix["ci"] == ["", "", "read", "1"]
    assert matrix[eve] == ["read", "", "", "1"]
    assert matrix["readers"] == ["2", "2", "2", ""]
    envs = {row[0]: row for _css, row in tables.tables["environments"][1:]}
    assert envs["prod"] == ["prod", "1", "2", "bob, ci", "—", "not required"]
    calendar = [(css, row) for css, row in tables.tables["calendar"][1:-1]]
    assert [(css, row[1], row[2], row[5]) for css, row in calendar] == [
        ("overdue", "secrets/dev/api.sealed.yaml", "token", "overdue"),
        ("ok", "secrets/dev/api.sealed.yaml", "key", "ok")]
    assert tables.tables["calendar"][-1][1] == ["2 rotated secrets, 1 due or overdue"]
    assert "tr.overdue td" in dom and "#b00000" in dom  # overdue rows are red

    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,900", page.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
