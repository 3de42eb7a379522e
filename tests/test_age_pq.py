"""Post-quantum hybrid keys (age1pq1… / AGE-SECRET-KEY-PQ-1…, the `mlkem768x25519` stanza).

Sealer's own implementation (sealer.age) against the spec's example key, against itself, in sealed
files and on the CLI, and against an independent implementation: the npm package `age-encryption`
(typage), driven through tests/interop/age_js.mjs. The hybrid conformance vectors are in
test_age_vectors.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import EXAMPLE, run
from conftest import ROOT, require_tool, unavailable
from sealing import new_identity, sample

from sealer.age import hpke
from sealer.age.format import parse_header
from sealer.age.hybrid import HybridIdentity, HybridRecipient
from sealer.agefile import AgeError, dearmor, decrypt, encrypt
from sealer.core import open_document, seal, wrap_key
from sealer.discovery import keygen
from sealer.document import parse_sealed
from sealer.errors import IdentityError, UsageError
from sealer.keys import Identity, Recipient, parse_identities, parse_recipient

NOW = datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)
PLAINTEXT = b"canary-7d2e: a data key would be here\n"
# c2sp.org/age, "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient type": the
# example identity and (by prefix and SHA-256, it is 1,959 characters) its recipient.
SPEC_IDENTITY = "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR"
SPEC_RECIPIENT_PREFIX = "age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrq"
SPEC_RECIPIENT_SHA256 = "a091dd7e0ee9d62b75173dcc98441a0424baa941e66a8776e570a4ae60ff61ea"
INTEROP = ROOT / "tests" / "interop"
KEY_FILE = re.compile(r"# created: 2006-01-02T15:04:05Z\n# public key: (age1pq1[0-9a-z]{1952})\n"
                      r"AGE-SECRET-KEY-PQ-1[0-9A-Z]{58}\n")


def hybrid_identity() -> tuple[Identity, Recipient]:
    secret = HybridIdentity.generate().secret_key()
    [identity] = parse_identities(secret.encode(), source="test", prompt=None)
    return identity, parse_recipient(identity.recipient)


PQ, PQ_R = hybrid_identity()
PQ2, PQ2_R = hybrid_identity()
CLASSIC, CLASSIC_R = new_identity()


# --- keys ---------------------------------------------------------------------------------------


def test_the_spec_example_identity_gives_the_spec_recipient() -> None:
    [identity] = parse_identities(SPEC_IDENTITY.encode(), source="spec", prompt=None)
    assert identity.kind == "mlkem768x25519" and len(identity.recipient) == 1959
    assert identity.recipient.startswith(SPEC_RECIPIENT_PREFIX)
    assert hashlib.sha256(identity.recipient.encode()).hexdigest() == SPEC_RECIPIENT_SHA256
    assert isinstance(identity.native, HybridIdentity)
    assert identity.native.secret_key() == SPEC_IDENTITY


def test_hybrid_recipients_are_canonical_lowercase() -> None:
    upper = parse_recipient(f"  {PQ_R.text.upper()}\n", source="-r")
    assert (upper.text, upper.kind) == (PQ_R.text, "mlkem768x25519") and upper == PQ_R
    assert isinstance(upper.native, HybridRecipient) and str(upper.native) == PQ_R.text


@pytest.mark.parametrize("text", [
    PQ_R.text[:-1] + ("q" if PQ_R.text[-1] != "q" else "p"),  # checksum
    PQ_R.text[:200],  # truncated
    PQ_R.text[:10] + PQ_R.text[10:].upper(),  # mixed case
    "age1pq1" + "q" * 1950,  # right length, not a key
])
def test_bad_hybrid_recipients(text: str) -> None:
    with pytest.raises(IdentityError, match="invalid post-quantum age recipient 'age1pq1") as info:
        parse_recipient(text, source="team.txt:2")
    assert str(info.value).startswith("team.txt:2: ") and len(str(info.value)) < 200


def test_hybrid_identities_never_show_their_secret() -> None:
    secret = PQ.native.secret_key()  # type: ignore[attr-defined]
    for shown in (repr(PQ), repr(PQ.native), str(PQ.native), repr([PQ])):
        assert secret not in shown and secret[19:40] not in shown


def test_keygen_pq_writes_what_age_keygen_pq_writes(tmp_path: Path) -> None:
    path, recipient = keygen(tmp_path / "config" / "pq.key", now=NOW, pq=True)
    text = Path(path).read_text()
    match = KEY_FILE.fullmatch(text)
    assert match is not None and match.group(1) == recipient
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    [identity] = parse_identities(text.encode(), source=path, prompt=None)
    assert (identity.recipient, identity.kind) == (recipient, "mlkem768x25519")


def test_without_ml_kem_post_quantum_keys_fail_clearly(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """cryptography < 48, or one built without OpenSSL 3.5: simulated, since this one has ML-KEM."""
    def unavailable(data: bytes) -> None:
        raise hpke.MLKEMUnavailable()

    monkeypatch.setattr(hpke, "_mlkem_private", unavailable)
    monkeypatch.setattr(hpke, "_mlkem_public", unavailable)
    for attempt in (lambda: parse_recipient(PQ_R.text, source="-r"),
                    lambda: parse_identities(SPEC_IDENTITY.encode(), source="k", prompt=None),
                    lambda: keygen(tmp_path / "pq.key", now=NOW, pq=True)):
        with pytest.raises(IdentityError, match="post-quantum keys need ML-KEM-768: cryptography "
                                                "48 or later") as info:
            attempt()
        assert "pip install --upgrade 'cryptography>=48'" in str(info.value.hint)
    assert not (tmp_path / "pq.key").exists()
    assert decrypt(encrypt(PLAINTEXT, [CLASSIC_R.native]), [CLASSIC.native]) == PLAINTEXT


# --- age files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 3 * 65536, 200_000])
def test_round_trip_across_chunk_boundaries(size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext = encrypt(plaintext, [PQ_R.native], armored=False)
    chunks = max(1, -(-size // 65536))
    header = parse_header(ciphertext)
    assert len(ciphertext) - header.payload_offset == 16 + size + 16 * chunks
    assert decrypt(ciphertext, [PQ.native]) == plaintext


def test_the_header_is_what_the_spec_says() -> None:
    binary = dearmor(encrypt(PLAINTEXT, [PQ_R.native, PQ2_R.native]))
    header = parse_header(binary)
    assert [(s.type, len(s.args), len(s.body)) for s in header.stanzas] == [
        ("mlkem768x25519", 1, 32)] * 2
    assert binary.startswith(b"age-encryption.org/v1\n-> mlkem768x25519 ")
    assert decrypt(binary, [PQ2.native]) == PLAINTEXT


def test_mixed_identities_open_either_kind_of_file() -> None:
    identities = [CLASSIC.native, PQ.native]
    assert decrypt(encrypt(PLAINTEXT, [PQ_R.native]), identities) == PLAINTEXT
    assert decrypt(encrypt(PLAINTEXT, [CLASSIC_R.native]), identities) == PLAINTEXT


@pytest.mark.parametrize(("recipient", "identity"), [
    (PQ_R, CLASSIC), (CLASSIC_R, PQ), (PQ_R, PQ2)], ids=["classic-id", "pq-id", "other-pq-id"])
def test_wrong_kind_or_key_is_no_match(recipient: Recipient, identity: Identity) -> None:
    with pytest.raises(AgeError) as info:
        decrypt(encrypt(PLAINTEXT, [recipient.native]), [identity.native])
    assert info.value.kind == "no match"


def test_one_age_file_never_mixes_post_quantum_and_classical() -> None:
    for order in ([PQ_R, CLASSIC_R], [CLASSIC_R, PQ_R]):
        with pytest.raises(IdentityError, match="cannot be mixed") as info:
            encrypt(PLAINTEXT, [r.native for r in order])
        assert "quantum computer" in str(info.value)


def other_mac(binary: bytes) -> bytes:
    """The same file with a different, well-formed header MAC."""
    at = parse_header(binary).payload_offset - 44
    return binary[:at] + b"A" * 43 + binary[at + 43 :]


def flip(binary: bytes, at: int) -> bytes:
    changed = bytearray(binary)
    changed[at] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize(("change", "kind"), [
    (other_mac, "hmac"),
    (lambda b: flip(b, parse_header(b).payload_offset + 3), "payload"),  # the payload nonce
    (lambda b: flip(b, parse_header(b).payload_offset + 16 + 100), "payload"),  # first chunk
    (lambda b: flip(b, len(b) - 1), "payload"),  # the last tag
], ids=["mac", "nonce", "first-chunk", "last-tag"])
def test_tampering_releases_nothing(change: Callable[[bytes], bytes], kind: str) -> None:
    binary = encrypt(b"x" * 70_000, [PQ_R.native], armored=False)
    with pytest.raises(AgeError) as info:
        decrypt(change(binary), [PQ.native])
    assert info.value.kind == kind


@pytest.mark.parametrize("cut", [16, 65_552, 65_553])
def test_truncation_is_detected(cut: int) -> None:
    binary = encrypt(b"y" * 70_000, [PQ_R.native], armored=False)
    header = parse_header(binary)
    with pytest.raises(AgeError) as info:
        decrypt(binary[: header.payload_offset + cut], [PQ.native])
    assert info.value.kind == "payload"


# --- sealed files: the mixing rule --------------------------------------------------------------


def test_sealed_for_post_quantum_recipients() -> None:
    doc = seal(sample(), recipients=[PQ_R, PQ2_R], source="pq.sealed.yaml")
    assert [w.recipient for w in doc.recipients] == sorted([PQ_R.text, PQ2_R.text])
    parsed = parse_sealed(doc.to_yaml(), source="pq.sealed.yaml")
    assert open_document(parsed, [PQ2]).plaintext() == sample()
    wrapped = parsed.recipients[0].key.encode()
    assert parse_header(dearmor(wrapped)).stanzas[0].type == "mlkem768x25519"


@pytest.mark.parametrize("recipients", [[PQ_R, CLASSIC_R], [CLASSIC_R, PQ_R, PQ2_R]])
def test_a_sealed_file_never_mixes_post_quantum_and_classical(recipients: list[Recipient]
                                                              ) -> None:
    with pytest.raises(UsageError) as info:
        seal({"a": "b"}, recipients=recipients, source="app.sealed.yaml")
    message = str(info.value)
    assert message.startswith("app.sealed.yaml: cannot seal for both post-quantum (age1pq1…) "
                              "and classical recipients")
    assert "quantum computer" in message and "sealer keygen --pq" in str(info.value.hint)


def test_adding_a_classical_recipient_to_a_post_quantum_file_is_refused() -> None:
    doc = seal({"a": "b"}, recipients=[PQ_R])
    opened = open_document(doc, [PQ])
    with pytest.raises(UsageError, match="cannot seal for both"):
        seal({"a": "b"}, previous=opened, recipients=[PQ_R, CLASSIC_R])


def test_moving_to_post_quantum_keys_replaces_the_data_key() -> None:
    classic = seal({"a": "b"}, recipients=[CLASSIC_R])
    opened = open_document(classic, [CLASSIC])
    moved = seal({"a": "b"}, previous=opened, recipients=[PQ_R])
    reopened = open_document(moved, [PQ])
    assert reopened.plaintext() == {"a": "b"}
    assert reopened.keys.data_key != opened.keys.data_key
    assert [w.recipient for w in moved.recipients] == [PQ_R.text]


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_keygen_pq_seal_and_get(tmp_path: Path) -> None:
    made = run("keygen", "--pq", "-o", "pq.key", cwd=tmp_path)
    assert made.code == 0, made.err
    recipient = made.out.strip()
    assert recipient.startswith("age1pq1") and KEY_FILE.fullmatch(
        re.sub(r"created: \S+", "created: 2006-01-02T15:04:05Z", (tmp_path / "pq.key").read_text()))
    (tmp_path / "app.yaml").write_text(EXAMPLE)
    sealed = run("seal", "app.yaml", "-r", recipient, cwd=tmp_path)
    assert sealed.code == 0, sealed.err
    got = run("get", "app.sealed.yaml", "db.password", "-i", "pq.key", cwd=tmp_path)
    assert (got.code, got.out, got.err) == (0, "c0rrect-horse", "")


def test_cli_refuses_to_mix_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(EXAMPLE)
    result = run("seal", "app.yaml", "-r", PQ_R.text, "-r", CLASSIC_R.text, cwd=tmp_path)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(
        "sealer: error: app.sealed.yaml: cannot seal for both post-quantum (age1pq1…) and "
        "classical recipients (1 post-quantum, 1 classical)")
    hint = "\nsealer: hint: give each reader a post-quantum key (`sealer keygen --pq`)"
    assert hint in result.err
    assert not (tmp_path / "app.sealed.yaml").exists()


# --- interop with age-encryption (typage, npm) --------------------------------------------------


@pytest.fixture
def age_js() -> list[str]:
    """argv prefix for tests/interop/age_js.mjs; needs node and `npm install` in tests/interop."""
    node = require_tool("node")
    if not (INTEROP / "node_modules" / "age-encryption" / "package.json").is_file():
        unavailable("age-encryption is not installed: npm ci --prefix tests/interop")
    return [node, str(INTEROP / "age_js.mjs")]


def js(age_js: list[str], *args: str, stdin: bytes = b"") -> bytes:
    done = subprocess.run([*age_js, *args], input=stdin, capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_typage_opens_a_data_key_sealer_wrapped(age_js: list[str], tmp_path: Path) -> None:
    key = tmp_path / "js.key"
    key.write_bytes(js(age_js, "keygen", "--pq"))
    recipient = js(age_js, "recipient", stdin=key.read_bytes()).decode().strip()
    data_key = os.urandom(32)
    wrapped = wrap_key(data_key, parse_recipient(recipient))
    assert js(age_js, "decrypt", "-i", str(key), stdin=wrapped.encode()) == data_key


@pytest.mark.parametrize("armor", [[], ["--armor"]], ids=["binary", "armored"])
@pytest.mark.parametrize("size", [32, 150_000])
def test_sealer_opens_what_typage_encrypted(age_js: list[str], armor: list[str], size: int,
                                            tmp_path: Path) -> None:
    path, recipient = keygen(tmp_path / "pq.key", now=NOW, pq=True)
    [identity] = parse_identities(Path(path).read_bytes(), source=path, prompt=None)
    plaintext = os.urandom(size)
    ciphertext = js(age_js, "encrypt", *armor, "-r", recipient, stdin=plaintext)
    assert decrypt(ciphertext, [identity.native]) == plaintext


def test_typage_keys_work_in_sealer(age_js: list[str], tmp_path: Path) -> None:
    key = tmp_path / "js.key"
    key.write_bytes(js(age_js, "keygen", "--pq"))
    [identity] = parse_identities(key.read_bytes(), source=str(key), prompt=None)
    assert identity.recipient == js(age_js, "recipient", stdin=key.read_bytes()).decode().strip()
    assert f"# public key: {identity.recipient}\n" in key.read_text()
    ciphertext = js(age_js, "encrypt", "-r", identity.recipient, stdin=PLAINTEXT)
    assert decrypt(ciphertext, [identity.native]) == PLAINTEXT


def test_sealer_keygen_pq_keys_work_in_typage(age_js: list[str], tmp_path: Path) -> None:
    path, recipient = keygen(tmp_path / "pq.key", now=NOW, pq=True)
    assert js(age_js, "recipient", stdin=Path(path).read_bytes()).decode() == recipient + "\n"
    ciphertext = encrypt(b"x" * 150_000, [parse_recipient(recipient).native])
    assert js(age_js, "decrypt", "-i", path, stdin=ciphertext) == b"x" * 150_000


def test_a_sealed_file_for_a_typage_key_opens_with_sealer_get(age_js: list[str],
                                                              tmp_path: Path) -> None:
    (tmp_path / "js.key").write_bytes(js(age_js, "keygen", "--pq"))
    (tmp_path / "js.key").chmod(0o600)  # a private key others may read is refused
    recipient = js(age_js, "recipient", stdin=(tmp_path / "js.key").read_bytes()).decode().strip()
    (tmp_path / "app.yaml").write_text(EXAMPLE)
    assert run("seal", "app.yaml", "-r", recipient, cwd=tmp_path).code == 0
    got = run("get", "app.sealed.yaml", "api.token", "-i", "js.key", cwd=tmp_path)
    assert (got.code, got.out) == (0, "tok-9f8e7d"), got.err
    document = parse_sealed((tmp_path / "app.sealed.yaml").read_bytes(), source="app")
    [identity] = parse_identities((tmp_path / "js.key").read_bytes(), source="js", prompt=None)
    data_key = open_document(document, [identity]).keys.data_key
    wrapped = document.recipients[0].key.encode()
    assert js(age_js, "decrypt", "-i", str(tmp_path / "js.key"), stdin=wrapped) == data_key
