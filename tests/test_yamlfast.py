"""The fast reader (sealer.yamlfast) against the strict loader (sealer.yamlstrict): whatever the
fast reader returns, the strict loader returns too — the same values, types and key order —
and it never returns a value for a text the strict loader refuses. Over generated documents as
sealer writes them, mutated documents, and the project's own files; plus the cases it must
take (sealed files, so reads skip PyYAML) and must leave to the strict loader."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealer import yamlfast, yamlio
from sealer.errors import YamlError
from sealer.yamlstrict import strict_load


def fast(text: str) -> Any:
    return yamlfast.load(text, max_depth=yamlio.MAX_DEPTH, max_nodes=yamlio.MAX_NODES)


def same(a: Any, b: Any) -> bool:
    """Equal with exact types and key order (True is not 1, 1.0 is not 1, NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def agrees(text: str) -> bool:
    """The property; True when the fast reader took the text (and agreed)."""
    value = fast(text)
    if value is None:
        return False
    try:
        strict = strict_load(text, "t.yaml", None)
    except YamlError as exc:
        raise AssertionError(f"the fast reader accepted what the strict loader refuses "
                             f"({exc}):\n{text}") from None
    assert same(value, strict), (text, value, strict)
    return True


keys = st.text(st.characters(codec="utf-8"), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(st.characters(codec="utf-8"), max_size=20),
                    st.sampled_from(["ENC[str,YWJj]", "0123", "-", "~", "null", "true", "a: b",
                                     "x #y", "'q'", "multi\nline\n", "tail\n\n", " lead",
                                     "yes", "1e3", ".inf", "", "- item", "|"]))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=25)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(keys, trees, min_size=1, max_size=5))
def test_documents_as_sealer_writes_them(tree: dict[str, Any]) -> None:
    agrees(yamlio.dump(tree))


ALPHABET = " \n-:#'\"|>[]{},!&*?%@`\t\\x0.~"


@settings(max_examples=int(os.environ.get("SEALER_YAMLFAST_EXAMPLES", "1500")),
          suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(["seed"]), st.data())
def test_mutated_documents(_: str, data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(SEEDS))
    for _edit in range(data.draw(st.integers(1, 4))):
        if not text:
            break
        at = data.draw(st.integers(0, len(text) - 1))
        kind = data.draw(st.sampled_from(["insert", "delete", "replace", "indent", "line"]))
        char = data.draw(st.sampled_from(ALPHABET))
        if kind == "insert":
            text = text[:at] + char + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + 1:]
        elif kind == "replace":
            text = text[:at] + char + text[at + 1:]
        elif kind == "indent":
            start = text.rfind("\n", 0, at) + 1
            text = text[:start] + data.draw(st.sampled_from(["", " ", "  ", "   "])) + \
                text[start:].lstrip(" ")
        else:
            lines = text.split("\n")
            j = at % len(lines)
            lines.insert(j, lines[j])
            text = "\n".join(lines)
    agrees(text)


def _seeds() -> list[str]:
    out = []
    for path in sorted([*ROOT.joinpath("examples").rglob("*.yaml"),
                        *ROOT.joinpath("tests", "vectors").rglob("*")]):
        if path.is_file() and path.suffix in ("", ".yaml"):
            text = path.read_text(encoding="utf-8", errors="replace")
            out.append(text.split("\n\n", 1)[-1] if text.startswith("expect:") else text)
    out.append(yamlio.dump({"a": {"b": [1, "two", {"c": None}], "d": "line\nmore\n"},
                            "e": [], "f": {}, "g": "x"}))
    return out


SEEDS = _seeds()


@pytest.mark.parametrize("text", SEEDS, ids=range(len(SEEDS)))
def test_the_projects_own_files(text: str) -> None:
    agrees(text)


def test_a_sealed_file_is_read_without_pyyaml() -> None:
    """What sealer writes (header, tokens, versions, metadata, recipients' armored keys) is
    the fast reader's: the speed is not lost silently to the fallback."""
    from sealing import new_identity, sample

    from sealer.core import seal

    _, recipient = new_identity()
    document = seal(sample(), recipients=[recipient], source="t",
                    metadata={"description": "d", "tags": ["a", "b=c"],
                              "keys": {"db.password": {"description": "p"}}})
    assert agrees(document.to_yaml())


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: 1\na: 2\n", "a: !!binary AAEC\n", "a:\n\t- 1\n",
    "a: 'unclosed\n  more'\n", "a: plain\n  continued\n", "a: 1 # comment\n", "? a\n: b\n",
    "---\na: 1\n", "a: 1\n---\nb: 2\n", "a: |2\n  x\n", "a: |+\n  x\n\n", "a: \"x\\ty\"\n",
    "<<: {a: 1}\n", "a: [1, [2]]\n", "a: -1\n", "a: b: c\n", "x\n", "", "a: 1",
])
def test_what_it_leaves_to_the_strict_loader(text: str) -> None:
    assert fast(text) is None


def test_every_real_read_agrees(tmp_path: Path) -> None:
    """yamlio.load (fast first) gives what the strict loader gives for the example files."""
    for text in SEEDS:
        try:
            strict = strict_load(text, "t", None)
        except YamlError:
            with pytest.raises(YamlError):
                yamlio.load(text, source="t")
            continue
        assert same(yamlio.load(text, source="t"), strict)


def test_mappings_in_a_list_keep_every_key() -> None:
    """A regression: entries of a mapping that follows `- ` (recipients: recipient, group,
    key) once lost their middle keys."""
    text = yamlio.dump({"recipients": [{"recipient": "age1x", "group": 1, "key": "k\nk\n"},
                                       {"recipient": "age1y", "group": 2, "key": "l\nl\n"}],
                        "mac": "m"})
    assert agrees(text)
    assert fast(text)["recipients"][0] == {"recipient": "age1x", "group": 1, "key": "k\nk\n"}


def test_limits_count_as_in_the_strict_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every value counts towards the node limit, a flow list's items too: what the strict
    loader refuses as too large, the fast reader leaves to it."""
    monkeypatch.setattr(yamlio, "MAX_NODES", 50)
    for text in ("a: [" + ", ".join(["1"] * 60) + "]\n", "".join(f"k{i}: v\n" for i in range(60)),
                 "a:\n" + "".join(f"- {i}\n" for i in range(60))):
        assert fast(text) is None
        with pytest.raises(YamlError, match="more than 50 values"):
            yamlio.load(text, source="t.yaml")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(keys, trees, min_size=1, max_size=5), st.integers(2, 6),
       st.integers(3, 40))
def test_limits_agree_on_generated_documents(tree: dict[str, Any], depth: int,
                                             nodes: int) -> None:
    """Under small limits, whatever the fast reader takes, the strict loader takes too."""
    text = yamlio.dump(tree)
    value = yamlfast.load(text, max_depth=depth, max_nodes=nodes)
    if value is None:
        return
    saved = (yamlio.MAX_DEPTH, yamlio.MAX_NODES)
    yamlio.MAX_DEPTH, yamlio.MAX_NODES = depth, nodes
    try:
        strict = strict_load(text, "t.yaml", None)
    except YamlError as exc:
        raise AssertionError(f"fast took what the strict loader refuses ({exc}):\n{text}") \
            from None
    finally:
        yamlio.MAX_DEPTH, yamlio.MAX_NODES = saved
    assert same(value, strict)


def test_the_odd_character_check_is_yamls_printable_set() -> None:
    """Everything but YAML 1.1's printable characters (and tab, handled by the strict reader)
    is left to the strict reader: checked over every code point, as a negated class of the
    allowed ranges would have matched them."""
    from sealer.yamlfast import _ODD

    allowed = ((0x0A, 0x0A), (0x20, 0x7E), (0xA0, 0xD7FF), (0xE000, 0xFEFE), (0xFF00, 0xFFFD),
               (0x10000, 0x10FFFF))
    wrong = [hex(c) for c in range(0x110000)
             if bool(_ODD.match(chr(c))) == any(lo <= c <= hi for lo, hi in allowed)]
    assert wrong == []
