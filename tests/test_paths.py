"""Key paths (docs/FORMAT.md §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealer.errors import UsageError
from sealer.paths import delete, format_path, get, leaves, parse_path, set_value


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("db", ("db",)),
        ("db.password", ("db", "password")),
        ("users[0].name", ("users", 0, "name")),
        ("[2]", (2,)),
        ("a[1][2]", ("a", 1, 2)),
        ('"a.b".c', ("a.b", "c")),
        ('x."".y', ("x", "", "y")),
        ('"say \\"hi\\""', ('say "hi"',)),
        ("with space", ("with space",)),
        ("ünï:cøde", ("ünï:cøde",)),
    ],
)
def test_parse(text: str, path: tuple[object, ...]) -> None:
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["", "a.", ".a", "a..b", "a[01]", "a[-1]", "a[", 'a"b',
                                  '"open', "a.[0]", " a", "a[0]b"])
def test_invalid(text: str) -> None:
    with pytest.raises(UsageError, match="invalid key path"):
        parse_path(text)


components = st.one_of(st.text(), st.integers(min_value=0, max_value=10**6))


@given(st.lists(components, min_size=1, max_size=6))
def test_format_parse_round_trip(parts: list[object]) -> None:
    path = tuple(parts)
    assert parse_path(format_path(path)) == path  # type: ignore[arg-type]


def test_tree_operations() -> None:
    tree: dict[str, object] = {"a": {"b": [1, {"c": 2}]}}
    assert list(leaves(tree)) == [(("a", "b", 0), 1), (("a", "b", 1, "c"), 2)]
    assert get(tree, ("a", "b", 1, "c")) == 2
    set_value(tree, ("x", "y", 0), "new")
    set_value(tree, ("a", "b", 2), 3)
    assert tree["x"] == {"y": ["new"]} and get(tree, ("a", "b", 2)) == 3
    delete(tree, ("a", "b", 0))
    assert get(tree, ("a", "b")) == [{"c": 2}, 3]
    with pytest.raises(KeyError):
        get(tree, ("a", "nope"))
    with pytest.raises(KeyError):
        set_value(tree, ("a", "b", 9), 1)
