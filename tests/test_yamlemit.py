"""The fast writer (sealer.yamlemit) against the dumper (sealer.yamlstrict, PyYAML over
libyaml): whatever the fast writer writes, the dumper writes byte for byte. Over generated
documents with tricky strings, the project's own files read back, and sealed files; plus
the documents it must take (sealed files, so writes skip PyYAML)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealer import yamlemit, yamlio
from sealer.errors import YamlError
from sealer.yamlstrict import dump_text, strict_load


def agrees(value: Any) -> bool:
    """Whether the fast writer took `value`; when it did, it wrote the dumper's bytes."""
    text = yamlemit.dump(value)
    if text is None:
        return False
    assert text == dump_text(value), value
    return True


TRICKY = ["ENC[str,YWJj+/=]", "0123", "-", "~", "null", "Null", "true", "True", "yes", "Yes",
          "no", "on", "off", "y", "n", "a: b", "a:b", "a:", "x #y", "x#y", "'q'", "it's", "\"q\"",
          " lead", "trail ", "", "- item", "-x", "|", ">", "1e3", ".inf", ".5", "0x1F", "1_000",
          "12:30", "2026-01-01", "2026-01-01T00:00:00Z", "=", "<<", "?", "? x", "%x", "@x",
          "`x`", "!x", "&x", "*x", "[x]", "{x}", "a,b", "a[0]", "tab\there", "nl\n", "two\nlines",
          "\ufeffbom", "\x85nel", "é", "日本", "\U0001f600", "a" * 130, "k" * 200, "#c", "a  b",
          "/path/to", "_x", "Zz", "o_o", "NaN", "nan", "~x", "+1", "-1", "1.0", "0o17", "0b1",
          "1.2_3", "0x_1", "1:2:3", "1:20", "2026-1-1 1:2:3", "2026-01-01x", "08", "09.5", "1e3x",
          "57abc2a7", "0123abc", "1_000x", "---", "---x", "...", "-- x", "--x", "- ", "-:", "1-2",
          "1 #x", "1: x", "12 ", "0", "00", "1.", "1e", "1e+3", "1E3", "0b12", "0x1g", "1__0",
          "a\nb", "a\nb\n", "a\nb\n\n", "a\n\nb", " a\nb", "\na", "a \nb", "a\n b", "a\nb ",
          "-----BEGIN X-----\nYWJj\n-----END X-----\n", "a\n\tb", "a\n#b", "a\n- b", "a\n'b"]
letters = st.text(st.sampled_from("abexobyzABC_/.-:# '\"[]{},?!&*|>%@`=~0123456789é\t\n+"),
                  max_size=12)
strings = st.one_of(st.sampled_from(TRICKY), letters,
                    st.text(st.characters(codec="utf-8"), max_size=12))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), strings,
                    st.just({}), st.just([]), st.floats(allow_nan=False), st.binary(max_size=4))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)), max_leaves=30)


@settings(max_examples=int(os.environ.get("SEALER_YAMLEMIT_EXAMPLES", "1500")),
          suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(strings, trees, min_size=1, max_size=6))
def test_generated_documents(tree: dict[str, Any]) -> None:
    agrees(tree)


@pytest.mark.parametrize("text", TRICKY)
def test_each_tricky_string_as_key_value_and_item(text: str) -> None:
    for doc in ({text: "v"}, {"k": text}, {"k": [text]}, [text], [{text: text, "b": 1}]):
        agrees(doc)


def test_it_takes_ordinary_documents() -> None:
    """The speed is not lost silently to the dumper: plain keys, tokens, numbers, quoted
    timestamps and nested collections are the fast writer's."""
    doc = {"sealer": {"format": 1, "id": "57abc2a7", "created": "2026-12-02T05:30:55Z"},
           "data": {f"key{i}": f"ENC[str,{'Ab+/' * 20}]" for i in range(50)},
           "list": [{"name": "a", "port": 5432, "on": True, "none": None}, "x", {}],
           "empty": {}, "it's": "o'clock", "sp": " lead"}
    assert agrees(doc)


def _files() -> list[Path]:
    return sorted(p for p in [*ROOT.joinpath("examples").rglob("*.yaml"),
                              *ROOT.joinpath("tests", "vectors").rglob("*.yaml"),
                              *ROOT.joinpath("schemas").rglob("*.yaml")] if p.is_file())


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_the_projects_own_files(path: Path) -> None:
    try:
        value = strict_load(path.read_text(encoding="utf-8"), str(path), None)
    except (YamlError, UnicodeDecodeError):
        return
    agrees(value)


def test_a_sealed_file_is_written_without_pyyaml(tmp_path: Path) -> None:
    """`seal` writes its output without importing PyYAML (the output is what the dumper
    would write: the test above), and `unseal` prints plain values without it too."""
    import pyrage

    secret = pyrage.x25519.Identity.generate()
    recipient = str(secret.to_public())
    (tmp_path / "key.txt").write_text(f"{secret}\n")
    (tmp_path / "key.txt").chmod(0o600)
    (tmp_path / "app.yaml").write_text("db:\n  password: hunter2\n  port: 5432\n")
    script = ("import sys\nfrom sealer.cli import main\ntry:\n    main(sys.argv[1:])\n"
              "except SystemExit:\n    pass\nprint('yaml' in sys.modules, file=sys.stderr)\n")
    for args in (["seal", "app.yaml", "-r", recipient, "-o", "app.sealed.yaml"],
                 ["unseal", "app.sealed.yaml", "-i", "key.txt"]):
        result = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path,
                                capture_output=True, text=True, check=False)
        assert result.stderr.strip().splitlines()[-1] == "False", result.stderr
    assert yamlio.load((tmp_path / "app.sealed.yaml").read_bytes(), source="t")["data"]
