"""Fuzz target: the age header parser and armor (sealer.age.format) and decryption
(sealer.agefile: the strict header check, then sealer's own or pyrage's unwrapping), with the
identities of age's conformance vectors.

Property: nothing but SealerError (AgeError) escapes — not a pyo3 PanicException from pyrage;
a parsed header written out again (`header_bytes`) is the part of the file its MAC covers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import common

from sealer import agefile
from sealer.age import format as age_format
from sealer.errors import SealerError
from sealer.keys import parse_identities

IDENTITIES = [i.native for text in common.age_identities()
              for i in parse_identities(text.encode(), source="vectors", prompt=None)]


def seeds() -> Iterator[bytes]:
    for path in common.files(common.AGE_VECTORS):
        body = common.vector(path)[1]
        if len(body) <= 64 * 1024:  # the few large-payload vectors test STREAM, not headers
            yield body
    for _fields, body in common.own_vectors():  # sealed files: each wrapped key is an age file
        for line in body.split(b"\n  key: |\n")[1:]:
            yield b"\n".join(x.strip() for x in line.split(b"\n-")[0].splitlines()) + b"\n"


def test_one_input(data: bytes) -> None:
    try:
        binary = age_format.to_binary(data)
        header = age_format.parse_header(binary)
    except SealerError:
        pass
    else:
        assert age_format.header_bytes(list(header.stanzas)) == age_format.mac_input(
            binary, header)
    with contextlib.suppress(SealerError):
        agefile.decrypt(data, IDENTITIES, max_stanzas=4)


if __name__ == "__main__":
    common.main(test_one_input, seeds)
