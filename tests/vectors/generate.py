"""Write sealer's own conformance vectors (tests/vectors/*), in the style of age's CCTV suite.

Each vector is a header of `key: value` lines, an empty line, then a sealed file:

    expect     success | integrity failure | format failure | no identity
    identity   an AGE-SECRET-KEY-1… to open it with (may repeat)
    plaintext  hex SHA-256 of the canonical encoding (FORMAT.md §6) of the decrypted document
    source     for goldens: the plaintext input (a file beside the vector)
    seed/clock for goldens: the FixedSeam that, with the wrapped keys already in the file,
               reproduces the body byte for byte
    comment    free text

Run `python tests/vectors/generate.py` to rewrite them. The wrapped data keys come from real age
encryption and are random, so a rerun changes every file: commit the result only with a format
change, and say why.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from sealer import yamlio  # noqa: E402
from sealer.core import seal, wrap_key  # noqa: E402
from sealer.envelope import FixedSeam, canonical  # noqa: E402
from sealer.keys import parse_identities, parse_recipient  # noqa: E402

# Public test keys: they exist only to open these vectors.
KEY_A = "AGE-SECRET-KEY-148PPP9CJZCWV8QC2JAT73YQ4U7S0XW4XJNAF0FN9LS330P37H9QQQLWMN5"
KEY_B = "AGE-SECRET-KEY-1YMT0FJKGKRK3XCG5Q8WRVYGNF8UUY2E8FJU4KU5XN8UUCZXCKGXQEJK6T5"
KEY_C = "AGE-SECRET-KEY-1883T4WDHFJTUA4K32FW6G4WQ2ZPYFF2GK7AT87A97MSRQUM23NDQSDWAV3"  # a stranger
SEED = b"sealer conformance vectors v1"
CLOCK = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)


def recipient(secret: str) -> Any:
    identity = parse_identities(secret.encode(), source="vector", prompt=None)[0]
    return parse_recipient(identity.recipient)


def digest(tree: Any) -> str:
    return hashlib.sha256(canonical(tree)).hexdigest()


def header(expect: str, comment: str, *, plain: Any = None, extra: dict[str, str] | None = None,
           identity: str = KEY_A) -> str:
    lines = [f"expect: {expect}"]
    if plain is not None:
        lines.append(f"plaintext: {digest(plain)}")
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    lines += [f"identity: {identity}", f"comment: {comment}"]
    return "\n".join(lines) + "\n\n"


def golden(name: str, source: str, metadata: dict[str, Any] | None = None) -> str:
    """Seal `source` (relative to this directory) with the fixed seam for keys A and B."""
    plain_text = (HERE / source).read_text(encoding="utf-8")
    plain = yamlio.load(plain_text, source=name)
    doc = seal(plain, recipients=[recipient(KEY_A), recipient(KEY_B)], metadata=metadata,
               seam=FixedSeam(SEED, CLOCK), wrap=wrap_key)
    body = doc.to_yaml()
    extra = {"source": source, "seed": SEED.hex(),
             "clock": CLOCK.strftime("%Y-%m-%dT%H:%M:%SZ")}
    comment = f"golden: {source} sealed for two recipients"
    write(name, header("success", comment, plain=plain, extra=extra) + body)
    return body


def write(name: str, text: str) -> None:
    (HERE / name).write_text(text, encoding="utf-8")


def derive(base: str, name: str, expect: str, comment: str,
           change: Callable[[dict[str, Any]], None]) -> None:
    tree = yamlio.load(base, source="base")
    change(tree)
    write(name, header(expect, comment) + yamlio.dump(tree))


def replace_text(base: str, name: str, expect: str, comment: str, old: str, new: str) -> None:
    assert old in base, old
    write(name, header(expect, comment) + base.replace(old, new, 1))


def negatives(base: str) -> None:
    def swap_values(t: dict[str, Any]) -> None:
        db = t["data"]["database"]
        db["host"], db["password"] = db["password"], db["host"]

    def swap_items(t: dict[str, Any]) -> None:
        admins = t["data"]["admins"]
        admins[0], admins[1] = admins[1], admins[0]

    def rename(t: dict[str, Any]) -> None:
        t["data"]["api"] = {("token" if k == "stripe_key" else k): v
                            for k, v in t["data"]["api"].items()}

    def retype(t: dict[str, Any]) -> None:
        db = t["data"]["database"]
        db["port"] = db["port"].replace("ENC[int,", "ENC[str,")

    def drop_recipient(t: dict[str, Any]) -> None:
        t["recipients"] = t["recipients"][:1]

    def flip_token(t: dict[str, Any]) -> None:
        token = t["data"]["api"]["webhook_secret"]
        other = "A" if token[10] != "A" else "B"
        t["data"]["api"]["webhook_secret"] = token[:10] + other + token[11:]

    def clear_value(t: dict[str, Any]) -> None:
        t["data"]["database"]["password"] = "changed-by-hand"

    def bump(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
        def change(t: dict[str, Any]) -> None:
            t["sealer"][field] = value
        return change

    cases: list[tuple[str, str, str, Callable[[dict[str, Any]], None]]] = [
        ("swapped_values", "integrity failure", "two encrypted values swapped", swap_values),
        ("swapped_list_items", "integrity failure", "two list items swapped", swap_items),
        ("renamed_key", "integrity failure", "a key renamed", rename),
        ("changed_type", "integrity failure", "a value's type label changed", retype),
        ("removed_recipient", "integrity failure", "a recipient deleted by hand", drop_recipient),
        ("flipped_token", "integrity failure", "one base64 character of a token changed",
         flip_token),
        ("changed_serial", "integrity failure", "the version counter changed",
         bump("serial", 99)),
        ("changed_file_id", "integrity failure", "the file id changed", bump("id", "f" * 32)),
        ("changed_commitment", "integrity failure", "the data-key commitment changed",
         bump("commitment", "0" * 32)),
        ("hand_edited_value", "format failure", "a value replaced by plaintext", clear_value),
        ("unknown_format", "format failure", "format version 2 is unknown", bump("format", 2)),
    ]
    for name, expect, comment, change in cases:
        derive(base, name, expect, comment, change)
    write("no_identity", header("no identity", "sealed for keys A and B only",
                                identity=KEY_C) + base)
    replace_text(base, "duplicate_key", "format failure", "a key appears twice",
                 "  format: 1\n", "  format: 1\n  format: 1\n")
    replace_text(base, "alias", "format failure", "anchors and aliases are refused",
                 "data:\n", "data: &d\n")
    write("truncated", header("format failure", "cut in the middle of a wrapped key")
          + base[: base.index("-----END")])
    remac(base, "wrong_commitment", "integrity failure", "a commitment that does not match the "
          "data key, under a valid MAC (a planted key announced as the old one)", "0" * 32)
    remac(base, "no_commitment", "success", "a file written before the commitment existed "
          "(valid MAC, no commitment): still read", None)


def remac(base: str, name: str, expect: str, comment: str, commitment: str | None) -> None:
    """`base` with another commitment (None: none) and a MAC recomputed with its real data key:
    only the commitment check can tell."""
    from sealer.core import open_document
    from sealer.document import parse_sealed

    identity = parse_identities(KEY_A.encode(), source="vector", prompt=None)
    opened = open_document(parse_sealed(base.encode(), source=name), identity)
    doc = opened.document
    doc.header = doc.header._replace(commitment=commitment)
    doc.mac = opened.keys.mac(doc.authenticated_tree())
    plain = opened.plaintext() if expect == "success" else None
    write(name, header(expect, comment, plain=plain) + doc.to_yaml())


def main() -> None:
    base = golden("golden_app", "../../examples/app.yaml")
    golden("golden_clear", "golden_clear.plain.yaml", metadata={
        "clear": {"suffix": "_public", "regex": "^(host|port)$"},
        "owner": "platform",
        "keys": {"db.password": {"description": "primary database password"}},
    })
    golden("golden_types", "golden_types.plain.yaml")
    negatives(base)


if __name__ == "__main__":
    main()
