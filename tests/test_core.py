"""Sealing and opening in memory: round trips, stable ciphertext, recipients and rekeying."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sealing import new_identity, sample

from sealer import yamlio
from sealer.core import open_document, seal
from sealer.document import parse_sealed, read_sealed
from sealer.envelope import FixedSeam
from sealer.errors import NoIdentityError, UsageError
from sealer.files import set_value

ALICE, ALICE_R = new_identity()
BOB, BOB_R = new_identity()
CLEAR = {"clear": {"suffix": "_public"}}


def reopen(doc: Any, *identities: Any) -> dict[str, Any]:
    """Write, parse and open again: the full path a file takes through disk."""
    parsed = parse_sealed(doc.to_yaml(), source="t.sealed.yaml")
    return open_document(parsed, list(identities) or [ALICE]).plaintext()


def test_round_trip_keeps_every_type() -> None:
    doc = seal(sample(), recipients=[ALICE_R], metadata=CLEAR)
    back = reopen(doc)
    assert back == sample()
    assert type(back["db"]["port"]) is int and type(back["blob"]) is bytes
    assert doc.data["region_public"] == "eu-west-1"  # kept in clear by the rule
    assert doc.data["db"]["password"].startswith("ENC[str,")
    assert doc.data["flags"]["nothing"].startswith("ENC[null,")


ADVERSARIAL = ["no", "yes", "on", "0123", "1:20", "~", "", " ", "a.b", "a:b", "[0]", '"', "'",
               "ENC[str,AAAA]", "sealer", "ünï", "\n", "x" * 5000, "-", "#", "&a", "*a", "<<"]
keys = st.one_of(st.text(max_size=20), st.sampled_from(ADVERSARIAL))
scalars = st.one_of(st.text(), st.sampled_from(ADVERSARIAL), st.integers(), st.booleans(),
                    st.none(), st.binary(max_size=64), st.floats(allow_nan=False))
trees = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(keys, c, max_size=3),
    max_leaves=15)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(keys.filter(lambda k: k != "sealer"), trees, max_size=6))
def test_round_trip_property(tree: dict[str, Any]) -> None:
    doc = seal(tree, recipients=[ALICE_R])
    assert reopen(doc) == tree


def test_nan_and_infinities() -> None:
    back = reopen(seal({"n": math.nan, "i": -math.inf}, recipients=[ALICE_R]))
    assert math.isnan(back["n"]) and back["i"] == -math.inf


def test_unchanged_values_keep_their_ciphertext() -> None:
    first = seal(sample(), recipients=[ALICE_R])
    opened = open_document(first, [ALICE])
    changed = sample()
    changed["db"]["password"] = "new-password"
    second = seal(changed, previous=opened)
    assert second.header.id == first.header.id and second.header.serial == 2
    differing = [k for k in first.data["db"] if first.data["db"][k] != second.data["db"][k]]
    assert differing == ["password"]
    assert first.data["list"] == second.data["list"]
    assert second.recipients == first.recipients


def test_type_change_gets_new_ciphertext() -> None:
    first = seal({"v": "1"}, recipients=[ALICE_R])
    second = seal({"v": 1}, previous=open_document(first, [ALICE]))
    assert second.data["v"] != first.data["v"] and second.data["v"].startswith("ENC[int,")


def test_nothing_changed_returns_the_previous_document() -> None:
    first = seal(sample(), recipients=[ALICE_R])
    assert seal(sample(), previous=open_document(first, [ALICE])) is first


def test_resealing_is_byte_stable() -> None:
    first = seal(sample(), recipients=[ALICE_R])
    parsed = parse_sealed(first.to_yaml(), source="t")
    again = seal(reopen(first), previous=open_document(parsed, [ALICE]))
    assert again.to_yaml() == first.to_yaml()


def test_adding_a_recipient_rewraps_only() -> None:
    first = seal(sample(), recipients=[ALICE_R])
    second = seal(sample(), previous=open_document(first, [ALICE]), recipients=[ALICE_R, BOB_R])
    assert second.data == first.data
    assert reopen(second, BOB) == sample()
    kept = [w for w in second.recipients if w.recipient == ALICE_R.text]
    assert kept == first.recipients


def test_removing_a_recipient_locks_them_out() -> None:
    both = seal(sample(), recipients=[ALICE_R, BOB_R])
    assert reopen(both, BOB) == sample()
    alice_only = seal(sample(), previous=open_document(both, [ALICE]), recipients=[ALICE_R])
    assert [w.recipient for w in alice_only.recipients] == [ALICE_R.text]
    with pytest.raises(NoIdentityError):
        reopen(alice_only, BOB)
    # Bob's copy of the old data key is useless: every value has new ciphertext.
    old_tokens = {v for _, v in both.tokens()}
    assert not old_tokens & {v for _, v in alice_only.tokens()}
    assert reopen(alice_only, ALICE) == sample()


def test_rekey_changes_every_token_and_keeps_recipients() -> None:
    first = seal(sample(), recipients=[ALICE_R, BOB_R])
    again = seal(sample(), previous=open_document(first, [ALICE]),
                 recipients=[ALICE_R, BOB_R], rekey=True)
    assert not {v for _, v in first.tokens()} & {v for _, v in again.tokens()}
    assert [w.recipient for w in again.recipients] == [w.recipient for w in first.recipients]
    assert reopen(again, BOB) == sample()


def test_new_file_needs_recipients() -> None:
    with pytest.raises(UsageError, match="no recipients"):
        seal({"a": "b"}, recipients=[])


def test_metadata_paths_must_exist() -> None:
    from sealer.errors import FormatError

    with pytest.raises(FormatError, match="not a key in data"):
        seal({"a": "b"}, recipients=[ALICE_R], metadata={"keys": {"missing": {}}})
    doc = seal({"a": {"b": "c"}}, recipients=[ALICE_R],
               metadata={"keys": {"a.b": {"description": "the b"}}, "owner": "team-x"})
    assert parse_sealed(doc.to_yaml(), source="t").metadata["owner"] == "team-x"


def test_fixed_seam_gives_identical_bytes() -> None:
    clock = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def wrap(key: bytes, recipient: Any) -> str:
        return f"wrapped-for-{recipient.text}"

    one = seal(sample(), recipients=[ALICE_R], seam=FixedSeam(b"s", clock), wrap=wrap)
    two = seal(sample(), recipients=[ALICE_R], seam=FixedSeam(b"s", clock), wrap=wrap)
    assert one.to_yaml() == two.to_yaml()
    assert one.header.created == "2026-01-02T03:04:05Z"


def test_a_top_level_data_key_named_sealer_is_refused(tmp_path: Path) -> None:
    """In plaintext `sealer:` is the metadata block: a data key of that name would turn into
    metadata on `unseal | seal` or `edit` (a hidden rotator, say). Writers refuse it, readers
    reject a file that has it."""
    from sealer.errors import FormatError

    identity, recipient = new_identity()
    with pytest.raises(UsageError, match="reserved for metadata"):
        seal({"sealer": {"x": 1}}, recipients=[recipient])
    sealed = tmp_path / "a.sealed.yaml"
    sealed.write_text(seal({"ok": 1}, recipients=[recipient], source=str(sealed)).to_yaml())
    with pytest.raises(UsageError, match="reserved for metadata"):
        set_value(sealed, "sealer.rotation", "x", [identity])
    tree = yamlio.load(sealed.read_bytes(), source="t")
    tree["data"]["sealer"] = tree["data"].pop("ok")
    sealed.write_text(yamlio.dump(tree))
    with pytest.raises(FormatError, match="reserved"):
        read_sealed(sealed)
