"""`--format json` for `recipients list`, `versions` and `rotate --due`, as `rotation status`,
`history` and `audit show` have it: one JSON list of objects on stdout (notes stay on
stderr), `--format`/`-f` taking text or json. The real sealer process."""

from __future__ import annotations

import json
import re

import pytest
from cli_helpers import Demo

pytest_plugins = ["cli_fixtures"]

K = ("-i", "alice.key")
TRUST = {"SEALER_TRUST_UNSIGNED_ROTATORS": "1"}  # the demo file is unsigned
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def json_out(demo: Demo, *args: str, code: int = 0,
             env: dict[str, str] | None = None) -> list[dict[str, object]]:
    result = demo.run(*args, env=env)
    assert result.code == code, result.err
    rows: list[dict[str, object]] = json.loads(result.out)
    return rows


def test_recipients_list_json(demo: Demo) -> None:
    assert demo.run("recipients", "add", "app.sealed.yaml", "-r", demo.other_recipient,
                    *K).code == 0
    rows = json_out(demo, "recipients", "list", "app.sealed.yaml", "--format", "json")
    assert sorted(rows, key=str) == sorted(
        [{"file": "app.sealed.yaml", "recipient": demo.recipient},
         {"file": "app.sealed.yaml", "recipient": demo.other_recipient}], key=str)
    (demo.dir / "copy.sealed.yaml").write_bytes(demo.sealed.read_bytes())
    both = json_out(demo, "recipients", "list", "app.sealed.yaml", "copy.sealed.yaml", "-f",
                    "json")
    assert [r["file"] for r in both] == ["app.sealed.yaml"] * 2 + ["copy.sealed.yaml"] * 2
    text = demo.run("recipients", "list", "app.sealed.yaml")
    assert text.out == "".join(f"{r['recipient']}\n" for r in rows)  # the same, in order


def test_versions_json(demo: Demo) -> None:
    for key in ("api.token", "db.password"):
        assert demo.run("rotation", "configure", "app.sealed.yaml", key, "--every", "30d",
                        "--no-rotate-immediately", *K).code == 0
    assert demo.run("rotate", "app.sealed.yaml", "api.token", *K).code == 0
    rows = json_out(demo, "versions", "app.sealed.yaml", "--format", "json")
    assert [(r["key"], r["stages"]) for r in rows] == [
        ("api.token", ["CURRENT"]), ("api.token", ["PREVIOUS"]), ("db.password", ["CURRENT"])]
    assert len(str(rows[0]["id"])) == 36 and rows[1]["id"] == 1 == rows[2]["id"]  # a UUID; 1 first
    assert all(r["file"] == "app.sealed.yaml" for r in rows)
    assert STAMP.fullmatch(str(rows[0]["created"]))
    from sealer.document import read_sealed

    assert rows[2]["created"] == read_sealed(demo.sealed).header.created  # version 1: the file's
    one = json_out(demo, "versions", "app.sealed.yaml", "db.password", "-f", "json")
    assert one == [rows[2]]
    text = demo.run("versions", "app.sealed.yaml", "db.password")
    assert text.out == f"db.password\t1\tCURRENT\t{rows[2]['created']}\n"
    assert "c0rrect-horse" not in json.dumps(rows) + text.out


def test_rotate_due_json_reports_every_secret_with_its_result(demo: Demo) -> None:
    assert demo.run("rotation", "configure", "app.sealed.yaml", "api.token", "--every", "30d",
                    "--no-rotate-immediately", *K).code == 0
    assert demo.run("rotation", "configure", "app.sealed.yaml", "db.password", "--every",
                    "30d", "--rotator", "command", "--command", "false",
                    "--no-rotate-immediately", *K, env=TRUST).code == 0
    result = demo.run("rotate", "--due", "app.sealed.yaml", "--format", "json", *K, env=TRUST)
    assert result.code == 1  # one failed
    rows = json.loads(result.out)
    version = rows[0].pop("version")
    assert isinstance(version, str) and len(version) == 36  # the new CURRENT: a UUID
    assert rows == [
        {"file": "app.sealed.yaml", "key": "api.token", "result": "rotated", "error": None,
         "commit": None},
        {"file": "app.sealed.yaml", "key": "db.password", "result": "failed",
         "error": "rotation step 'create' failed for command false: the command exited with "
                  "status 1", "version": None, "commit": None}]
    assert "1 rotated, 1 failed" in result.err  # notes stay on stderr
    nothing = json_out(demo, "rotate", "--due", "app.sealed.yaml", "-f", "json", *K,
                       env={"SEALER_TRUST_UNSIGNED_ROTATORS": "0"}, code=1)
    assert [r["result"] for r in nothing] == ["failed"]  # db.password: pending, resumed


@pytest.mark.parametrize("args", [
    ("recipients", "list", "app.sealed.yaml", "--format", "xml"),
    ("versions", "app.sealed.yaml", "--format", "xml"),
    ("rotate", "--due", "app.sealed.yaml", "--format", "xml"),
])
def test_unknown_formats_are_usage_errors(demo: Demo, args: tuple[str, ...]) -> None:
    result = demo.run(*args)
    assert (result.code, result.out) == (2, "")
    assert result.err == ("sealer: error: unknown format 'xml'\n"
                          "sealer: hint: use one of: text, json\n")


def test_rotate_format_applies_to_due_only(demo: Demo) -> None:
    result = demo.run("rotate", "app.sealed.yaml", "api.token", "--format", "json", *K)
    assert (result.code, result.out) == (2, "")
    assert result.err == ("sealer: error: --format applies to --due\n"
                          "sealer: hint: one rotation reports on stderr\n")
