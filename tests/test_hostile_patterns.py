"""A repository is input from strangers (issue 11): its regular expressions, globs and JSON
Schemas take bounded time, reach no network and read no file outside the repository.

Every command runs as a real `sealer` process with a timeout of TIMEOUT seconds: a catastrophic
pattern that backtracks again makes the test fail (subprocess.TimeoutExpired) instead of hanging
the suite. Nothing asserts on elapsed time. Inputs that would hang Python's `re` are only ever
evaluated in those child processes, never in the test process.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cli_helpers import Result, run
from sealing import forge

from sealer.check import check_files
from sealer.errors import ConfigError, FormatError
from sealer.regex import MAX_PATTERN, compile_pattern
from sealer.sealedfiles import sealed_files

TIMEOUT = 20  # generous: each command takes well under a second unless a pattern backtracks
LONG_KEY = "a" * 40 + "!"  # with these patterns Python's re would take longer than the universe
CATASTROPHIC = ["(a+)+$", "(a|aa)+$"]
SCHEMA_FILE = "schemas/s.json"


class Project:
    """A sealer.yaml in `root` with one principal (whose identity file is `key`) and an
    environment `dev` sealed for it."""

    def __init__(self, root: Path, *, rules: str = "  - {path: '**', environment: dev}\n",
                 extra: str = "") -> None:
        identity = pyrage.x25519.Identity.generate()
        self.root = root
        self.recipient = str(identity.to_public())
        self.key = root / "me.key"
        root.mkdir(parents=True, exist_ok=True)
        self.key.write_text(f"{identity}\n")
        self.key.chmod(0o600)
        (root / "sealer.yaml").write_text(
            f"version: 1\nprincipals:\n  me: {self.recipient}\nenvironments:\n  dev:\n"
            f"    recipients: [me]\ncreation_rules:\n{rules}{extra}")

    def forge(self, name: str, data: dict[str, Any], **metadata: Any) -> Path:
        """A sealed file written past sealer's write gate (as anyone with the public key can)."""
        out = self.root / name
        out.parent.mkdir(parents=True, exist_ok=True)
        return forge(out, data, [self.recipient], metadata=metadata or None)

    def run(self, *args: str | Path) -> Result:
        return run(*args, cwd=self.root, timeout=TIMEOUT)


def schema_project(root: Path, schema: Any, schema_path: str = SCHEMA_FILE) -> Project:
    """A project whose creation rule gives every file the schema `s`, at `schema_path`."""
    project = Project(root, rules="  - {path: '**', environment: dev, schema: s}\n",
                      extra=f"schemas:\n  s: '{schema_path}'\n")
    if schema is not None:
        (root / "schemas").mkdir(exist_ok=True)
        (root / SCHEMA_FILE).write_text(json.dumps(schema))
    return project


def errors(result: Result) -> list[dict[str, Any]]:
    """The error-severity findings of `check --format json` (warnings about the project's own
    setup, such as unsigned environments, are not what these tests look at)."""
    findings: list[dict[str, Any]] = json.loads(result.out)["findings"]
    return [f for f in findings if f["severity"] == "error"]


def one_error(result: Result, code: int = 2) -> str:
    """The single `sealer: error:` line of a refused command (a hint line may follow)."""
    assert result.code == code, result
    lines = result.err.splitlines()
    assert [line for line in lines if not line.startswith("sealer: hint: ")] == lines[:1], lines
    assert lines[0].startswith("sealer: error: "), lines
    return lines[0]


# -- regular expressions ----------------------------------------------------------------------

@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_clear_regex_is_matched_in_linear_time(tmp_path: Path, pattern: str) -> None:
    project = Project(tmp_path)
    plain = tmp_path / "app.yaml"
    plain.write_text(f"'{LONG_KEY}': hidden\naaaa: shown\n")
    sealed = tmp_path / "app.sealed.yaml"
    assert project.run("seal", plain, "-o", sealed, "--clear-regex", pattern).code == 0
    assert "aaaa: shown" in sealed.read_text()  # searched: the key matches, so it stays clear
    assert project.run("check", sealed).code == 0
    got = project.run("get", "-i", project.key, sealed, f'"{LONG_KEY}"')  # deploy time
    assert (got.code, got.out) == (0, "hidden")


def test_clear_regex_that_re2_lacks_makes_the_file_malformed(tmp_path: Path) -> None:
    """A file written by an older sealer, when clear.regex was Python's `re`: a lookahead."""
    project = Project(tmp_path)
    sealed = project.forge("app.sealed.yaml", {"host": "h"}, clear={"regex": "^placeholder$"})
    sealed.write_text(sealed.read_text().replace("^placeholder$", "^h(?=ost)"))
    result = project.run("check", sealed, "--format", "json")
    [finding] = errors(result)
    assert finding["rule"] == "sealed-structure"
    assert "metadata.clear.regex is not a valid RE2 regular expression" in finding["message"]
    refused = one_error(project.run("get", "-i", project.key, sealed, "host"), code=4)
    assert "invalid perl operator: (?=" in refused


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_policy_key_name_is_matched_in_linear_time(tmp_path: Path, pattern: str) -> None:
    project = Project(tmp_path, extra=f"policy:\n  key_name: '{pattern}'\n"
                                      f"  file_name: '{pattern}'\n")
    sealed = project.forge("app.sealed.yaml", {LONG_KEY: "x", "aaa": "y"})
    (tmp_path / f"{LONG_KEY}.sealed.yaml").write_text(sealed.read_text())
    result = project.run("check", ".", "--format", "json")
    assert result.code == 1
    found = sorted((f["rule"], f["path"]) for f in errors(result))
    assert found == [("file-name", None)] * 2 + [("key-name", LONG_KEY)] * 2


@pytest.mark.parametrize(("setting", "pattern", "reason"), [
    ("key_name", "^(a)\\1$", "invalid escape sequence: \\1"),
    ("file_name", "^(?!tmp)", "invalid perl operator: (?!"),
    ("key_name", "(?<=x)y", "invalid perl operator: (?<="),
])
def test_policy_pattern_re2_lacks_is_a_config_error(tmp_path: Path, setting: str, pattern: str,
                                                    reason: str) -> None:
    project = Project(tmp_path, extra=f"policy:\n  {setting}: '{pattern}'\n")
    project.forge("app.sealed.yaml", {"a": "b"})
    result = project.run("check", ".")
    error = one_error(result)
    assert f"sealer.yaml: line 10: policy.{setting} is not a valid RE2 regular expression" in error
    assert reason in error
    assert "RE2 syntax" in result.err  # the hint


def test_a_too_long_pattern_is_refused(tmp_path: Path) -> None:
    project = Project(tmp_path, extra=f"policy:\n  key_name: '{'a' * (MAX_PATTERN + 1)}'\n")
    project.forge("app.sealed.yaml", {"a": "b"})
    error = one_error(project.run("check", "."))
    assert f"policy.key_name is longer than {MAX_PATTERN} characters" in error


def test_a_file_name_that_is_not_utf8_is_matched_too(tmp_path: Path) -> None:
    """Python decodes such a name to lone surrogates, which RE2 cannot take as UTF-8: they are
    matched like other characters, not a crash. (sealer's YAML refuses surrogates in keys.)"""
    project = Project(tmp_path, rules="  - {path: 'x/*.sealed.yaml', environment: dev}\n",
                      extra="policy:\n  file_name: '^[a-z.]+$'\n")
    sealed = project.forge("x/app.sealed.yaml", {"ok": "v"})
    sealed.rename(tmp_path / "x" / os.fsdecode(b"\xff.sealed.yaml"))
    # In this process (the patterns are harmless): printing such a name is another matter.
    findings = check_files(sealed_files([tmp_path]))
    assert [f.rule for f in findings if f.severity == "error"] == ["file-name"]
    assert "unmatched-file" not in [f.rule for f in findings]  # the glob's `*` matched it


def test_compile_pattern() -> None:
    assert compile_pattern("^[a-z]+$", what="x").search("abc")
    assert compile_pattern("b", what="x").search("abc")  # searched, like re.search
    assert compile_pattern("^[a-z]+$", what="x") is compile_pattern("^[a-z]+$", what="x")
    with pytest.raises(ConfigError, match=r"^f: key_name is not a valid RE2 regular expression: "
                                          r"missing \): \($"):
        compile_pattern("(", what="key_name", file="f")
    with pytest.raises(FormatError, match="longer than 3 characters"):
        compile_pattern("abcd", what="r", error=FormatError, limit=3)
    with pytest.raises(ConfigError) as info:
        compile_pattern("a\n(", what="r")
    assert "\n" not in str(info.value)  # one line, even when RE2 quotes the pattern


# -- globs ------------------------------------------------------------------------------------

def test_many_double_star_globs_against_a_deep_path(tmp_path: Path) -> None:
    glob = "**/" * 12 + "x"  # Python's re: 2**12 ways to split each of 60 levels
    project = Project(tmp_path, rules=f"  - {{path: '{glob}', environment: dev}}\n"
                                      "  - {path: '**', environment: dev}\n")
    sealed = project.forge("/".join(["d"] * 60) + "/app.sealed.yaml", {"a": "b"})
    assert project.run("check", ".").code == 0  # the second rule matches
    assert project.run("get", "-i", project.key, sealed, "a").out == "b"
    assert project.run("check", sealed).code == 0


def test_a_too_long_glob_is_a_config_error(tmp_path: Path) -> None:
    project = Project(tmp_path, rules=f"  - {{path: '{'*' * 501}', environment: dev}}\n")
    project.forge("app.sealed.yaml", {"a": "b"})
    error = one_error(project.run("check", "."))
    assert "sealer.yaml: line 8: glob is longer than 500 characters" in error


# -- JSON Schemas: patterns -------------------------------------------------------------------

@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_schema_pattern_is_matched_in_linear_time(tmp_path: Path, pattern: str) -> None:
    schema = {"type": "object", "properties": {"k": {"type": "string", "pattern": pattern}}}
    project = schema_project(tmp_path, schema)
    plain = tmp_path / "app.yaml"
    plain.write_text(f"k: '{LONG_KEY}'\n")
    refused = one_error(project.run("seal", plain, "-o", tmp_path / "app.sealed.yaml"), code=1)
    assert "k: s: does not have the expected form; nothing was sealed" in refused
    project.forge("app.sealed.yaml", {"k": LONG_KEY})
    result = project.run("check", "--decrypt", "-i", project.key, ".", "--format", "json")
    found = [(f["rule"], f["path"]) for f in errors(result)]
    assert (result.code, found) == (1, [("schema-values", "k")])


@pytest.mark.parametrize("pattern", CATASTROPHIC)
@pytest.mark.parametrize("additional", [False, {"type": "integer"}, None])
def test_schema_pattern_properties_are_matched_in_linear_time(tmp_path: Path, pattern: str,
                                                              additional: Any) -> None:
    schema: dict[str, Any] = {"type": "object",
                              "patternProperties": {pattern: {"type": "integer"}}}
    if additional is not None:
        schema["additionalProperties"] = additional
    project = schema_project(tmp_path, schema)
    project.forge("app.sealed.yaml", {LONG_KEY: "not an integer", "aaaa": 1})
    result = project.run("check", ".", "--format", "json")  # shape only, no key
    messages = [f["message"] for f in errors(result)]
    if additional is False:
        assert messages == [f"s: unknown key {LONG_KEY!r}: the schema does not allow it"]
    else:  # the long key matches no pattern: additionalProperties (if any) decides
        assert messages == ([] if additional is None else
                            ["s: must be of type integer (it is string)"])


@pytest.mark.parametrize(("schema", "reason"), [
    ({"properties": {"k": {"pattern": "^(?=a)"}}}, "invalid perl operator: (?="),
    ({"patternProperties": {"(x)\\1": {}}}, "invalid escape sequence: \\1"),
])
def test_schema_pattern_re2_lacks_is_a_config_error(tmp_path: Path, schema: dict[str, Any],
                                                    reason: str) -> None:
    project = schema_project(tmp_path, schema)
    project.forge("app.sealed.yaml", {"k": "v"})
    result = project.run("check", ".")
    error = one_error(result)
    assert f"{SCHEMA_FILE}: the schema pattern" in error and reason in error
    assert "is not a valid RE2 regular expression" in error and "RE2 syntax" in result.err


def test_format_regex_means_re2(tmp_path: Path) -> None:
    schema = {"properties": {"ok": {"format": "regex"}, "lookahead": {"format": "regex"}}}
    project = schema_project(tmp_path, schema)
    project.forge("app.sealed.yaml", {"ok": CATASTROPHIC[0], "lookahead": "^a(?=b)"})
    result = project.run("check", "--decrypt", "-i", project.key, ".", "--format", "json")
    assert [(f["path"], f["message"]) for f in errors(result)] == [
        ("lookahead", "s: is not a valid regex")]


def test_unevaluated_properties_with_pattern_properties_is_refused(tmp_path: Path) -> None:
    schema = {"patternProperties": {"^a": {}}, "unevaluatedProperties": False}
    project = schema_project(tmp_path, schema)
    project.forge("app.sealed.yaml", {"a": "b"})
    error = one_error(project.run("check", "."))
    assert "both patternProperties and unevaluatedProperties is not supported" in error


# -- JSON Schemas: no network, no other files -------------------------------------------------

@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on a free loopback port: a schema reference to it must never connect."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


def assert_never_connected(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        server.accept()


@pytest.mark.parametrize("where", ["top", "nested", "unused"])
def test_a_remote_ref_is_refused_without_a_connection(tmp_path: Path, listener: socket.socket,
                                                      where: str) -> None:
    ref = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    schemas: dict[str, dict[str, Any]] = {
        "top": {"$ref": ref},
        "nested": {"properties": {"k": {"items": [{"$ref": ref}]}}},
        "unused": {"$defs": {"never": {"$ref": ref}}, "properties": {"absent": {"$ref": ref}}},
    }
    schema = schemas[where]
    project = schema_project(tmp_path, {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                        "type": "object", **schema})
    if where == "nested":  # items as an array: a draft-07 schema, which sealer accepts too
        (tmp_path / SCHEMA_FILE).write_text(json.dumps(
            {"$schema": "http://json-schema.org/draft-07/schema#", **schema}))
    project.forge("app.sealed.yaml", {"k": ["v"]})
    for command in (("check", "."), ("check", "--decrypt", "-i", project.key, ".")):
        error = one_error(project.run(*command))
        assert f"{SCHEMA_FILE}: $ref {ref!r} points outside this schema file" in error
    assert_never_connected(listener)


@pytest.mark.parametrize("ref", [
    "file:///dev/zero",
    "file:///etc/passwd#/x",
    "other.json",
    "../outside.json#/$defs/x",
    "https://json-schema.org/draft/2020-12/schema",
])
def test_a_ref_to_any_other_document_is_refused(tmp_path: Path, ref: str) -> None:
    project = schema_project(tmp_path, {"properties": {"k": {"$ref": ref}}})
    (tmp_path / "schemas" / "other.json").write_text("{}")
    (tmp_path / "outside.json").write_text('{"$defs": {"x": {}}}')
    project.forge("app.sealed.yaml", {"k": "v"})
    error = one_error(project.run("check", "."))
    assert f"$ref {ref!r} points outside this schema file" in error


def test_a_ref_inside_the_schema_resolves(tmp_path: Path) -> None:
    schema = {"$defs": {"port": {"type": "integer"}},
              "properties": {"port": {"$ref": "#/$defs/port"},
                             "sub": {"$id": "urn:example:sub", "$ref": "#/$defs/n",
                                     "$defs": {"n": {"type": "string"}}}}}
    project = schema_project(tmp_path, schema)
    project.forge("app.sealed.yaml", {"port": "80", "sub": "x"})
    result = project.run("check", ".", "--format", "json")
    messages = [f["message"] for f in errors(result)]
    assert messages == ["s: must be of type integer (it is string)"]
    (tmp_path / SCHEMA_FILE).write_text(json.dumps({"$ref": "#/$defs/missing"}))
    error = one_error(project.run("check", "."))
    assert "$ref '#/$defs/missing' points to nothing in this schema" in error


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink", "symlinked-directory"])
def test_a_schema_outside_the_repository_is_refused(tmp_path: Path, kind: str) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"type": "object"}')
    root = tmp_path / "project"
    path = {"parent": "../outside.json", "absolute": str(outside), "symlink": "schemas/s.json",
            "symlinked-directory": "linked/outside.json"}[kind]
    project = schema_project(root, None, path)
    (root / "schemas").mkdir()
    (root / "schemas" / "s.json").symlink_to(outside)
    (root / "linked").symlink_to(tmp_path)
    project.forge("app.sealed.yaml", {"a": "b"})
    error = one_error(project.run("check", "."))
    assert f"{root / 'sealer.yaml'}: schemas.s: {path!r} is not a path inside this directory" in (
        error)


def test_a_symlink_inside_the_repository_is_followed(tmp_path: Path) -> None:
    project = schema_project(tmp_path, {"required": ["x"]}, "link.json")
    (tmp_path / "link.json").symlink_to(tmp_path / SCHEMA_FILE)
    project.forge("app.sealed.yaml", {"a": "b"})
    result = project.run("check", ".", "--format", "json")
    assert [f["message"] for f in errors(result)] == [
        "s: missing required key 'x'"]


def test_an_oversized_schema_is_refused(tmp_path: Path) -> None:
    project = schema_project(tmp_path, {"description": "x" * (1024 * 1024)})
    project.forge("app.sealed.yaml", {"a": "b"})
    error = one_error(project.run("check", "."))
    assert f"{tmp_path / SCHEMA_FILE}: cannot read schema: file is larger than the 1 MiB" in error


@pytest.mark.parametrize(("text", "message"), [
    ("[]", "a schema must be a JSON object"),
    ('{"a":' * 101 + "{}" + "}" * 101, "nested more than 100 levels deep"),
    ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid JSON: nested too deeply"),
])
def test_deeply_nested_schemas_are_refused(tmp_path: Path, text: str, message: str) -> None:
    project = schema_project(tmp_path, {})
    (tmp_path / SCHEMA_FILE).write_text(text)
    project.forge("app.sealed.yaml", {"a": "b"})
    assert message in one_error(project.run("check", "."))


def test_a_ref_loop_is_a_config_error(tmp_path: Path) -> None:
    project = schema_project(tmp_path, {"$defs": {"a": {"$ref": "#/$defs/b"},
                                                  "b": {"$ref": "#/$defs/a"}},
                                        "$ref": "#/$defs/a"})
    project.forge("app.sealed.yaml", {"a": "b"})
    assert "the schema's $refs form a loop" in one_error(project.run("check", "."))
    (tmp_path / SCHEMA_FILE).write_text(json.dumps(  # recursion that goes deeper is fine
        {"type": "object", "additionalProperties": {"anyOf": [{"type": "string"},
                                                              {"$ref": "#"}]}}))
    project.forge("app.sealed.yaml", {"a": {"b": {"c": "d"}}})
    assert errors(project.run("check", ".", "--format", "json")) == []
