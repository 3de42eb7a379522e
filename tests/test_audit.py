"""The audit trail: every decryption appends a hash-chained entry without values; editing,
deleting or reordering entries is detected; a required log fails closed; concurrent writers
never interleave partial lines."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pyrage
import pytest
from cli_helpers import run
from sealing import new_identity

from sealer import audit, yamlio
from sealer.audit import AuditError, entries, verify
from sealer.errors import NoIdentityError
from sealer.files import get_value, seal_file, set_value, unset_values
from sealer.keys import parse_identities, parse_recipient

ALICE_SECRET = str(pyrage.x25519.Identity.generate())
ALICE = parse_identities(ALICE_SECRET.encode(), source="test", prompt=None)[0]
ALICE_R = parse_recipient(ALICE.recipient)
MALLORY, _ = new_identity()


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "audit.log"
    monkeypatch.setenv("SEALER_AUDIT_LOG", str(path))
    return path


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    out = tmp_path / "app.sealed.yaml"
    seal_file(yamlio.dump({"db": {"password": "hunter2-canary"}}).encode(), out, source="t",
              recipients=[ALICE_R])
    return out


def test_reads_are_recorded_without_values(log: Path, sealed: Path) -> None:
    assert get_value(sealed, "db.password", [ALICE]) == "hunter2-canary"
    with pytest.raises(NoIdentityError):
        get_value(sealed, "db.password", [MALLORY])
    set_value(sealed, "db.user", "app", [ALICE])
    rows = list(entries(log))
    assert [(r["action"], r["outcome"], r["keys"]) for r in rows] == [
        ("get", "ok", ["db.password"]),
        ("get", "refused: NoIdentityError", ["db.password"]),
        ("set", "ok", ["db.user"]),
    ]
    assert rows[0]["recipient"] == ALICE_R.text and rows[1]["recipient"] is None
    assert rows[0]["file"] == str(sealed) and rows[0]["user"] and rows[0]["host"]
    assert "hunter2" not in log.read_text()
    assert os.stat(log).st_mode & 0o777 == 0o600
    assert verify(log)[0] == 3


def chain_of(log: Path, sealed: Path, n: int = 4) -> list[bytes]:
    for _ in range(n):
        get_value(sealed, "db.password", [ALICE])
    return log.read_bytes().splitlines(keepends=True)


def test_an_edited_entry_is_detected(log: Path, sealed: Path) -> None:
    lines = chain_of(log, sealed)
    lines[1] = lines[1].replace(b'"get"', b'"GET"')
    log.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match="chain breaks at line 3"):
        verify(log)


def test_a_deleted_entry_is_detected(log: Path, sealed: Path) -> None:
    lines = chain_of(log, sealed)
    log.write_bytes(b"".join(lines[:1] + lines[2:]))
    with pytest.raises(AuditError, match="chain breaks at line 2"):
        verify(log)


def test_reordered_entries_are_detected(log: Path, sealed: Path) -> None:
    lines = chain_of(log, sealed)
    lines[1], lines[2] = lines[2], lines[1]
    log.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match="chain breaks at line 2"):
        verify(log)


def test_required_log_fails_closed(log: Path, sealed: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_AUDIT_REQUIRED", "1")
    log.parent.mkdir(parents=True)
    log.mkdir()  # a directory where the log should be: it cannot be written, even as root
    with pytest.raises(AuditError, match="nothing was decrypted"):
        get_value(sealed, "db.password", [ALICE])
    result = run("get", sealed, "db.password", "-i", "-", input=ALICE_SECRET,
                 env={"SEALER_AUDIT_LOG": str(log), "SEALER_AUDIT_REQUIRED": "1"})
    assert result.code == 1 and result.out == "" and "nothing was decrypted" in result.err
    monkeypatch.delenv("SEALER_AUDIT_REQUIRED")
    assert get_value(sealed, "db.password", [ALICE]) == "hunter2-canary"  # best effort


def test_required_via_sealer_yaml(tmp_path: Path, log: Path, sealed: Path) -> None:
    (tmp_path / "sealer.yaml").write_text("version: 1\naudit:\n  required: true\n")
    log.parent.mkdir(parents=True)
    log.mkdir()
    with pytest.raises(AuditError):
        get_value(sealed, "db.password", [ALICE])


def _hammer(path: str, file: str, count: int) -> None:
    settings = audit.Settings(Path(path), True)
    for i in range(count):
        audit.record("get", Path(file), keys=[f"k{i}" * 50], recipient="age1x",
                     outcome="ok", settings=settings)


def test_concurrent_writers_keep_whole_lines_and_the_chain(log: Path, sealed: Path) -> None:
    log.parent.mkdir(parents=True)
    workers = [multiprocessing.Process(target=_hammer, args=(str(log), str(sealed), 50))
               for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    lines = log.read_bytes().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["action"] == "get" for line in lines)
    assert verify(log)[0] == 200


def test_cli_verify_and_show(log: Path, sealed: Path) -> None:
    chain_of(log, sealed, 2)
    ok = run("audit", "verify", env={"SEALER_AUDIT_LOG": str(log)})
    assert ok.code == 0 and len(ok.out.strip()) == 64 and "2 entries, chain intact" in ok.err
    shown = run("audit", "show", "--file", sealed, "--format", "json",
                env={"SEALER_AUDIT_LOG": str(log)})
    assert [r["action"] for r in json.loads(shown.out)] == ["get", "get"]
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[1])
    broken = run("audit", "verify", env={"SEALER_AUDIT_LOG": str(log)})
    assert broken.code == 1 and "chain breaks at line 1" in broken.err


# -- sizes: any entry keeps the chain; an entry is at most 1 MiB --------------------------


def test_an_entry_over_64_kib_keeps_the_chain(log: Path, sealed: Path) -> None:
    """`unset` of 10,000 keys wrote a 200 KB line, and the next entry chained to a fragment."""
    settings = audit.Settings(log, True)
    keys = [f"service{i}.password" for i in range(10_000)]
    audit.record("unset", sealed, keys=keys, recipient="age1x", outcome="ok", settings=settings)
    get_value(sealed, "db.password", [ALICE])
    assert verify(log)[0] == 2
    assert next(entries(log))["keys"] == keys


def test_unset_of_many_keys_is_audited_whole(log: Path, tmp_path: Path) -> None:
    many = tmp_path / "many.sealed.yaml"
    data = {f"service_{i:05d}_with_a_long_name": "v" for i in range(3000)}
    seal_file(yamlio.dump(data).encode(), many, source="t", recipients=[ALICE_R])
    unset_values(many, list(data), [ALICE])
    assert log.stat().st_size > 65536
    set_value(many, "one", "v", [ALICE])
    assert verify(log)[0] == 2
    assert [r["action"] for r in entries(log)] == ["unset", "set"]


def test_an_entry_is_at_most_1_mib_and_counts_the_keys_it_leaves_out(log: Path,
                                                                    sealed: Path) -> None:
    settings = audit.Settings(log, True)
    keys = [f"k{i:06d}." + "x" * 100 for i in range(20_000)]  # 2.2 MB of key paths
    audit.record("unset", sealed, keys=keys, recipient="age1x", outcome="ok", settings=settings)
    line = log.read_bytes()
    assert audit.MAX_ENTRY_BYTES - 200 < len(line) <= audit.MAX_ENTRY_BYTES == 1024 * 1024
    row = next(entries(log))
    listed = len(row["keys"])
    assert row["keys"] == keys[:listed] and row["keys_count"] == 20_000
    assert row["keys_truncated"] == 20_000 - listed > 0
    get_value(sealed, "db.password", [ALICE])
    assert verify(log)[0] == 2


# -- batches: one write, one fsync, one lock ----------------------------------------------


def test_record_many_appends_chained_whole_lines(log: Path, sealed: Path) -> None:
    get_value(sealed, "db.password", [ALICE])
    batch = [audit.Entry("get", sealed, keys=[f"k{i}"], recipient="age1x") for i in range(3)]
    batch.append(audit.Entry("get", sealed, recipient=None, outcome="refused: NoIdentityError"))
    audit.record_many(batch, audit.Settings(log, True))
    rows = list(entries(log))
    assert [(r["keys"], r["outcome"]) for r in rows[1:]] == [
        (["k0"], "ok"), (["k1"], "ok"), (["k2"], "ok"), ([], "refused: NoIdentityError")]
    assert all(r["file"] == str(sealed) and r["user"] and r["host"] for r in rows)
    assert verify(log)[0] == 5
    audit.record_many([], audit.Settings(log, True))
    assert verify(log)[0] == 5


def _batches(path: str, file: str, count: int) -> None:
    settings = audit.Settings(Path(path), True)
    for i in range(count):
        audit.record_many([audit.Entry("get", Path(file), keys=[f"batch-{os.getpid()}-{i}"],
                                       recipient="age1x") for _ in range(5)], settings)


def test_concurrent_batches_and_single_entries_keep_the_chain(log: Path, sealed: Path) -> None:
    log.parent.mkdir(parents=True)
    workers = [multiprocessing.Process(target=target, args=(str(log), str(sealed), 20))
               for target in (_batches, _batches, _hammer, _hammer)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert verify(log)[0] == 2 * 20 * 5 + 2 * 20
    keys = [json.loads(line)["keys"][0] for line in log.read_bytes().splitlines()]
    where: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        if key.startswith("batch-"):
            where.setdefault(key, []).append(index)
    assert len(where) == 40
    for batch in where.values():  # one write under one lock: a batch is never split
        assert batch == list(range(batch[0], batch[0] + 5))
