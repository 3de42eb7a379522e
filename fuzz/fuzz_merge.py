"""Fuzz target: the git merge driver (sealer.git.drivers): the key-level three-way merge of
decrypted trees, and the whole driver on three sealed files opened with tests/vectors' key.

The input is base, ours and theirs separated by the line `#%%` (a YAML comment, so a part
that holds one is still YAML). Property: nothing but SealerError (a Conflict is one) escapes;
a merge in which one side changed nothing gives the other side."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import common

from sealer import yamlio
from sealer.errors import SealerError
from sealer.git.drivers import merge_files, merge_trees
from sealer.keys import parse_identities

SEPARATOR = b"\n#%%\n"
SCRATCH = common.scratch() / "merge"
SCRATCH.mkdir(exist_ok=True)
os.chdir(SCRATCH)  # the driver runs at the top of the work tree; %P is relative to it
IDENTITIES = parse_identities(common.vector_identity().encode(), source="vectors", prompt=None)
SIDES = [SCRATCH / name for name in ("base", "ours", "theirs")]


def seeds() -> Iterator[bytes]:
    plain = [p.read_bytes() for p in common.files(common.OWN_VECTORS, (".yaml",))]
    plain += [p.read_bytes() for p in common.files(common.EXAMPLES, ("app.yaml",))]
    for one in plain:
        for other in plain:
            yield SEPARATOR.join([one, one, other])
            yield SEPARATOR.join([one, other, one])
    sealed = [body for fields, body in common.own_vectors() if fields["expect"] == ["success"]]
    for body in sealed:
        yield SEPARATOR.join([body, body, body])


def test_one_input(data: bytes) -> None:
    parts = data.split(SEPARATOR, 2)
    if len(parts) != 3:
        return
    try:
        trees = [yamlio.load(part, source="side") for part in parts]
    except SealerError:
        return
    try:
        merged = merge_trees(trees[0], trees[1], trees[2], "app.sealed.yaml")
    except SealerError:
        pass
    else:
        base, ours, theirs = trees
        if repr(theirs) == repr(base) and isinstance(ours, dict):
            # theirs changed nothing: the merge is ours, empty mappings and lists included
            assert repr(merged) == repr(ours), (trees, merged)
    for side, part in zip(SIDES, parts, strict=True):
        side.write_bytes(part)
    with contextlib.suppress(SealerError):
        merge_files(SIDES[0], SIDES[1], SIDES[2], "app.sealed.yaml", IDENTITIES)


if __name__ == "__main__":
    common.main(test_one_input, seeds)
