"""Fuzz target: the YAML loader (sealer.yamlio: the fast reader, then the strict one).

Properties: `load` raises nothing but SealerError; what it accepts, `dump` writes and `load`
reads back as the same value (repr-equal: types, NaN, -0.0), and dump → load → dump is
idempotent; and what the fast reader (sealer.yamlfast) returns, the strict loader returns too,
and never for a text the strict loader refuses."""

from __future__ import annotations

from collections.abc import Iterator

import common

from sealer import yamlfast, yamlio
from sealer.errors import SealerError
from sealer.yamlstrict import strict_load


def seeds() -> Iterator[bytes]:
    for directory in (common.EXAMPLES, common.SOPS_VECTORS):
        for path in common.files(directory, (".yaml", ".yml", ".json", ".env", ".ini")):
            yield path.read_bytes()
    for path in common.files(common.OWN_VECTORS, (".yaml",)):
        yield path.read_bytes()
    for _fields, body in common.own_vectors():
        yield body


def _differential(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if len(text) > yamlio.MAX_BYTES:
        return
    fast = yamlfast.load(text, max_depth=yamlio.MAX_DEPTH, max_nodes=yamlio.MAX_NODES)
    if fast is None:
        return
    strict = strict_load(text, "fuzz.yaml", None)  # raises if the fast reader took too much
    assert repr(fast) == repr(strict), (text, fast, strict)


def test_one_input(data: bytes) -> None:
    _differential(data)
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
