"""Rotation without a database: versions in the sealed format (FORMAT.md §10), the state
machine with a generator or the `command` rotator, status, configure and its bad input."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sealing import new_identity

from sealer import yamlio
from sealer.core import open_document, seal
from sealer.document import parse_sealed, read_sealed
from sealer.errors import IntegrityError, SealerError, UsageError
from sealer.files import get_value, recipients_add, recipients_remove, set_value
from sealer.keys import Identity
from sealer.rotation.protocol import RotationFailed, configure_rotation, rollback, rotate
from sealer.rotation.versions import rotation_status
from sealer.times import parse_interval

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def trust_unsigned_rotators(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are unsigned: this host trusts their rotation settings, as an operator
    would say with SEALER_TRUST_UNSIGNED_ROTATORS=1 (tests/test_trust_boundaries.py covers the
    refusal without it)."""
    monkeypatch.setenv("SEALER_TRUST_UNSIGNED_ROTATORS", "1")


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, Identity]:
    identity, recipient = new_identity()
    path = tmp_path / "app.sealed.yaml"
    doc = seal({"api": {"token": "old-token"}, "other": "x"}, recipients=[recipient],
               source=str(path))
    path.write_text(doc.to_yaml(), encoding="utf-8")
    return path, identity


def test_interval() -> None:
    assert parse_interval("30d") == timedelta(days=30)
    assert parse_interval("12w") == timedelta(weeks=12)
    assert parse_interval("6h") == timedelta(hours=6)
    for bad in ("30", "d", "0d", "1.5d", "30m", ""):
        with pytest.raises(UsageError, match="malformed interval"):
            parse_interval(bad)


def test_rotate_generator_versions_and_stages(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="30d", generator={"kind": "password",
                                                                            "length": 20})
    rotate(path, "api.token", [ident], now=T0)
    new = get_value(path, "api.token", [ident])
    assert len(new) == 20
    assert get_value(path, "api.token", [ident], stage="previous") == "old-token"
    rot = read_sealed(path).metadata["keys"]["api.token"]["rotation"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                        rot["version"])  # a UUID, as AWS's VersionId
    assert rot["rotated_at"] == "2026-01-01T00:00:00Z" and rot["created"] == rot["rotated_at"]
    assert "pending" not in rot
    currents = [1, rot["version"]]  # the file's first value is version 1
    later = datetime.now(UTC).replace(microsecond=0)  # after the file's own creation
    for day in range(1, 6):
        rotate(path, "api.token", [ident], now=later + timedelta(days=day))
        currents.append(read_sealed(path).metadata["keys"]["api.token"]["rotation"]["version"])
    assert len(set(currents)) == 7  # ids never repeat
    doc = read_sealed(path)
    entries = doc.versions["api.token"]
    # keep: 3 unlabelled versions, plus every labelled one (PREVIOUS), oldest first
    assert [e["id"] for e in entries] == currents[2:6]
    assert [e["stages"] for e in entries] == [[], [], [], ["PREVIOUS"]]
    assert [e["created"] for e in entries] == sorted(e["created"] for e in entries)
    from sealer.files import show_file

    shown = show_file(path)["versions"]["api.token"]
    assert [v["id"] for v in shown] == currents[2:6] and "value" not in shown[0]
    with pytest.raises(SealerError, match="no PENDING version"):
        get_value(path, "api.token", [ident], stage="pending")


def test_file_layout_and_stable_tokens(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="30d")
    rotate(path, "api.token", [ident], now=T0)
    text = path.read_text(encoding="utf-8")
    tops = [line.split(":")[0] for line in text.splitlines() if line and line[0] != " "]
    assert tops[:5] == ["sealer", "data", "versions", "metadata", "recipients"]
    before = read_sealed(path).versions
    set_value(path, "other", "y", [ident])  # an unrelated write keeps version tokens
    assert read_sealed(path).versions == before
    _, recipient = new_identity()
    recipients_add(path, [recipient], [ident])
    assert read_sealed(path).versions == before


def test_tampered_version_token_is_detected(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="30d")
    rotate(path, "api.token", [ident], now=T0)
    doc = read_sealed(path)
    opened = open_document(doc, [ident])
    token = doc.versions["api.token"][0]["value"]
    # Moved into data: the MAC and the AAD domain both refuse it.
    doc.data["api"]["token"] = token
    forged = _remac(doc, opened.keys)
    with pytest.raises(IntegrityError):
        open_document(forged, [ident]).plaintext()
    # Moved to another version id.
    doc = read_sealed(path)
    doc.versions["api.token"][0]["id"] = 7
    with pytest.raises(IntegrityError):
        open_document(_remac(doc, opened.keys), [ident]).versions()
    # Changed without the key.
    text = path.read_text(encoding="utf-8").replace("id: 1", "id: 9")
    with pytest.raises(IntegrityError):
        open_document(parse_sealed(text, source="x"), [ident])


def _remac(doc: Any, keys: Any) -> Any:
    """Re-MAC a document with its own key: isolates the per-token AAD check from the MAC."""
    doc.mac = keys.mac(doc.authenticated_tree())
    return parse_sealed(doc.to_yaml(), source="x")


def test_removed_recipient_cannot_read_old_versions(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    bob, bob_r = new_identity()
    recipients_add(path, [bob_r], [ident])
    configure_rotation(path, "api.token", [ident], every="30d")
    rotate(path, "api.token", [ident], now=T0)
    old_key = open_document(read_sealed(path), [ident]).keys.data_key
    alice_r = next(r for r in read_sealed(path).recipients if r.recipient != bob_r.text)
    from sealer.keys import parse_recipient

    recipients_remove(path, [parse_recipient(alice_r.recipient)], [bob])
    doc = read_sealed(path)
    assert open_document(doc, [bob]).keys.data_key != old_key
    assert get_value(path, "api.token", [bob], stage="previous") == "old-token"
    from sealer.envelope import Keys

    stale = Keys(old_key, doc.header.id_bytes)
    _, vid, full, token = doc.version_tokens()[0]
    with pytest.raises(IntegrityError):
        stale.decrypt(full, token, vid)


def test_rollback_swaps_current_and_previous(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="30d")
    rotate(path, "api.token", [ident], now=T0)
    new = get_value(path, "api.token", [ident])
    rollback(path, "api.token", [ident])
    assert get_value(path, "api.token", [ident]) == "old-token"
    assert get_value(path, "api.token", [ident], stage="previous") == new
    rotate(path, "api.token", [ident], now=T0)  # ids stay unique after a rollback
    ids = [e["id"] for e in read_sealed(path).versions["api.token"]]
    assert len(ids) == len(set(ids))


def _command(tmp_path: Path, fail_at: str) -> list[str]:
    script = tmp_path / "rot.py"
    script.write_text(
        "import json, sys\nstep = sys.argv[-1]\nmsg = json.load(sys.stdin)\n"
        f"if step == {fail_at!r}:\n    print('target said no', file=sys.stderr); sys.exit(3)\n"
        "if step == 'create':\n    print(json.dumps('new-' + msg['current']))\n",
        encoding="utf-8")
    return [sys.executable, str(script)]


def test_failure_at_test_is_recorded_and_resumable(sealed: tuple[Path, Identity],
                                                  tmp_path: Path) -> None:
    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="30d", rotator="command",
                       settings={"command": _command(tmp_path, "test")})
    with pytest.raises(RotationFailed) as info:
        rotate(path, "api.token", [ident], now=T0)
    assert "step test" in str(info.value) and "--resume" in str(info.value.hint)
    assert "new-old-token" not in str(info.value)
    rot = read_sealed(path).metadata["keys"]["api.token"]["rotation"]
    assert rot["pending"]["step"] == "set"  # the command's stderr ("target said no") is not kept
    assert rot["pending"]["error"] == "test: the command exited with status 3"
    assert get_value(path, "api.token", [ident]) == "old-token"
    assert get_value(path, "api.token", [ident], stage="pending") == "new-old-token"
    with pytest.raises(UsageError, match="in progress"):
        rotate(path, "api.token", [ident])
    configure_rotation(path, "api.token", [ident], every="30d", rotator="command",
                       settings={"command": _command(tmp_path, "never")})
    rotate(path, "api.token", [ident], resume=True, now=T0)
    assert get_value(path, "api.token", [ident]) == "new-old-token"


def test_abandon_drops_pending(sealed: tuple[Path, Identity], tmp_path: Path) -> None:
    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="30d", rotator="command",
                       settings={"command": _command(tmp_path, "set")})
    with pytest.raises(RotationFailed, match="step set"):
        rotate(path, "api.token", [ident], now=T0)
    rotate(path, "api.token", [ident], abandon=True)
    doc = read_sealed(path)
    assert not doc.versions
    assert "pending" not in doc.metadata["keys"]["api.token"]["rotation"]
    with pytest.raises(UsageError, match="no rotation"):
        rotate(path, "api.token", [ident], resume=True)


def test_configure_bad_input_writes_nothing(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    before = path.read_bytes()
    with pytest.raises(UsageError, match="unknown rotator 'oracle'"):
        configure_rotation(path, "api.token", [ident], every="30d", rotator="oracle")
    with pytest.raises(UsageError, match="malformed interval"):
        configure_rotation(path, "api.token", [ident], every="monthly")
    with pytest.raises(UsageError, match=r"no key api\.nope"):
        configure_rotation(path, "api.nope", [ident], every="30d")
    assert path.read_bytes() == before


def test_status_states_with_injected_now(sealed: tuple[Path, Identity]) -> None:
    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="30d")
    configure_rotation(path, "other", [ident], every="30d")
    (row_never,) = [r for r in rotation_status([path]) if r.key == "api.token"]
    assert row_never.state == "never rotated"
    rotate(path, "api.token", [ident], now=T0)
    states = {d: rotation_status([path.parent], now=T0 + timedelta(days=d))[0].state
              for d in (1, 25, 31)}
    assert states == {1: "ok", 25: "due soon", 31: "overdue"}
    row = rotation_status([path], now=T0 + timedelta(days=10))[0]
    assert row.days_left == 20 and row.due == "2026-01-31T00:00:00Z"


def test_status_cli_exit_codes_and_json(sealed: tuple[Path, Identity]) -> None:
    from cli_helpers import run

    path, ident = sealed
    configure_rotation(path, "api.token", [ident], every="1h")
    rotate(path, "api.token", [ident], now=T0)
    result = run("rotation", "status", path, "--format", "json")
    assert result.code == 1
    rows = json.loads(result.out)
    assert rows[0]["key"] == "api.token" and rows[0]["state"] == "overdue"
    configure_rotation(path, "api.token", [ident], every="12w")
    rotate(path, "api.token", [ident])  # now
    result = run("rotation", "status", path)
    assert result.code == 0 and "api.token" in result.out and "STATE" in result.out
    result = run("rotation", "status", path, "--due-within", "soon")
    assert result.code == 2 or result.code == 1
    assert "malformed interval" in result.err


def test_tls_certificate_expiry_is_recorded_at_seal_time(tmp_path: Path) -> None:
    """A tls-certificate value's end of validity becomes rotation.expires, which status uses."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from sealer.files import seal_file

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + timedelta(days=90_000)).sign(key, hashes.SHA256()))
    plain = {
        "tls": {
            "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "private_key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode(),
        },
        "sealer": {"keys": {"tls": {"schema": "tls-certificate"}}},
    }
    out = tmp_path / "tls.sealed.yaml"
    recipient = new_identity()[1]
    seal_file(yamlio.dump(plain).encode(), out, source="t", recipients=[recipient])
    expires = read_sealed(out).metadata["keys"]["tls"]["rotation"]["expires"]
    end = start + timedelta(days=90_000)
    assert expires == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    states = [rotation_status([out], now=now)[0].state
              for now in (start, end - timedelta(days=3), end + timedelta(days=1))]
    assert states == ["ok", "due soon", "expired"]
