"""The C2SP age conformance vectors (CCTV), read from ../shared/vectors/age/.

Each vector is a text header (`key: value` lines), an empty line, then an age file. Success means
the SHA-256 of our plaintext equals `payload`; failure means sealer.agefile raises AgeError whose
`kind` is the expected category.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pyrage
import pytest

from sealer.age.stream import decrypt_file
from sealer.agefile import (
    AgeError,
    armor,
    dearmor,
    decrypt,
    decrypt_with_passphrase,
    is_armored,
    is_passphrase_encrypted,
    parse_header,
)
from sealer.keys import parse_identities

VECTOR_DIR = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "age"
NAMES = sorted(p.name for p in VECTOR_DIR.iterdir()) if VECTOR_DIR.is_dir() else ["(missing)"]
KNOWN_KEYS = {"expect", "payload", "file key", "identity", "passphrase", "armored", "compressed",
              "comment"}
EXPECT = {
    "success": None,
    "no match": "no match",
    "HMAC failure": "hmac",
    "header failure": "header",
    "payload failure": "payload",
    "armor failure": "armor",
}
# Vectors where sealer's result differs from the expected one, with the reason. Keep it empty:
# an entry here is an accepted deviation, checked with a strict xfail.
KNOWN_DEVIATIONS: dict[str, str] = {}


@dataclass
class Vector:
    fields: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def one(self, key: str) -> str | None:
        values = self.fields.get(key)
        return values[0] if values else None


def load_vector(path: Path) -> Vector:
    head, _, body = path.read_bytes().partition(b"\n\n")
    vector = Vector(body=body)
    for line in head.decode("utf-8").splitlines():
        key, _, value = line.partition(": ")
        vector.fields.setdefault(key, []).append(value)
    unknown = set(vector.fields) - KNOWN_KEYS
    if unknown:
        pytest.skip(f"unknown vector header keys: {sorted(unknown)}")
    compressed = vector.one("compressed")
    if compressed == "zlib":
        vector.body = zlib.decompress(vector.body)
    elif compressed is not None:
        pytest.skip(f"unknown compression {compressed!r}")
    return vector


def open_vector(vector: Vector) -> bytes:
    identities = vector.fields.get("identity", [])
    passphrases = vector.fields.get("passphrase", [])
    if passphrases and not identities:
        return decrypt_with_passphrase(vector.body, passphrases[0])
    natives: list[object] = []
    if identities:
        text = "\n".join(identities).encode("ascii")
        natives = [i.native for i in parse_identities(text, source="vector", prompt=None)]
    return decrypt(vector.body, natives)


def _param(name: str) -> object:
    if name in KNOWN_DEVIATIONS:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True,
                                                          reason=KNOWN_DEVIATIONS[name]))
    return name


@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_vector(name: str, shared_vectors: Path) -> None:
    vector = load_vector(shared_vectors / "age" / name)
    expected = EXPECT[vector.one("expect") or ""]
    if expected is None:
        plaintext = open_vector(vector)
        assert hashlib.sha256(plaintext).hexdigest() == vector.one("payload")
    else:
        with pytest.raises(AgeError) as info:
            open_vector(vector)
        assert info.value.kind == expected, str(info.value)


def test_vector_suite_is_complete(shared_vectors: Path) -> None:
    assert len(list((shared_vectors / "age").iterdir())) >= 143


# The vectors' `file key` exercises sealer's own header MAC and STREAM payload code
# (sealer.age.stream, used for hybrid files) on every vector, not only the hybrid ones.
OWN_STREAM_EXPECT = {"success": None, "HMAC failure": "hmac", "payload failure": "payload"}


def _reaches_the_payload(name: str) -> bool:
    """Vectors whose file key unwraps: they succeed or fail at the MAC or in the payload."""
    lines = (VECTOR_DIR / name).read_bytes().partition(b"\n\n")[0].decode("utf-8").splitlines()
    expects = {f"expect: {expect}" for expect in OWN_STREAM_EXPECT}
    return bool(expects & set(lines)) and any(line.startswith("file key: ") for line in lines)


STREAM_NAMES = [n for n in NAMES if VECTOR_DIR.is_dir() and _reaches_the_payload(n)]


@pytest.mark.parametrize("name", STREAM_NAMES)
def test_own_payload_code_with_the_file_key(name: str, shared_vectors: Path) -> None:
    vector = load_vector(shared_vectors / "age" / name)
    file_key = vector.one("file key")
    assert file_key is not None
    binary = dearmor(vector.body) if vector.one("armored") == "yes" else vector.body
    header = parse_header(binary)
    expected = OWN_STREAM_EXPECT[vector.one("expect") or ""]
    if expected is None:
        plaintext = decrypt_file(binary, header, bytes.fromhex(file_key))
        assert hashlib.sha256(plaintext).hexdigest() == vector.one("payload")
    else:
        with pytest.raises(AgeError) as info:
            decrypt_file(binary, header, bytes.fromhex(file_key))
        assert info.value.kind == expected, str(info.value)


# --- sealer's own rules around the vectors ------------------------------------------------------


def vector_body(shared_vectors: Path, name: str) -> bytes:
    return load_vector(shared_vectors / "age" / name).body


def test_identities_never_open_passphrase_files(shared_vectors: Path) -> None:
    data = vector_body(shared_vectors, "scrypt")
    assert is_passphrase_encrypted(data)
    assert not is_passphrase_encrypted(vector_body(shared_vectors, "x25519"))
    secret = str(pyrage.x25519.Identity.generate()).encode()
    [identity] = parse_identities(secret, source="k", prompt=None)
    with pytest.raises(AgeError, match="passphrase-encrypted") as info:
        decrypt(data, [identity.native])
    assert info.value.kind == "no match"


def test_huge_work_factor_is_refused_before_int(shared_vectors: Path) -> None:
    data = vector_body(shared_vectors, "scrypt").replace(b" 10\n", b" " + b"9" * 5000 + b"\n", 1)
    with pytest.raises(AgeError, match=r"work factor 9{20}… is above") as info:
        decrypt_with_passphrase(data, "password")
    assert info.value.kind == "header"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 1000])
def test_armor_writer_is_canonical(size: int) -> None:
    data = bytes(range(256)) * 4
    armored = armor(data[:size])
    lines = armored.split(b"\n")
    assert lines[0] == b"-----BEGIN AGE ENCRYPTED FILE-----" and lines[-1] == b""
    assert lines[-2] == b"-----END AGE ENCRYPTED FILE-----"
    assert all(len(line) == 64 for line in lines[1:-3])
    assert is_armored(armored) and dearmor(armored) == data[:size]
    assert dearmor(armored.replace(b"\n", b"\r\n")) == data[:size]


def test_armor_line_ends_must_not_mix(shared_vectors: Path) -> None:
    armored = vector_body(shared_vectors, "armor_x25519")
    mixed = armored.replace(b"\n", b"\r\n", 2)
    with pytest.raises(AgeError) as info:
        dearmor(mixed)
    assert info.value.kind == "armor"
