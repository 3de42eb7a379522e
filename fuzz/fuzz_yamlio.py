"""Fuzz target: the strict YAML loader (sealer.yamlio).

Property: `load` raises nothing but SealerError; what it accepts, `dump` writes and `load`
reads back as the same value (repr-equal: types, NaN, -0.0), and dump → load → dump is
idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import common

from sealer import yamlio
from sealer.errors import SealerError


def seeds() -> Iterator[bytes]:
    for directory in (common.EXAMPLES, common.SOPS_VECTORS):
        for path in common.files(directory, (".yaml", ".yml", ".json", ".env", ".ini")):
            yield path.read_bytes()
    for path in common.files(common.OWN_VECTORS, (".yaml",)):
        yield path.read_bytes()
    for _fields, body in common.own_vectors():
        yield body


def test_one_input(data: bytes) -> None:
    try:
        value = yamlio.load(data, source="fuzz.yaml")
    except SealerError:
        return
    text = yamlio.dump(value)  # what the loader accepted, the writer writes ...
    again = yamlio.load(text, source="dump")  # ... and the loader reads back, unchanged
    assert repr(again) == repr(value), (value, again)
    assert yamlio.dump(again) == text


if __name__ == "__main__":
    common.main(test_one_input, seeds)
