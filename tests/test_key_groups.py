"""Key groups with a threshold (FORMAT.md §1.6, docs/KEY-GROUPS.md): Shamir's secret sharing
(`sealer.shamir`) against SOPS's vectors and by its properties, and grouped files end to end
through the real CLI with real age-keygen identities and, for KMS, moto's server (the fixture
of tests/test_kms.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import Demo, Result, make_identity, run
from hypothesis import given, settings
from hypothesis import strategies as st
from sops_helpers import identities, vectors
from test_kms import Kms, kms, kms_endpoint  # noqa: F401 (fixtures)

from sealer import agefile
from sealer.document import parse_sealed
from sealer.errors import FormatError, IntegrityError
from sealer.shamir import combine, split

pytest_plugins = ["cli_fixtures"]

SECRET = "c0rrect-horse"  # db.password in the demo's app.yaml


# -- Shamir: SOPS's shares combine; split round-trips; fewer shares say nothing ---------------


def _sops_shares() -> list[bytes]:
    tree = yaml.safe_load((vectors() / "basic.shamir_2of3.enc.yaml").read_text())
    groups = tree["sops"]["key_groups"]
    shares = []
    for group, name in zip(groups, ("key1", "key2", "key3"), strict=True):
        natives = [i.native for i in identities(name)]
        shares.append(agefile.decrypt(group["age"][0]["enc"].encode(), natives))
    return shares


def test_sops_shares_combine_to_one_key_from_every_pair() -> None:
    shares = _sops_shares()
    assert all(len(s) == 33 for s in shares)
    keys = {combine(list(pair)) for pair in itertools.combinations(shares, 2)}
    assert len(keys) == 1 and len(keys.pop()) == 32
    assert combine(shares) == combine(shares[:2])  # more shares than needed: the same key


def test_sops_import_still_opens_the_shamir_vector() -> None:
    from sealer.sops import decrypt_file

    source = vectors() / "basic.shamir_2of3.enc.yaml"
    opened = decrypt_file(source.read_bytes(), identities("key1", "key3"), source=str(source))
    assert opened.branches


@settings(max_examples=60, deadline=None)
@given(secret=st.binary(min_size=1, max_size=40), count=st.integers(1, 6), data=st.data())
def test_every_threshold_of_shares_gives_the_secret(secret: bytes, count: int,
                                                    data: st.DataObject) -> None:
    threshold = data.draw(st.integers(1, count))
    xs = data.draw(st.lists(st.integers(1, 255), min_size=count, max_size=count, unique=True))
    shares = split(secret, xs, threshold)
    assert [s[-1] for s in shares] == xs
    for size in range(threshold, count + 1):
        for subset in itertools.combinations(shares, size):
            got = combine(list(subset)) if threshold > 1 else subset[0][:-1]
            assert got == secret


def test_fewer_shares_than_the_threshold_are_equally_consistent_with_every_secret() -> None:
    """For a threshold of 2 and of 3, the N-1 shares' values are a bijection of the random
    coefficients whatever the secret: each candidate secret is consistent with exactly one
    choice of coefficients for any N-1 shares seen, so they say nothing about it."""
    for secret in range(256):  # threshold 2: one share, every secret, every coefficient
        seen = {split(bytes([secret]), [7, 200], 2, random=_fixed(c, 1))[0][0]
                for c in range(256)}
        assert len(seen) == 256
    for secret in (0, 1, 0x5A, 0xFF):  # threshold 3: two shares, every pair of coefficients
        pairs = {tuple(s[0] for s in split(bytes([secret]), [3, 9, 77], 3,
                                           random=_fixed(c, 2))[:2])
                 for c in range(65536)}
        assert len(pairs) == 65536


def _fixed(value: int, size: int) -> Callable[[int], bytes]:
    """A "random" source returning these coefficients."""
    def source(n: int) -> bytes:
        assert n == size
        return value.to_bytes(size, "big")

    return source


def test_malformed_shares_are_an_integrity_failure() -> None:
    shares = split(b"k" * 32, [1, 2, 3], 2)
    for bad in ([shares[0], shares[0]], [shares[0], shares[1][:-2] + shares[1][-1:]],
                [shares[0][:-1] + b"\x00", shares[1]], []):
        with pytest.raises(IntegrityError):
            combine(bad)
    with pytest.raises(ValueError):
        split(b"k", [1, 1], 2)
    with pytest.raises(ValueError):
        split(b"k", [1, 2], 3)


# -- grouped files through the CLI ------------------------------------------------------------


class Team:
    """Three people with real age-keygen identities, and key files holding any two of them."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.names = ("security", "platform", "breakglass")
        self.recipients = {n: make_identity(demo.dir / f"{n}.key") for n in self.names}

    def keys(self, *names: str) -> Path:
        out = self.demo.dir / ("-".join(names) + ".keys")
        out.write_text("".join((self.demo.dir / f"{n}.key").read_text() for n in names))
        out.chmod(0o600)
        return out

    def seal(self, *extra: str, target: str = "team.sealed.yaml") -> Result:
        groups = [a for n in self.names for a in ("--group", self.recipients[n])]
        return self.demo.run("seal", "app.yaml", "-o", target, *groups, "--threshold", "2",
                             *extra)

    def get(self, *names: str, target: str = "team.sealed.yaml",
            env: dict[str, str | None] | None = None) -> Result:
        return self.demo.run("get", "-i", self.keys(*names), target, "db.password", env=env)


def test_two_of_three_opens_with_every_pair_and_not_with_one(demo: Demo) -> None:
    team = Team(demo)
    sealed = team.seal()
    assert sealed.code == 0, sealed.err
    tree = yaml.safe_load((demo.dir / "team.sealed.yaml").read_text())
    assert tree["sealer"]["format"] == 2 and tree["sealer"]["threshold"] == 2
    assert [e["group"] for e in tree["recipients"]] == [1, 2, 3]
    for pair in itertools.combinations(team.names, 2):
        got = team.get(*pair)
        assert (got.code, got.out) == (0, SECRET), (pair, got.err)
    for name in team.names:
        got = team.get(name)
        assert (got.code, got.out) == (3, ""), got.err
        assert "key groups: 1 of the 2 needed of 3 groups opened" in got.err
        missing = [f"group {i + 1}" for i, n in enumerate(team.names) if n != name]
        assert all(m in got.err for m in missing), got.err
        assert team.recipients[name][:16] not in got.err
    got = run("render", "--format", "dotenv", "--stdout", "team.sealed.yaml", "-i",
              team.keys("platform"), cwd=demo.dir)
    assert got.code == 3 and SECRET not in got.out and "missing: group 1" in got.err, got.err
    got = run("render", "--format", "dotenv", "--stdout", "team.sealed.yaml", "-i",
              team.keys("platform", "breakglass"), cwd=demo.dir)
    assert got.code == 0 and SECRET in got.out, got.err


def test_missing_groups_are_named_by_their_principals(demo: Demo) -> None:
    team = Team(demo)
    (demo.dir / "sealer.yaml").write_text(
        "version: 1\nprincipals:\n" + "".join(f"  {n}: {r}\n" for n, r in team.recipients.items()))
    assert team.seal().code == 0
    got = team.get("security")
    assert got.code == 3
    assert "missing: group 2 (platform); group 3 (breakglass)" in got.err, got.err


def test_listed_and_shown_by_group(demo: Demo) -> None:
    team = Team(demo)
    assert team.seal().code == 0
    listed = demo.run("recipients", "list", "team.sealed.yaml")
    assert listed.out.splitlines() == [f"group {i}: {team.recipients[n]}"
                                       for i, n in enumerate(team.names, start=1)]
    rows = json.loads(demo.run("recipients", "list", "team.sealed.yaml", "-f", "json").out)
    assert [r["group"] for r in rows] == [1, 2, 3]
    shown = yaml.safe_load(demo.run("show", "team.sealed.yaml").out)
    assert shown["key_groups"] == {"threshold": 2,
                                   "groups": [[team.recipients[n]] for n in team.names]}
    plain = yaml.safe_load(demo.run("show", "app.sealed.yaml").out)
    assert "key_groups" not in plain and plain["format"] == 1


def test_writes_keep_the_groups_and_rekey_makes_new_shares(demo: Demo) -> None:
    team = Team(demo)
    assert team.seal().code == 0
    before = parse_sealed((demo.dir / "team.sealed.yaml").read_bytes(), source="x")
    done = demo.run("set", "-i", team.keys("security", "platform"), "team.sealed.yaml",
                    "db.user", "bob")
    assert done.code == 0, done.err
    after = parse_sealed((demo.dir / "team.sealed.yaml").read_bytes(), source="x")
    assert after.recipients == before.recipients and after.header.threshold == 2
    done = demo.run("rekey", "-i", team.keys("security", "platform"), "team.sealed.yaml")
    assert done.code == 0, done.err
    rekeyed = parse_sealed((demo.dir / "team.sealed.yaml").read_bytes(), source="x")
    assert rekeyed.header.commitment != before.header.commitment
    assert [w.group for w in rekeyed.recipients] == [1, 2, 3]
    got = team.get("platform", "breakglass")
    assert (got.code, got.out) == (0, SECRET), got.err
    added = demo.run("recipients", "add", "-i", team.keys("security", "platform"),
                     "team.sealed.yaml", "-r", demo.other_recipient)
    assert added.code == 2 and "--group" in added.err


def test_a_share_from_another_file_is_refused(demo: Demo) -> None:
    team = Team(demo)
    assert team.seal().code == 0 and team.seal(target="other.sealed.yaml").code == 0
    mine = yaml.safe_load((demo.dir / "team.sealed.yaml").read_text())
    other = yaml.safe_load((demo.dir / "other.sealed.yaml").read_text())
    mine["recipients"][1]["key"] = other["recipients"][1]["key"]
    (demo.dir / "team.sealed.yaml").write_text(yaml.safe_dump(mine, sort_keys=False))
    got = team.get("security", "platform")
    assert got.code == 4 and "authentication failed" in got.err and SECRET not in got.out
    got = team.get("security", "breakglass")  # the MAC covers every entry, used or not
    assert got.code == 4 and SECRET not in got.out


def test_a_share_moved_to_another_group_is_refused(demo: Demo) -> None:
    team = Team(demo)
    assert team.seal().code == 0
    tree = yaml.safe_load((demo.dir / "team.sealed.yaml").read_text())
    tree["recipients"][0]["group"], tree["recipients"][1]["group"] = 2, 1
    tree["recipients"][:2] = tree["recipients"][1::-1]
    (demo.dir / "team.sealed.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))
    got = team.get("security", "platform")
    assert got.code == 4 and "authentication failed" in got.err


def _grouped(demo: Demo) -> dict[str, Any]:
    team = Team(demo)
    assert team.seal().code == 0
    tree: dict[str, Any] = yaml.safe_load((demo.dir / "team.sealed.yaml").read_text())
    return tree


@pytest.mark.parametrize("damage", [
    "threshold above the groups", "threshold zero", "a group missing", "no group field",
    "a group field in format 1", "threshold in format 1", "no threshold", "group 17",
    "one recipient in two groups",
])
def test_malformed_group_data_is_refused_before_any_unwrap(demo: Demo, damage: str) -> None:
    tree = _grouped(demo)
    header, entries = tree["sealer"], tree["recipients"]
    if damage == "threshold above the groups":
        header["threshold"] = 4
    elif damage == "threshold zero":
        header["threshold"] = 0
    elif damage == "a group missing":
        entries[2]["group"] = 4
    elif damage == "no group field":
        del entries[0]["group"]
    elif damage == "a group field in format 1":
        header["format"] = 1
        del header["threshold"]
    elif damage == "threshold in format 1":
        header["format"] = 1
        for e in entries:
            del e["group"]
    elif damage == "no threshold":
        del header["threshold"]
    elif damage == "group 17":
        entries[2]["group"] = 17
    elif damage == "one recipient in two groups":
        entries[1]["recipient"] = entries[0]["recipient"]
    text = yaml.safe_dump(tree, sort_keys=False)
    with pytest.raises(FormatError):
        parse_sealed(text, source="t.sealed.yaml")
    (demo.dir / "team.sealed.yaml").write_text(text)
    shown = demo.run("show", "team.sealed.yaml")
    assert shown.code == 4 and "malformed sealed file" in shown.err, shown.err


@pytest.mark.parametrize(("args", "message"), [
    (["--group", "A", "--threshold", "2"], "the threshold must be 1 to 1"),
    (["--group", "A", "--group", "B"], "--threshold"),
    (["--group", "A", "--group", "A", "--threshold", "1"], "is in two key groups"),
    (["--group", "A", "--group", "B", "--threshold", "1", "-r", "A"], "without -r/-R"),
])
def test_usage_errors(demo: Demo, args: list[str], message: str) -> None:
    texts = {"A": demo.recipient, "B": demo.other_recipient}
    got = demo.run("seal", "app.yaml", "-o", "g.sealed.yaml", *[texts.get(a, a) for a in args])
    assert got.code == 2 and message in got.err, got.err
    assert not (demo.dir / "g.sealed.yaml").exists()


def test_files_without_groups_stay_format_1(demo: Demo) -> None:
    sealed = demo.run("seal", "app.yaml", "-o", "plain.sealed.yaml", "-r", demo.recipient)
    assert sealed.code == 0
    text = (demo.dir / "plain.sealed.yaml").read_text()
    tree = yaml.safe_load(text)
    assert tree["sealer"]["format"] == 1 and "threshold" not in tree["sealer"]
    assert all(tuple(e) == ("recipient", "key") for e in tree["recipients"])


# -- mixed with AWS KMS (moto) ----------------------------------------------------------------


def test_a_group_of_kms_keys_counts_as_one_group(demo: Demo, kms: Kms) -> None:  # noqa: F811
    team = Team(demo)
    east, west = kms.key("us-east-1"), kms.key("eu-west-1")
    sealed = kms.run(demo, "seal", "app.yaml", "-o", "kms.sealed.yaml",
                     "--group", team.recipients["security"], "--group", f"{east},{west}",
                     "--group", team.recipients["breakglass"], "--threshold", "2")
    assert sealed.code == 0, sealed.err
    tree = yaml.safe_load((demo.dir / "kms.sealed.yaml").read_text())
    assert [(e["group"], e["recipient"]) for e in tree["recipients"]][1:3] == \
        sorted([(2, east), (2, west)])
    for region in ("us-east-1", "eu-west-1"):  # security's key, and KMS for group 2
        got = kms.run(demo, "get", "-i", team.keys("security"), "kms.sealed.yaml",
                      "db.password", env={"AWS_DEFAULT_REGION": region})
        assert (got.code, got.out) == (0, SECRET), got.err
    got = kms.run(demo, "get", "-i", team.keys("security", "breakglass"), "kms.sealed.yaml",
                  "db.password", env={"AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:9"})
    assert (got.code, got.out) == (0, SECRET), got.err  # two local groups: no KMS call
    refused = kms.run(demo, "get", "-i", team.keys("security"), "kms.sealed.yaml",
                      "db.password", env={"SEALER_KMS_KEYS": None})
    assert refused.code == 3 and "1 of the 2 needed" in refused.err
    assert "group 2 (arn:aws:kms:" in refused.err


def test_a_kms_share_moved_to_another_group_is_refused_by_kms(demo: Demo,
                                                              kms: Kms) -> None:  # noqa: F811
    """The encryption context names the group: an entry moved to another group (its key
    intact) is refused by KMS itself."""
    team = Team(demo)
    first, second = kms.key(), kms.key()
    sealed = kms.run(demo, "seal", "app.yaml", "-o", "kms.sealed.yaml",
                     "--group", team.recipients["security"], "--group", first,
                     "--group", second, "--threshold", "2")
    assert sealed.code == 0, sealed.err
    got = kms.run(demo, "get", "-i", team.keys("security"), "kms.sealed.yaml", "db.password")
    assert (got.code, got.out) == (0, SECRET), got.err
    tree = yaml.safe_load((demo.dir / "kms.sealed.yaml").read_text())
    entries = tree["recipients"]
    entries[1]["group"], entries[2]["group"] = 3, 2
    entries[1:] = sorted(entries[1:], key=lambda e: e["group"])
    (demo.dir / "kms.sealed.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))
    got = kms.run(demo, "get", "-i", team.keys("security"), "kms.sealed.yaml", "db.password")
    assert got.code == 3 and "1 of the 2 needed" in got.err, got.err
    assert "AWS KMS refused" in got.err and SECRET not in got.out


# -- sealer.yaml: an environment requiring key groups -----------------------------------------


def _config(demo: Demo, team: Team, groups: str = "[[security], [platform], [breakglass]]",
            threshold: int = 2) -> None:
    (demo.dir / "sealer.yaml").write_text(
        "version: 1\nprincipals:\n"
        + "".join(f"  {n}: {r}\n" for n, r in team.recipients.items())
        + f"  alice: {demo.recipient}\n"
        "environments:\n  prod:\n    recipients: [alice]\n"
        f"    key_groups: {{threshold: {threshold}, groups: {groups}}}\n"
        "  dev:\n    recipients: [alice]\n"
        "creation_rules:\n- path: 'prod-*.sealed.yaml'\n  environment: prod\n"
        "- path: '*.sealed.yaml'\n  environment: dev\n", encoding="utf-8")


def test_a_new_file_gets_its_environments_key_groups(demo: Demo) -> None:
    team = Team(demo)
    _config(demo, team)
    sealed = demo.run("seal", "app.yaml", "-o", "prod-app.sealed.yaml")
    assert sealed.code == 0, sealed.err
    doc = parse_sealed((demo.dir / "prod-app.sealed.yaml").read_bytes(), source="x")
    assert doc.header.threshold == 2
    assert [w.group for w in doc.recipients] == [1, 2, 3]
    checked = demo.run("check", "prod-app.sealed.yaml")
    assert checked.code == 0, checked.out + checked.err
    got = team.get("security", "breakglass", target="prod-app.sealed.yaml")
    assert (got.code, got.out) == (0, SECRET), got.err


def test_check_finds_a_file_without_the_required_groups(demo: Demo) -> None:
    team = Team(demo)
    _config(demo, team)
    from sealing import forge

    forge(demo.dir / "prod-flat.sealed.yaml", {"a": "b"}, [demo.recipient])
    assert team.seal("--threshold", "1", target="prod-low.sealed.yaml").code == 1  # the gate
    checked = demo.run("check", "prod-flat.sealed.yaml")
    assert checked.code == 1
    assert "key-groups" in checked.out + checked.err
    assert "not sealed with key groups; prod requires 2 of 3 key groups: security; " \
           "platform; breakglass" in checked.out + checked.err


def test_the_write_gate_refuses_writes_without_the_required_groups(demo: Demo) -> None:
    team = Team(demo)
    _config(demo, team)
    flat = demo.run("seal", "app.yaml", "-o", "prod-app.sealed.yaml", "-r", demo.recipient)
    assert flat.code == 1 and "not sealed with key groups; prod requires 2 of 3" in flat.err
    assert "--group security --group platform --group breakglass --threshold 2" in flat.err
    low = demo.run("seal", "app.yaml", "-o", "prod-app.sealed.yaml", "--group", "security",
        "--group", "platform", "--group", "breakglass", "--threshold", "1")
    assert low.code == 1 and "sealed for 1 of 3 key groups" in low.err, low.err
    merged = demo.run("seal", "app.yaml", "-o", "prod-app.sealed.yaml", "--group",
                      "security,platform", "--group", "breakglass", "--threshold", "2")
    assert merged.code == 1 and "sealed for 2 of 2 key groups (" in merged.err, merged.err
    assert not (demo.dir / "prod-app.sealed.yaml").exists()
    named = demo.run("seal", "app.yaml", "-o", "prod-app.sealed.yaml", "--group", "security",
                     "--group", "platform", "--group", "breakglass", "--threshold", "3")
    assert named.code == 0, named.err  # a higher threshold than required is allowed


@pytest.mark.parametrize(("groups", "threshold", "message"), [
    ("[[security], [security]]", 1, "a principal is in two key groups"),
    ("[[security], [platform]]", 3, "threshold 3 is more than the 2 key groups"),
    ("[[nobody]]", 1, "'nobody' is neither a principal nor a group"),
    ("[[]]", 1, "key_groups"),
])
def test_bad_key_groups_in_sealer_yaml(demo: Demo, groups: str, threshold: int,
                                       message: str) -> None:
    team = Team(demo)
    _config(demo, team, groups, threshold)
    got = demo.run("check", "app.sealed.yaml")
    assert got.code == 2 and message in got.err, got.err


# -- the library: writers that pass the recipients they found ---------------------------------


def test_the_same_recipients_keep_the_groups_and_others_are_refused() -> None:
    from sealing import new_identity

    from sealer.core import open_document, seal
    from sealer.errors import UsageError

    people = [new_identity() for _ in range(3)]
    doc = seal({"a": "b"}, groups=[[r] for _, r in people], threshold=2, source="t")
    opened = open_document(doc, [people[0][0], people[2][0]])
    again = seal({"a": "c"}, previous=opened, recipients=[r for _, r in reversed(people)],
                 source="t")
    assert again.recipients == doc.recipients and again.header.threshold == 2
    with pytest.raises(UsageError, match="has key groups"):
        seal({"a": "c"}, previous=opened, recipients=[people[0][1]], source="t")


def test_the_merge_driver_merges_files_with_key_groups(tmp_path: Path) -> None:
    from sealing import new_identity

    from sealer.core import open_document, seal
    from sealer.git.drivers import merge_files

    people = [new_identity() for _ in range(3)]
    ids = [people[0][0], people[1][0]]
    base = seal({"a": "1", "b": "1"}, groups=[[r] for _, r in people], threshold=2, source="t")
    ours = seal({"a": "2", "b": "1"}, previous=open_document(base, ids), source="t")
    theirs = seal({"a": "1", "b": "2"}, previous=open_document(base, ids), source="t")
    for name, doc in (("base", base), ("ours", ours), ("theirs", theirs)):
        (tmp_path / f"{name}.sealed.yaml").write_text(doc.to_yaml())
    merged = merge_files(tmp_path / "base.sealed.yaml", tmp_path / "ours.sealed.yaml",
                         tmp_path / "theirs.sealed.yaml", str(tmp_path / "app.sealed.yaml"), ids)
    assert merged.header.threshold == 2 and merged.recipients == base.recipients
    assert open_document(merged, [people[2][0], people[1][0]]).plaintext() == {"a": "2", "b": "2"}
