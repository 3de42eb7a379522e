"""sealer's own conformance vectors (tests/vectors/, written by tests/vectors/generate.py)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from sealer import yamlio
from sealer.core import open_document, seal
from sealer.document import parse_sealed
from sealer.envelope import FixedSeam, canonical
from sealer.errors import FormatError, IntegrityError, NoIdentityError, SealerError
from sealer.keys import parse_identities, parse_recipient

VECTORS = Path(__file__).parent / "vectors"
NAMES = sorted(p.name for p in VECTORS.iterdir()
               if p.is_file() and p.suffix not in (".py", ".yaml"))
OUTCOMES: dict[type[SealerError], str] = {
    IntegrityError: "integrity failure",
    FormatError: "format failure",
    NoIdentityError: "no identity",
}


def read_vector(name: str) -> tuple[dict[str, list[str]], str]:
    head, _, body = (VECTORS / name).read_text(encoding="utf-8").partition("\n\n")
    fields: dict[str, list[str]] = defaultdict(list)
    for line in head.splitlines():
        key, _, value = line.partition(": ")
        fields[key].append(value)
    return fields, body


def outcome(exc: SealerError) -> str:
    for cls, name in OUTCOMES.items():
        if isinstance(exc, cls):
            return name
    return f"unexpected {type(exc).__name__}"


def test_there_are_vectors_of_every_kind() -> None:
    kinds = {read_vector(n)[0]["expect"][0] for n in NAMES}
    assert kinds == {"success", *OUTCOMES.values()}


@pytest.mark.parametrize("name", NAMES)
def test_vector(name: str) -> None:
    fields, body = read_vector(name)
    identities = [i for k in fields["identity"]
                  for i in parse_identities(k.encode(), source=name, prompt=None)]
    try:
        plain = open_document(parse_sealed(body, source=name), identities).plaintext()
    except SealerError as exc:
        assert outcome(exc) == fields["expect"][0]
        return
    assert fields["expect"] == ["success"]
    assert hashlib.sha256(canonical(plain)).hexdigest() == fields["plaintext"][0]


@pytest.mark.parametrize("name", [n for n in NAMES if "seed" in read_vector(n)[0]])
def test_golden_is_reproduced_byte_for_byte(name: str) -> None:
    """The FixedSeam plus the vector's own wrapped keys gives exactly the same file."""
    fields, body = read_vector(name)
    stored = parse_sealed(body, source=name)
    wrapped = {w.recipient: w.key for w in stored.recipients}
    plain = yamlio.load((VECTORS / fields["source"][0]).read_text(encoding="utf-8"), source=name)
    seam = FixedSeam(bytes.fromhex(fields["seed"][0]),
                     datetime.fromisoformat(fields["clock"][0].replace("Z", "+00:00")))
    again = seal(plain, recipients=[parse_recipient(r) for r in wrapped],
                 metadata=stored.metadata, seam=seam, wrap=lambda _key, r: wrapped[r.text])
    assert again.to_yaml() == body
