"""Sizes and depths (issue 18): sealer never writes a file its readers refuse. Every limit a
reader applies (sealer.limits, docs/LIMITS.md) is checked on the way in — set from stdin and
--from-file, seal, key paths, the library's seal — and refused before anything is written,
with a one-line error naming the file or key and the limit."""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import TIMEOUT, Demo, assert_no_traceback, start
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sealing import new_identity

from sealer import limits, yamlio
from sealer.core import open_document, seal
from sealer.document import parse_sealed
from sealer.errors import SealerError, UsageError, YamlError
from sealer.signing import Signature

pytest_plugins = ["cli_fixtures"]

ROOT = Path(__file__).resolve().parent.parent


def key_env(demo: Demo) -> dict[str, str]:
    return {"SEALER_IDENTITY_FILE": str(demo.key)}


def assert_readable(demo: Demo) -> None:
    """The sealed file still opens: what a writer left is what a reader accepts."""
    result = demo.run("get", demo.sealed, "db.port", env=key_env(demo))
    assert result.code == 0 and result.out.strip() == "5432", result.err


def chain(parts: int) -> str:
    return ".".join(f"k{i}" for i in range(parts))


# -- the failures of the issue, one by one -------------------------------------------------------


def test_a_value_larger_than_the_limit_on_stdin_is_refused(demo: Demo) -> None:
    """Was: a 50 MB value from stdin was read whole and sealed into a 66.7 MiB file that every
    reader then refused (over the 32 MiB limit)."""
    before = demo.sealed.read_bytes()
    value = b"v" * (limits.MAX_VALUE_BYTES + 1)
    result = demo.run("set", demo.sealed, "blob", input=value, env=key_env(demo))
    assert result.code == 1, result.err
    assert result.err.startswith("sealer: error: the value for blob on stdin is larger than the "
                                 "16 MiB limit for one value; nothing was changed\n"), result.err
    assert demo.sealed.read_bytes() == before
    assert_readable(demo)


def test_stdin_is_read_only_up_to_the_limit(demo: Demo) -> None:
    """Reading stdin is bounded: sealer stops after the limit (and a newline) and refuses,
    without waiting for the end of an input that has none. Was: `read()` until EOF."""
    proc = start("set", demo.sealed, "blob", cwd=demo.dir, env=key_env(demo),
                 stdin=subprocess.PIPE)
    stdin, stderr = proc.stdin, proc.stderr
    assert stdin is not None and stderr is not None

    def feed() -> None:  # more than the limit, and the pipe is never closed: no EOF
        with contextlib.suppress(BrokenPipeError):
            stdin.write(b"v" * (limits.MAX_VALUE_BYTES + 1024 * 1024))
            stdin.flush()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        writer.join(TIMEOUT)
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
    err = stderr.read()
    assert code == 1 and b"larger than the 16 MiB limit" in err, err


def test_values_that_add_up_to_more_than_a_reader_takes_are_refused(demo: Demo) -> None:
    """Was: two 16 MiB values (each within the --from-file limit) gave a 42.7 MiB file, over
    the 32 MiB read limit. Now the serialised size is checked before the atomic write."""
    blob = demo.dir / "blob.bin"
    blob.write_bytes(b"\x00" * limits.MAX_VALUE_BYTES)
    first = demo.run("set", demo.sealed, "b1", "--from-file", blob, env=key_env(demo))
    assert first.code == 0, first.err
    before = demo.sealed.read_bytes()
    assert len(before) <= limits.MAX_FILE_BYTES
    second = demo.run("set", demo.sealed, "b2", "--from-file", blob, env=key_env(demo))
    assert second.code == 1, second.err
    assert second.err.splitlines() == [
        f"sealer: error: {demo.sealed}: the sealed file would be 42.7 MiB, more than the 32 MiB "
        "a reader accepts; nothing was written",
        "sealer: hint: its largest values: b2 (21.3 MiB), b1 (21.3 MiB); sealed files hold "
        "secrets, not bulk data: keep large values elsewhere or split the file"]
    assert demo.sealed.read_bytes() == before
    assert_readable(demo)


def test_a_file_larger_than_the_value_limit_is_refused_by_from_file(demo: Demo) -> None:
    blob = demo.dir / "blob.bin"
    blob.write_bytes(b"\x00" * (limits.MAX_VALUE_BYTES + 1))
    before = demo.sealed.read_bytes()
    result = demo.run("set", demo.sealed, "blob", "--from-file", blob, env=key_env(demo))
    assert result.code == 1 and f"{blob}: file is larger than the 16 MiB limit" in result.err
    assert demo.sealed.read_bytes() == before


@pytest.mark.parametrize("parts", [limits.MAX_KEY_PATH_PARTS + 1, 150, 500, 5000])
def test_a_key_path_deeper_than_a_file_holds_is_refused(demo: Demo, parts: int) -> None:
    """Was: a 150-part key path was written, then refused on read as "malformed sealed file"
    (exit 4); a 500-part one failed with an internal RecursionError (exit 70)."""
    before = demo.sealed.read_bytes()
    result = demo.run("set", demo.sealed, chain(parts), "x", env=key_env(demo))
    assert result.code == 2, result.err
    assert result.err.startswith("sealer: error: invalid key path 'k0.k1.k2.")
    assert "more than the 98 parts a sealed file can hold" in result.err
    assert len(result.err.splitlines()) == 2  # the error and its hint, one line each
    assert demo.sealed.read_bytes() == before
    assert_readable(demo)


def test_the_longest_key_path_a_file_holds_is_written_and_read(demo: Demo) -> None:
    path = chain(limits.MAX_KEY_PATH_PARTS)
    assert demo.run("set", demo.sealed, path, "x", env=key_env(demo)).code == 0
    got = demo.run("get", demo.sealed, path, env=key_env(demo))
    assert got.code == 0 and got.out == "x", got.err


def test_seal_refuses_plaintext_nested_deeper_than_a_sealed_file_holds(demo: Demo) -> None:
    """The plaintext loader takes 100 levels; under `data` a sealed file holds 98 below it, so
    a plaintext of 100 levels would give a file of 101: refused, and no file written."""
    depth = limits.MAX_DEPTH - 1  # the root mapping is level 1 of the plaintext
    plain = demo.dir / "deep.yaml"
    plain.write_text("a: " + "[" * depth + "]" * depth + "\n")
    result = demo.run("seal", plain, "-r", demo.recipient)
    assert result.code == 1, result.err
    assert result.err.startswith(f"sealer: error: {demo.dir / 'deep.sealed.yaml'}: a[0][0]")
    assert "is nested more than 100 levels deep in the sealed file (at most 98 below data), " \
           "more than a reader accepts; nothing was written" in result.err
    assert not (demo.dir / "deep.sealed.yaml").exists()
    plain.write_text("a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n")
    assert demo.run("seal", plain, "-r", demo.recipient).code == 0
    assert demo.run("unseal", demo.dir / "deep.sealed.yaml", env=key_env(demo)).code == 0


def test_set_of_a_structured_value_too_deep_for_its_key_is_refused(demo: Demo) -> None:
    before = demo.sealed.read_bytes()
    value = "[" * 90 + "]" * 90
    result = demo.run("set", demo.sealed, chain(10), value, "--type", "yaml", env=key_env(demo))
    assert result.code == 1 and "nested more than 100 levels deep" in result.err, result.err
    assert demo.sealed.read_bytes() == before


def test_a_dotenv_input_with_more_keys_than_a_file_holds_is_refused(tmp_path: Path) -> None:
    from sealer.plaintext import parse_dotenv

    text = "".join(f"K{i}=\n" for i in range(limits.MAX_NODES // 2)).encode()
    with pytest.raises(SealerError, match=r"more than 500,000 keys, more than one sealed file"):
        parse_dotenv(text, source="big.env")


# -- the library's writers: the same refusals, and never a RecursionError ------------------------


def nested(depth: int) -> dict[str, Any]:
    tree: dict[str, Any] = {"leaf": "x"}
    for i in range(depth - 1):
        tree = {f"k{i}": tree}
    return tree


@pytest.mark.parametrize("depth", [limits.MAX_KEY_PATH_PARTS + 1, 500, 3000])
def test_core_seal_refuses_deep_data_without_recursing(depth: int) -> None:
    _, recipient = new_identity()
    with pytest.raises(YamlError, match="nested more than 100 levels deep"):
        seal(nested(depth), recipients=[recipient], source="deep.sealed.yaml")


def test_core_seal_refuses_deep_metadata_and_versions() -> None:
    _, recipient = new_identity()
    with pytest.raises(YamlError, match=r"^m: metadata\.x\.k198\."):
        seal({"a": "b"}, recipients=[recipient], metadata={"x": nested(200)}, source="m")
    versions = {"a": [{"id": 1, "stages": ["PREVIOUS"], "created": "2026-01-01T00:00:00Z",
                       "value": nested(limits.MAX_DEPTH - limits.VERSION_VALUE_DEPTH + 1)}]}
    with pytest.raises(YamlError, match=r"^v: a version of a\.k"):
        seal({"a": "b"}, recipients=[recipient], versions=versions, source="v")


def test_a_cyclic_tree_is_refused_not_walked_forever() -> None:
    _, recipient = new_identity()
    tree: dict[str, Any] = {}
    tree["self"] = tree
    with pytest.raises(YamlError, match="nested more than 100 levels"):
        seal(tree, recipients=[recipient], source="c")
    with pytest.raises(YamlError, match="nested more than 100 levels"):
        yamlio.dump(tree)


def test_yaml_dump_refuses_what_load_refuses_instead_of_recursing() -> None:
    with pytest.raises(YamlError, match="nested more than 100 levels deep, more than sealer "
                                        "reads back"):
        yamlio.dump(nested(2000))
    deepest = nested(limits.MAX_DEPTH - 1)  # 99 mappings and a string: 100 levels
    assert yamlio.load(yamlio.dump(deepest), source="t") == deepest


def test_more_nodes_than_a_reader_takes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _, recipient = new_identity()
    plain = {f"k{i}": i for i in range(40)}
    document = seal(plain, recipients=[recipient], source="n")
    text = document.to_yaml()
    monkeypatch.setattr(limits, "MAX_NODES", 90)
    monkeypatch.setattr(yamlio, "MAX_NODES", 90)
    with pytest.raises(SealerError, match="more than 90 values"):
        parse_sealed(text, source="n")  # the reader refuses it ...
    with pytest.raises(YamlError, match="more than 90 keys and values"):
        document.to_yaml()  # ... so the writer does
    with pytest.raises(YamlError, match="more than 90 keys and values"):
        seal({f"k{i}": i for i in range(45)},  # 91 nodes: refused before encrypting
             recipients=[recipient], source="n")


def test_more_recipients_than_a_reader_tries_are_refused() -> None:
    """Was: seal wrote a file with 257 recipients that every reader refused (exit 4)."""
    recipients = [new_identity()[1] for _ in range(limits.MAX_RECIPIENTS + 1)]
    with pytest.raises(UsageError, match="257 recipients, more than the 256 a reader accepts"):
        seal({"a": "b"}, recipients=recipients, source="r")
    document = seal({"a": "b"}, recipients=recipients[:limits.MAX_RECIPIENTS], source="r")
    assert len(parse_sealed(document.to_yaml(), source="r").recipients) == 256


def test_more_signatures_than_a_reader_checks_are_refused() -> None:
    _, recipient = new_identity()
    document = seal({"a": "b"}, recipients=[recipient], source="s")
    document.signatures = [Signature(f"ssh-ed25519 AAAA{i}", "sshsig", "x")
                           for i in range(limits.MAX_SIGNATURES + 1)]
    with pytest.raises(UsageError, match="more than 16 signatures"):
        document.to_yaml()


# -- the property: whatever a writer accepts, a reader opens ------------------------------------

_keys = st.text(st.characters(codec="utf-8"), max_size=8)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                     st.binary(max_size=20), st.floats(allow_nan=False))


def _chains(depth: int) -> st.SearchStrategy[Any]:
    """Trees of random width, some of them a chain `depth` levels deep."""
    leaf = st.recursive(_scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)), max_leaves=12)
    return st.builds(lambda top, path, value: _graft(top, path, value),
                     st.dictionaries(_keys.filter(lambda k: k != "sealer"), leaf, max_size=4),
                     st.lists(_keys, min_size=depth - 3, max_size=depth),
                     leaf)


def _graft(top: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    node = top.setdefault("deep", {})
    if not isinstance(node, dict):
        node = top["deep"] = {}
    for part in path:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node["v"] = value
    return top


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(limits.MAX_KEY_PATH_PARTS - 4, limits.MAX_KEY_PATH_PARTS + 4).flatmap(_chains))
def test_what_seal_writes_a_reader_opens(plain: dict[str, Any]) -> None:
    identity, recipient = new_identity()
    try:
        text = seal(plain, recipients=[recipient], source="p").to_yaml()
    except YamlError as exc:
        assert re.search("nested more than 100 levels deep", str(exc)), exc
        return
    opened = open_document(parse_sealed(text, source="p"), [identity])
    assert opened.plaintext() == plain


def test_the_limits_have_one_home() -> None:
    """The loader, the parser and the opener read their bounds from sealer.limits."""
    from sealer import core, document

    assert (yamlio.MAX_BYTES, yamlio.MAX_DEPTH, yamlio.MAX_NODES) == (
        limits.MAX_FILE_BYTES, limits.MAX_DEPTH, limits.MAX_NODES)
    assert (document.MAX_RECIPIENTS, document.MAX_SIGNATURES, core.MAX_STANZAS) == (
        limits.MAX_RECIPIENTS, limits.MAX_SIGNATURES, limits.MAX_STANZAS)
    for name in ("yamlio", "document", "core", "plaintext"):
        source = (ROOT / "sealer" / f"{name}.py").read_text()
        assert not re.search(r"^MAX_\w+ = [0-9]", source, re.MULTILINE), name


def test_errors_are_one_line_and_leak_nothing(demo: Demo) -> None:
    secret = "canary-" + "s" * 40
    value = "[" * 120 + repr(secret) + "]" * 120
    result = demo.run("set", demo.sealed, "deep", value, "--type", "yaml", env=key_env(demo))
    assert result.code == 1 and secret not in result.err and secret not in result.out
    assert_no_traceback(result.err)
    assert len(result.err.splitlines()) <= 2


# -- docs/LIMITS.md is the table of these constants ---------------------------------------------

_UNITS = {"MiB": 1024 * 1024, "KiB": 1024, "": 1, "characters": 1, "bytes": 1}


def limits_table() -> list[tuple[str, str, str]]:
    """(what, limit, constant) of every row of the tables in docs/LIMITS.md."""
    rows = []
    for line in (ROOT / "docs" / "LIMITS.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[2].startswith("`") and cells[0] != "what":
            rows.append((cells[0], cells[1], cells[2].strip("`")))
    return rows


def _amount(text: str) -> int:
    match = re.match(r"([0-9][0-9,]*) ?(MiB|KiB|characters|bytes|)\b", text)
    assert match, text
    return int(match.group(1).replace(",", "")) * _UNITS[match.group(2)]


def test_the_limits_table_states_the_constants() -> None:
    import importlib

    rows = limits_table()
    assert len(rows) >= 20
    for what, limit, constant in rows:
        module, _, name = constant.rpartition(".")
        value = getattr(importlib.import_module(f"sealer.{module}"), name)
        assert _amount(limit) == value, f"docs/LIMITS.md: {what}: {limit} but {constant} = {value}"


def test_every_limit_of_a_sealed_file_is_in_the_table() -> None:
    documented = {constant for _what, _limit, constant in limits_table()}
    for name in limits.__all__:
        if name.startswith("MAX_"):
            assert f"limits.{name}" in documented, f"{name} is not in docs/LIMITS.md"


def test_edit_shows_a_limit_in_the_editor_and_keeps_the_edit(tmp_path: Path) -> None:
    """A save nested deeper than a sealed file holds comes back to the editor with the reason,
    the text still there (it used to fail after the editor closed, losing the edit)."""
    from sealer.editor import edit_file
    from sealer.files import get_value, seal_file
    from sealer.keys import parse_recipient

    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    seal_file(b"token: one\n", path, source="app.yaml", recipients=[parse_recipient(
        recipient.text)])
    depth = limits.MAX_DEPTH - 1  # loads as plaintext, one level too deep once sealed
    deep = "deep: " + "[" * depth + "]" * depth + "\n"
    seen: list[str] = []

    def editor(file: Path) -> None:
        seen.append(file.read_text())
        if len(seen) == 1:
            file.write_text(file.read_text().replace("token: one", "token: two") + deep)
        else:
            kept = file.read_text()
            file.write_text(kept[: kept.index("deep:")])
    written = edit_file(path, [identity], run=editor)
    assert written is not None and len(seen) == 2
    assert "deep" in seen[1] and "token: two" in seen[1]
    assert re.search(r"nest|deep|level", seen[1].split("token")[0], re.IGNORECASE)
    assert get_value(path, "token", [identity]) == "two"


def test_a_too_long_clear_regex_is_a_usage_error(demo: Demo) -> None:
    result = demo.run("seal", demo.dir / "app.yaml", "-o", demo.dir / "x.sealed.yaml", "-r",
                      demo.recipient, "--clear-regex", "a" * (limits.MAX_CLEAR_REGEX + 1))
    assert result.code == 2 and "--clear-regex is longer than 500 characters" in result.err
    assert not (demo.dir / "x.sealed.yaml").exists()


def test_reading_a_small_file_does_not_allocate_the_limit(tmp_path: Path) -> None:
    """read_bytes asks for the file's size, not the 32 MiB limit (CPython allocates what a
    read asks for up front: 25-80 ms per 2,000-file check, issue 17); a pipe still reads up
    to the limit, and a file over it is refused."""
    import os
    import tracemalloc

    from sealer.fsio import read_bytes

    small = tmp_path / "small.yaml"
    small.write_bytes(b"a: 1\n" * 100)
    tracemalloc.start()
    try:
        assert read_bytes(small, limit=limits.MAX_FILE_BYTES) == b"a: 1\n" * 100
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, peak
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"x" * 5000))
    writer.start()
    with pytest.raises(SealerError, match="larger than"):
        read_bytes(fifo, limit=4096)
    writer.join(timeout=10)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(SealerError, match="larger than"):
        read_bytes(big, limit=4096)
    assert read_bytes(big, limit=5000) == b"x" * 5000
