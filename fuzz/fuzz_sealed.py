"""Fuzz target: the sealed-file parser (sealer.document) and the opener (access.open_sealed,
through the read gate), with a wrong key and with the key of tests/vectors.

Property: nothing but SealerError escapes; a parsed document serialises (`to_yaml`) and
re-parses to the same text (idempotent); a wrong key never opens a file; an opened file
decrypts or fails with an IntegrityError."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import common

from sealer.access import open_sealed
from sealer.document import parse_sealed
from sealer.errors import SealerError
from sealer.keys import parse_identities

SCRATCH = common.scratch()
FILE = SCRATCH / "fuzz.sealed.yaml"
RIGHT = parse_identities(common.vector_identity().encode(), source="vectors", prompt=None)
WRONG = parse_identities(  # a public test key of tests/vectors/generate.py: a stranger
    b"AGE-SECRET-KEY-1883T4WDHFJTUA4K32FW6G4WQ2ZPYFF2GK7AT87A97MSRQUM23NDQSDWAV3",
    source="stranger", prompt=None)


def seeds() -> Iterator[bytes]:
    for _fields, body in common.own_vectors():
        yield body
    for path in common.files(common.SOPS_VECTORS, (".yaml", ".json")):
        yield path.read_bytes()


def test_one_input(data: bytes) -> None:
    try:
        document = parse_sealed(data, source=str(FILE))
    except SealerError:
        return
    text = document.to_yaml()  # a document a reader accepted is one a writer writes
    assert parse_sealed(text, source=str(FILE)).to_yaml() == text
    try:
        open_sealed(FILE, WRONG, action="fuzz", document=document)
    except SealerError:
        pass
    else:
        raise AssertionError("a key that is not a recipient opened the file")
    with contextlib.suppress(SealerError):
        open_sealed(FILE, RIGHT, action="fuzz", document=document).plaintext()


if __name__ == "__main__":
    common.main(test_one_input, seeds)
