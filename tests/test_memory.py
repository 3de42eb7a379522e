"""A big value costs memory a few times its size, not ten (issue 17, lever 8), and the shortcuts
that make it so change no byte and loosen no check: pieces of base64 and of the MAC's encoding
equal the whole, a token matched once when parsed is still refused when its base64 is not
canonical, and a big value comes back exactly."""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import SEALER, make_identity, run, sealer_env
from hypothesis import given, settings
from hypothesis import strategies as st

from sealer import core, document, envelope
from sealer.envelope import FixedSeam, Keys, canonical, canonical_into, strict_b64decode
from sealer.errors import IntegrityError
from sealer.keys import parse_recipient

MB = 1_000_000
PIECE = 3 << 16  # envelope._PIECE: values above it take the piecewise paths
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def old_strict_b64decode(text: str) -> bytes | None:
    """The implementation before issue 17: decode, encode back, compare."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="AQgwB/+9=a \n\x00é", max_size=14))
def test_strict_base64_refuses_what_it_refused(text: str) -> None:
    assert strict_b64decode(text) == old_strict_b64decode(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_strict_base64_takes_every_canonical_encoding(raw: bytes) -> None:
    text = base64.b64encode(raw).decode("ascii")
    assert strict_b64decode(text) == raw
    for i in range(len(text)):  # one character changed: refused, or another canonical text
        for c in "A=B/":
            changed = text[:i] + c + text[i + 1:]
            assert strict_b64decode(changed) == old_strict_b64decode(changed)


@pytest.mark.parametrize("value", [
    "a" * (5 * PIECE + 7),  # ASCII: encoded a slice at a time
    "é" * (PIECE + 1),  # not ASCII: its UTF-8 length is not its length
    b"\x00\xff" * PIECE,
    {"small": "x", "big": ["y" * (PIECE + 1), 1, None, 2.5, b"z" * (2 * PIECE)]},
])
def test_the_mac_encoding_in_pieces_is_the_whole(value: object) -> None:
    pieces: list[bytes] = []
    canonical_into(value, lambda piece: pieces.append(bytes(piece)))
    assert b"".join(pieces) == canonical(value)
    assert max(len(p) for p in pieces) <= 2 * PIECE  # no piece is the whole big value
    assert b"".join(pieces) == _whole_encoding(value)


def _whole_encoding(value: object) -> bytes:
    """FORMAT.md §6 written out plainly, for the values above."""
    def text(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data
    if isinstance(value, dict):
        return b"m" + len(value).to_bytes(4, "big") + b"".join(
            text(k.encode()) + _whole_encoding(v) for k, v in value.items())
    if isinstance(value, list):
        return b"l" + len(value).to_bytes(4, "big") + b"".join(map(_whole_encoding, value))
    if isinstance(value, str):
        return b"s" + text(value.encode("utf-8"))
    if isinstance(value, bytes):
        return b"x" + text(value)
    return canonical(value)


def test_a_big_token_is_the_whole_encoding() -> None:
    """A big value's token, its base64 made in pieces, is the token of FORMAT.md §3.2."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key, file_id = bytes(range(32)), bytes(16)
    keys = Keys(data_key, file_id)
    plain, nonce = b"v" * (4 * PIECE + 5), bytes(range(12))
    token = keys.encrypt(("big",), "str", plain, nonce)
    aead = AESGCM(envelope._hkdf(data_key, file_id, "sealer v1 value key"))
    sealed = aead.encrypt(nonce, plain, envelope._aad(file_id, ("big",), "str"))
    assert token == f"ENC[str,{base64.b64encode(nonce + sealed).decode()}]"
    assert keys.decrypt(("big",), token) == ("str", plain)
    assert keys.decrypt(("big",), token, matched=True) == ("str", plain)


@pytest.fixture
def opened_pair(tmp_path: Path) -> tuple[Path, Path]:
    """An age identity (real age-keygen) and its recipient file."""
    key = tmp_path / "id.key"
    recipient = make_identity(key)
    (tmp_path / "recipients.txt").write_text(recipient + "\n")
    return key, tmp_path / "recipients.txt"


def test_a_matched_token_with_non_canonical_base64_is_still_refused(
        opened_pair: tuple[Path, Path]) -> None:
    """The reader matches each token once, when it parses the file; the base64 is still checked
    when the value is decrypted: a token whose padding bits are not zero, under a MAC that is
    right for it, is refused like any other tampering (the one message)."""
    key, recipients = opened_pair
    from sealer.keys import parse_identities

    seam = FixedSeam(b"memory", datetime(2026, 1, 1, tzinfo=UTC))
    recipient = parse_recipient(recipients.read_text().strip())
    doc = core.seal({"a": "abcd"}, recipients=[recipient], seam=seam, source="t.sealed.yaml")
    identities = parse_identities(key.read_bytes(), source=str(key), prompt=None)
    opened = core.open_document(doc, identities)
    token = doc.data["a"]
    body = token[8:-1]
    assert body.endswith("=")  # 12 + 4 + 16 = 32 bytes: one padding character
    last = B64.index(body[-2])  # its low 2 bits are padding: zero in the canonical form
    bad = f"{token[:8]}{body[:-2]}{B64[last | 1]}=]"
    assert envelope.is_token(bad) and strict_b64decode(bad[8:-1]) is None
    doc.data["a"] = bad
    doc.mac = opened.keys.mac(doc.authenticated_tree())
    reread = document.parse_sealed(doc.to_yaml(), source="t.sealed.yaml")
    assert reread.token_map() == {("a",): bad}  # matched once, when parsed
    with pytest.raises(IntegrityError, match="authentication failed"):
        core.open_document(reread, identities).plaintext()
    with pytest.raises(IntegrityError, match="authentication failed"):
        core.open_document(reread, identities).value(("a",))


def peak_rss_kib(argv: list[str], env: dict[str, str], cwd: Path) -> int:
    """ru_maxrss of `argv`, started from a small Python process: a child's figure starts from
    the RSS of the process it was forked from, and pytest's is large."""
    launcher = ("import json, os, subprocess, sys; argv = json.loads(sys.argv[1]); "
                "p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL); "
                "_, status, usage = os.wait4(p.pid, 0); "
                "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", launcher, json.dumps(argv)], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True, timeout=120)
    code, kib = map(int, done.stdout.split())
    assert code == 0, done.stderr
    return kib


def test_a_big_value_round_trips_in_a_few_times_its_size(
        tmp_path: Path, opened_pair: tuple[Path, Path]) -> None:
    """A 16 MB value sealed, read with `get` and `unseal`, comes back exactly; reading it costs
    at most 6 times its size above what a one-key file costs (it was over 10 times)."""
    key, recipients = opened_pair
    size = 16 * MB
    value = ("0123456789abcdef" * (size // 16))[:size - 3] + "end"
    (tmp_path / "big.yaml").write_text(f"big: {value}\n")
    (tmp_path / "small.yaml").write_text("big: x\n")
    env = sealer_env({"SEALER_IDENTITY_FILE": str(key)})
    for name in ("big", "small"):
        sealed = run("seal", f"{name}.yaml", "-R", recipients, "-o", f"{name}.sealed.yaml",
                     cwd=tmp_path, env={"SEALER_IDENTITY_FILE": str(key)})
        assert sealed.code == 0, sealed.err
    got = subprocess.run([*SEALER, "get", "big.sealed.yaml", "big"], cwd=tmp_path, env=env,
                         capture_output=True, check=True, timeout=120).stdout
    assert got == value.encode()
    unsealed = subprocess.run([*SEALER, "unseal", "big.sealed.yaml"], cwd=tmp_path, env=env,
                              capture_output=True, check=True, timeout=120).stdout
    assert unsealed == f"big: {value}\n".encode()
    for command in (["get", "{}.sealed.yaml", "big"], ["unseal", "{}.sealed.yaml"]):
        peaks = {name: peak_rss_kib([*SEALER, *(a.format(name) for a in command)], env, tmp_path)
                 for name in ("big", "small")}
        cost = (peaks["big"] - peaks["small"]) * 1024
        assert cost <= 6 * size, (command[0], cost / size)
