"""Sealed files and the real `age` CLI: its keys open sealer files, and `age -d` unwraps the
data key sealer stored (so a sealed file never depends on sealer to be recovered)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import require_tool

from sealer import yamlio
from sealer.discovery import discover_identities
from sealer.document import read_sealed
from sealer.envelope import Keys
from sealer.files import get_value, seal_file
from sealer.keys import parse_recipient, read_recipients_file


def age_keygen(path: Path) -> str:
    subprocess.run([require_tool("age-keygen"), "-o", str(path)], check=True,
                   capture_output=True)
    return subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_age_unwraps_the_data_key_and_it_is_the_real_one(tmp_path: Path) -> None:
    require_tool("age")
    public = age_keygen(tmp_path / "key.txt")
    out = tmp_path / "s.sealed.yaml"
    seal_file(b"db:\n  password: hunter2\n", out, source="in", recipients=[parse_recipient(public)])
    doc = read_sealed(out)
    (tmp_path / "wrapped.age").write_text(doc.recipients[0].key)
    data_key = subprocess.run(["age", "-d", "-i", str(tmp_path / "key.txt"),
                               str(tmp_path / "wrapped.age")], check=True,
                              capture_output=True).stdout
    assert len(data_key) == 32
    Keys(data_key, doc.header.id_bytes).verify_mac(doc.authenticated_tree(), doc.mac)


def test_ssh_keys_seal_and_open(tmp_path: Path) -> None:
    ssh_keygen = require_tool("ssh-keygen")
    for kind in ("ed25519", "rsa"):
        key = tmp_path / f"id_{kind}"
        subprocess.run([ssh_keygen, "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
        out = tmp_path / f"{kind}.sealed.yaml"
        seal_file(b"token: abc\n", out, source="in",
                  recipients=read_recipients_file(Path(f"{key}.pub")))
        identities = discover_identities([str(key)])
        assert get_value(out, "token", identities) == "abc"
        wrapped = tmp_path / f"{kind}.age"
        wrapped.write_text(read_sealed(out).recipients[0].key)
        result = subprocess.run([require_tool("age"), "-d", "-i", str(key), str(wrapped)],
                                capture_output=True, check=True)
        assert len(result.stdout) == 32


def test_cli_round_trip_with_an_age_keygen_identity(tmp_path: Path) -> None:
    public = age_keygen(tmp_path / "key.txt")
    (tmp_path / "app.yaml").write_text("a: 1\nb: [x, y]\n")
    run = [sys.executable, "-m", "sealer"]
    subprocess.run([*run, "seal", str(tmp_path / "app.yaml"), "-r", public], check=True,
                   capture_output=True)
    result = subprocess.run([*run, "unseal", str(tmp_path / "app.sealed.yaml"), "-i",
                             str(tmp_path / "key.txt")], check=True, capture_output=True)
    assert yamlio.load(result.stdout, source="out") == {"a": 1, "b": ["x", "y"]}
