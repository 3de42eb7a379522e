"""Value tokens, key derivation and the MAC (docs/FORMAT.md §2, §3, §6)."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealer.envelope import (
    FixedSeam,
    Keys,
    _aad,
    canonical,
    decode_plaintext,
    encode_plaintext,
    is_token,
    parse_token,
    strict_b64decode,
)
from sealer.errors import IntegrityError

KEY = bytes(range(32))
FILE_ID = bytes(16)


def keys() -> Keys:
    return Keys(KEY, FILE_ID)


@pytest.mark.parametrize("value", ["", "x", "ünï\n", 0, -5, 10**40, 1.5, -0.0, math.inf, True,
                                   False, None, b"", b"\x00\xff"])
def test_plaintext_round_trip(value: object) -> None:
    type_name, plain = encode_plaintext(value)
    back = decode_plaintext(type_name, plain)
    assert back == value and type(back) is type(value)


def test_token_round_trip_and_binding() -> None:
    k = keys()
    token = k.encrypt(("db", "password"), "str", b"hunter2", bytes(12))
    assert is_token(token) and token.startswith("ENC[str,")
    assert k.decrypt(("db", "password"), token) == ("str", b"hunter2")
    for other_path in [("db", "passwd"), ("db",), ("db", "password", 0), ("db", 0)]:
        with pytest.raises(IntegrityError):
            k.decrypt(other_path, token)
    with pytest.raises(IntegrityError):
        Keys(KEY, b"\x01" * 16).decrypt(("db", "password"), token)
    with pytest.raises(IntegrityError):
        k.decrypt(("db", "password"), token.replace("ENC[str,", "ENC[bytes,"))


def test_list_indexes_are_bound() -> None:
    k = keys()
    first = k.encrypt(("l", 0), "str", b"a", bytes(12))
    with pytest.raises(IntegrityError):
        k.decrypt(("l", 1), first)
    # "0" the key is not 0 the index
    with pytest.raises(IntegrityError):
        k.decrypt(("l", "0"), first)


@pytest.mark.parametrize("bad", ["ENC[str,]", "ENC[str,AAAA", "ENC[text,AAAA]", "enc[str,AAAA]",
                                 "ENC[str,AAAB]", "ENC[str,AA==]", "ENC[str,A A=]"])
def test_malformed_tokens(bad: str) -> None:
    with pytest.raises(IntegrityError, match="authentication failed"):
        keys().decrypt(("k",), bad)


def test_non_canonical_base64_is_refused() -> None:
    assert strict_b64decode("AA==") == b"\x00"
    assert strict_b64decode("AB==") is None  # same bytes, non-zero padding bits
    assert strict_b64decode("AA") is None


paths = st.lists(st.one_of(st.text(max_size=5), st.integers(0, 5)), max_size=4).map(tuple)


@given(paths, paths, st.sampled_from(["str", "int"]), st.sampled_from(["str", "int"]))
def test_aad_is_injective(p1: tuple, p2: tuple, t1: str, t2: str) -> None:  # type: ignore[type-arg]
    if (p1, t1) != (p2, t2):
        assert _aad(FILE_ID, p1, t1) != _aad(FILE_ID, p2, t2)


def test_canonical_distinguishes_types_and_structure() -> None:
    variants = [{"a": "1"}, {"a": 1}, {"a": 1.0}, {"a": True}, {"a": None}, {"a": b"1"},
                {"a": ["1"]}, {"a": {"1": None}}, {"a1": ""}, {"": "a1"}, {"a": "1", "b": ""},
                {"b": "", "a": "1"}, {"a": []}, {"a": {}}]
    encodings = [canonical(v) for v in variants]
    assert len(set(encodings)) == len(encodings)


def test_nan_has_one_encoding() -> None:
    assert canonical(float("nan")) == canonical(-float("nan")) == b"f\x7f\xf8" + bytes(6)


def test_mac_verifies_and_detects_change() -> None:
    k = keys()
    doc = {"a": [1, "x"], "b": {"c": None}}
    tag = k.mac(doc)
    k.verify_mac(doc, tag)
    with pytest.raises(IntegrityError):
        k.verify_mac({"a": [1, "x"], "b": {"c": ""}}, tag)
    with pytest.raises(IntegrityError):
        Keys(bytes(32), FILE_ID).verify_mac(doc, tag)


def test_data_key_length_is_checked() -> None:
    with pytest.raises(IntegrityError):
        Keys(b"short", FILE_ID)


def test_fixed_seam_is_deterministic() -> None:
    a = FixedSeam(b"seed", datetime(2026, 1, 1, tzinfo=UTC))
    b = FixedSeam(b"seed", datetime(2026, 1, 1, tzinfo=UTC))
    assert a.random(45) == b.random(45) and a.random(3) == b.random(3)
    assert a.random(16) != FixedSeam(b"other", a.clock).random(16)


def test_token_payload_layout() -> None:
    token = keys().encrypt(("k",), "str", b"abc", b"\x07" * 12)
    type_name, raw = parse_token(token)
    assert type_name == "str" and raw[:12] == b"\x07" * 12 and len(raw) == 12 + 3 + 16
    assert base64.b64encode(raw).decode() in token


@given(st.lists(st.one_of(st.text(max_size=8), st.integers(min_value=0, max_value=2**40)),
                max_size=6).map(tuple), st.sampled_from(["str", "int", "bytes", "null"]),
       st.one_of(st.none(), st.integers(min_value=1, max_value=99), st.uuids().map(str)))
def test_the_keys_build_the_aad_of_the_spec(path: tuple, type_name: str,  # type: ignore[type-arg]
                                            version: int | str | None) -> None:
    """Keys builds each AAD from cached parts; the bytes are FORMAT.md §3.2's (`_aad`)."""
    from sealer.envelope import Keys

    keys = Keys(b"k" * 32, FILE_ID)
    for _ in range(2):  # the second time from the cache
        assert keys._aad(path, type_name, version) == _aad(FILE_ID, path, type_name, version)
