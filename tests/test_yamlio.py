"""The strict YAML loader and the deterministic writer (docs/FORMAT.md §7, §8)."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sealer import yamlio
from sealer.errors import YamlError


def load(text: str) -> object:
    return yamlio.load(text, source="in.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"), ("n", "n"),
        ("0123", "0123"), ("+0123", "+0123"), ("1:20", "1:20"), ("1_000", "1_000"),
        ("2026-11-22", "2026-11-22"), ("0b101", "0b101"), ("00.5", "00.5"),
        ("true", True), ("False", False), ("TRUE", True),
        ("null", None), ("~", None), ("", None),
        ("0", 0), ("-17", -17), ("+5", 5), ("0x1F", 31), ("0o17", 15),
        ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5), ("1.", 1.0), ("-.inf", -math.inf),
        ("'true'", "true"), ('"5"', "5"), ("! 5", "5"), ("!!str 5", "5"), ("!!float 3", 3.0),
        ("!!binary aGVsbG8=", b"hello"),
    ],
)
def test_scalar_rules(text: str, expected: object) -> None:
    value = load(f"k: {text}\n")["k"]  # type: ignore[index]
    assert value == expected and type(value) is type(expected)


def test_nan_is_a_float() -> None:
    assert math.isnan(load("k: .nan\n")["k"])  # type: ignore[index]


def test_keys_are_always_strings() -> None:
    assert load("1: a\ntrue: b\nnull: c\n") == {"1": "a", "true": "b", "null": "c"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "line 2: duplicate key 'a'"),
        ("a: &x 1\n", "anchors (&name) are not allowed"),
        ("a: [1]\nb: *x\n", "aliases (*name) are not allowed"),
        ("<<: {a: 1}\n", "merge keys (<<) are not allowed"),
        ("a: !custom 1\n", "the tag !custom is not allowed"),
        ("a: !!timestamp 2020-01-01\n", "the tag !!timestamp is not allowed"),
        ("a: !!python/object:os.system x\n", "is not allowed"),
        ("? [1]\n: 2\n", "mapping keys must be plain strings"),
        ("a: !!int nope\n", "the value is not a valid !!int"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        ("a: [1\n", "line 2: invalid YAML"),
        ("a: !!binary '***'\n", "invalid base64"),
    ],
)
def test_rejected_inputs(text: str, message: str) -> None:
    with pytest.raises(YamlError) as info:
        load(text)
    assert message in str(info.value)
    assert str(info.value).startswith("in.yaml: ")


def test_rejected_values_are_not_echoed() -> None:
    with pytest.raises(YamlError) as info:
        load("a: !!int hunter2-secret\n")
    assert "hunter2" not in str(info.value)


def test_billion_laughs_is_refused_at_the_first_alias() -> None:
    bomb = "a: &a ['x','x']\nb: &b [*a,*a]\nc: &c [*b,*b]\n" + "".join(
        f"{chr(100 + i)}: [*{chr(99 + i)},*{chr(99 + i)}]\n" for i in range(20))
    with pytest.raises(YamlError, match="anchors"):
        load(bomb)


def test_depth_limit() -> None:
    deep = "a: " + "[" * (yamlio.MAX_DEPTH + 5) + "]" * (yamlio.MAX_DEPTH + 5) + "\n"
    with pytest.raises(YamlError, match="nested deeper"):
        load(deep)


def test_size_limit() -> None:
    with pytest.raises(YamlError, match="MiB limit"):
        yamlio.load(b"a: " + b"x" * yamlio.MAX_BYTES, source="big.yaml")


def test_node_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_NODES", 50)
    with pytest.raises(YamlError, match="more than 50 values"):
        load("a: [" + ",".join(["1"] * 60) + "]\n")


def test_invalid_utf8() -> None:
    with pytest.raises(YamlError, match="not UTF-8"):
        yamlio.load(b"a: \xff\n", source="x")


def test_empty_document_is_none() -> None:
    assert load("") is None
    assert load("# only a comment\n") is None


TRICKY = ["no", "yes", "on", "0123", "0o17", "1e3", "1:20", "null", "~", "", " lead", "trail ",
          "a: b", "- x", "#c", "multi\nline\n", "tail\n\n", "ENC[str,AAAA]", "ünïcødé", "'",
          '"', "\t", "2026-11-22T06:32:16Z", ".inf", "0x1F", "True", "=", "$HOME", "\\n"]


@pytest.mark.parametrize("value", TRICKY)
def test_writer_quotes_what_would_change_meaning(value: str) -> None:
    text = yamlio.dump({"k": value})
    assert load(text) == {"k": value}
    # A YAML 1.1 reader (PyYAML's default) sees the same string too.
    assert yaml.safe_load(text) == {"k": value}


scalars = st.one_of(
    st.text(), st.integers(), st.booleans(), st.none(), st.binary(),
    st.floats(allow_nan=False), st.sampled_from(TRICKY),
)
trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text() | st.sampled_from(TRICKY), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text() | st.sampled_from(TRICKY), trees, max_size=5))
def test_dump_load_round_trip(tree: dict[str, object]) -> None:
    assert load(yamlio.dump(tree)) == tree


def test_dump_is_deterministic_and_keeps_order() -> None:
    tree = {"z": 1, "a": {"w": [1, 2], "b": "x"}}
    assert yamlio.dump(tree) == yamlio.dump(tree) == "z: 1\na:\n  w:\n  - 1\n  - 2\n  b: x\n"
