"""Every change to a sealed file made without the data key is rejected, and nothing is released.

Mutations work on the parsed YAML tree (as an attacker editing the file would) or on its bytes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sealing import new_identity, sample

from sealer import yamlio
from sealer.core import open_document, seal, wrap_key
from sealer.document import parse_sealed
from sealer.errors import FormatError, IntegrityError, NoIdentityError, SealerError

ALICE, ALICE_R = new_identity()
BOB, BOB_R = new_identity()
MALLORY, MALLORY_R = new_identity()
DOC = seal(sample(), recipients=[ALICE_R, BOB_R], metadata={
    "clear": {"suffix": "_public"}, "owner": "team-a",
    "keys": {"db.password": {"description": "main db"}}})
TEXT = DOC.to_yaml()
OTHER = seal(sample(), recipients=[ALICE_R, BOB_R])  # same content, another file id and key


def tree() -> dict[str, Any]:
    loaded = yamlio.load(TEXT, source="t")
    assert isinstance(loaded, dict)
    return loaded


def attempt(text: str | bytes) -> None:
    """Parse and open with Alice's key; must raise, and must not return plaintext."""
    with pytest.raises(SealerError) as info:
        doc = parse_sealed(text, source="t.sealed.yaml")
        open_document(doc, [ALICE]).plaintext()
    assert "hunter2" not in str(info.value) and "hunter2" not in str(info.value.hint)


def mutated(change: Callable[[dict[str, Any]], None]) -> str:
    t = tree()
    change(t)
    return yamlio.dump(t)


def test_untouched_file_opens() -> None:
    assert open_document(parse_sealed(TEXT, source="t"), [ALICE]).plaintext() == sample()


def swap(a: tuple[Any, ...], b: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(t: dict[str, Any]) -> None:
        pa, pb = _parent(t, a), _parent(t, b)
        pa[a[-1]], pb[b[-1]] = pb[b[-1]], pa[a[-1]]
    return change


def _parent(t: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = t
    for part in path[:-1]:
        node = node[part]
    return node


def edit(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(t: dict[str, Any]) -> None:
        _parent(t, path)[path[-1]] = value
    return change


def delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(t: dict[str, Any]) -> None:
        del _parent(t, path)[path[-1]]
    return change


def rename_key(t: dict[str, Any]) -> None:
    db = t["data"]["db"]
    t["data"]["db"] = {("passwd" if k == "password" else k): v for k, v in db.items()}


def move_key(t: dict[str, Any]) -> None:
    t["data"]["flags"]["password"] = t["data"]["db"].pop("password")


def add_key(t: dict[str, Any]) -> None:
    t["data"]["db"]["copy"] = t["data"]["db"]["password"]


def retype(t: dict[str, Any]) -> None:
    t["data"]["db"]["password"] = t["data"]["db"]["password"].replace("ENC[str,", "ENC[bytes,")


def drop_recipient(t: dict[str, Any]) -> None:
    t["recipients"] = [r for r in t["recipients"] if r["recipient"] != BOB_R.text]


def add_recipient(t: dict[str, Any]) -> None:
    # Mallory cannot wrap the real data key; the best she can do is wrap some other key.
    entry = {"recipient": MALLORY_R.text, "key": wrap_key(bytes(32), MALLORY_R)}
    t["recipients"] = sorted([*t["recipients"], entry], key=lambda r: r["recipient"])


def relabel_recipients(t: dict[str, Any]) -> None:
    a, b = t["recipients"]
    a["key"], b["key"] = b["key"], a["key"]


def other_files_token(t: dict[str, Any]) -> None:
    t["data"]["db"]["password"] = OTHER.data["db"]["password"]


def older_versions_token(t: dict[str, Any]) -> None:
    changed = sample()
    changed["db"]["password"] = "rotated"
    newer = seal(changed, previous=open_document(DOC, [ALICE]))
    # Replay: the newer file with the old (still valid under the same key) ciphertext.
    replay = yamlio.load(newer.to_yaml(), source="t")
    replay["data"]["db"]["password"] = DOC.data["db"]["password"]
    t.clear()
    t.update(replay)


def clear_edit(t: dict[str, Any]) -> None:
    t["data"]["region_public"] = "us-east-1"


def mac_from_other_file(t: dict[str, Any]) -> None:
    t["mac"] = yamlio.load(OTHER.to_yaml(), source="o")["mac"]


def widen_clear_rule(t: dict[str, Any]) -> None:
    t["metadata"]["clear"] = {"suffix": "_public", "regex": "^host$"}
    t["data"]["db"]["host"] = "evil.example.com"


def hand_edited_into_clear(t: dict[str, Any]) -> None:
    t["data"]["db"]["password"] = "plaintext-now"


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "two values swapped": swap(("data", "db", "host"), ("data", "db", "password")),
    "two list items swapped": swap(("data", "list", 0), ("data", "list", 1)),
    "values swapped across maps": swap(("data", "db", "host"), ("data", "flags", "zip")),
    "key deleted": delete(("data", "db", "port")),
    "list item deleted": delete(("data", "list", 1)),
    "key added": add_key,
    "key renamed": rename_key,
    "key moved": move_key,
    "type changed": retype,
    "empty map removed": delete(("data", "empty_map")),
    "recipient removed by hand": drop_recipient,
    "recipient added by hand": add_recipient,
    "wrapped keys swapped between recipients": relabel_recipients,
    "metadata edited": edit(("metadata", "owner"), "team-b"),
    "key metadata edited": edit(("metadata", "keys", "db.password", "description"), "x"),
    "clear rule widened": widen_clear_rule,
    "clear value edited": clear_edit,
    "file id changed": edit(("sealer", "id"), "0" * 32),
    "serial changed": edit(("sealer", "serial"), 7),
    "created changed": edit(("sealer", "created"), "2020-01-01T00:00:00Z"),
    "modified changed": edit(("sealer", "modified"), "2030-01-01T00:00:00Z"),
    "format changed": edit(("sealer", "format"), 2),
    "token from another file": other_files_token,
    "token replayed from an older version": older_versions_token,
    "mac from another file": mac_from_other_file,
    "mac removed": delete(("mac",)),
    "value hand-edited into clear": hand_edited_into_clear,
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_rejected(name: str) -> None:
    attempt(mutated(MUTATIONS[name]))


def test_swap_rejection_is_an_integrity_failure() -> None:
    message = r"^t: authentication failed: the file is corrupt or was modified without its key$"
    with pytest.raises(IntegrityError, match=message):
        doc = parse_sealed(mutated(MUTATIONS["two values swapped"]), source="t")
        open_document(doc, [ALICE])


def test_hand_edited_value_is_named_without_a_key() -> None:
    with pytest.raises(FormatError, match=r"db\.password is not encrypted"):
        parse_sealed(mutated(hand_edited_into_clear), source="t")


def test_every_single_byte_flip_is_rejected() -> None:
    raw = TEXT.encode()
    for position in range(len(raw)):
        flipped = bytearray(raw)
        flipped[position] ^= 1 << (position % 8)
        attempt(bytes(flipped))


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncation_is_rejected(keep: float) -> None:
    attempt(TEXT.encode()[: int(len(TEXT) * keep)])


def test_truncation_at_every_line() -> None:
    lines = TEXT.splitlines(keepends=True)
    for count in range(len(lines)):
        attempt("".join(lines[:count]))


def test_forgery_without_the_key_cannot_reuse_the_old_recipients() -> None:
    """A new file made from public keys only is valid but unrelated: old tokens don't carry over."""
    forged = copy.deepcopy(tree())
    fresh = yamlio.load(seal({"db": {"password": "x"}}, recipients=[ALICE_R, BOB_R]).to_yaml(),
                        source="f")
    forged["recipients"] = fresh["recipients"]
    attempt(yamlio.dump(forged))


def test_a_file_not_sealed_for_you() -> None:
    doc = parse_sealed(TEXT, source="t")
    with pytest.raises(NoIdentityError):
        open_document(doc, [MALLORY])
