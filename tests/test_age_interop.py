"""Interoperability with the real `age` and `age-keygen` command-line tools."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import require_tool

from sealer.agefile import decrypt, encrypt
from sealer.discovery import keygen
from sealer.errors import IdentityError, SealerError
from sealer.keys import (
    Identity,
    PassphraseUnavailable,
    parse_identities,
    parse_recipient,
)

PLAINTEXT = b"canary-4f1c: the data key would be here\n"
PASSPHRASE = "correct horse battery staple"
NOW = datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)


def run(*argv: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(argv, input=stdin, capture_output=True, check=True, timeout=60).stdout


@pytest.fixture
def age() -> str:
    return require_tool("age")


@pytest.fixture
def age_keygen() -> str:
    return require_tool("age-keygen")


@pytest.fixture
def age_key(tmp_path: Path, age_keygen: str) -> Path:
    path = tmp_path / "key.txt"
    run(age_keygen, "-o", str(path))
    return path


def only_identity(path: Path) -> Identity:
    identities = parse_identities(path.read_bytes(), source=str(path), prompt=None)
    assert len(identities) == 1
    return identities[0]


@pytest.mark.parametrize("armor_flag", [[], ["-a"]], ids=["binary", "armored"])
def test_we_decrypt_what_age_encrypted(
    age: str, age_keygen: str, age_key: Path, armor_flag: list[str]
) -> None:
    identity = only_identity(age_key)
    assert identity.recipient == run(age_keygen, "-y", str(age_key)).decode().strip()
    ciphertext = run(age, "-r", identity.recipient, *armor_flag, stdin=PLAINTEXT)
    assert decrypt(ciphertext, [identity.native]) == PLAINTEXT


@pytest.mark.parametrize("armored", [True, False])
def test_age_decrypts_what_we_encrypted(age: str, age_key: Path, armored: bool) -> None:
    recipient = parse_recipient(only_identity(age_key).recipient)
    ciphertext = encrypt(PLAINTEXT, [recipient.native], armored=armored)
    assert ciphertext.startswith(b"-----BEGIN AGE" if armored else b"age-encryption.org/v1\n")
    assert run(age, "-d", "-i", str(age_key), stdin=ciphertext) == PLAINTEXT


def test_keygen_output_is_age_keygen_format(age: str, age_keygen: str, tmp_path: Path) -> None:
    path, recipient = keygen(tmp_path / "sub" / "keys.txt", now=NOW)
    text = Path(path).read_text()
    assert re.fullmatch(
        r"# created: 2006-01-02T15:04:05Z\n# public key: age1[0-9a-z]{58}\n"
        r"AGE-SECRET-KEY-1[0-9A-Z]{58}\n", text)
    assert f"# public key: {recipient}\n" in text
    assert run(age_keygen, "-y", path).decode().strip() == recipient
    ciphertext = encrypt(PLAINTEXT, [parse_recipient(recipient).native])
    assert run(age, "-d", "-i", path, stdin=ciphertext) == PLAINTEXT


def test_keygen_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path, _ = keygen(tmp_path / "config" / "keys.txt", now=NOW)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "config").st_mode) == 0o700
    before = Path(path).read_bytes()
    with pytest.raises(SealerError, match="refusing to overwrite"):
        keygen(Path(path), now=NOW)
    assert Path(path).read_bytes() == before


def test_keygen_defaults_to_the_per_user_file(isolated_home: Path) -> None:
    path, _ = keygen(None, now=NOW)
    assert Path(path) == isolated_home / ".config" / "sealer" / "keys.txt"


def test_ssh_keys_interoperate(age: str, tmp_path: Path) -> None:
    ssh_keygen = require_tool("ssh-keygen")
    key = tmp_path / "id_ed25519"
    run(ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", "me@example", "-f", str(key))
    identity = only_identity(key)
    ciphertext = run(age, "-R", f"{key}.pub", stdin=PLAINTEXT)
    assert decrypt(ciphertext, [identity.native]) == PLAINTEXT
    ours = encrypt(PLAINTEXT, [parse_recipient(identity.recipient).native])
    assert run(age, "-d", "-i", str(key), stdin=ours) == PLAINTEXT


def protect_with_age(age: str, source: Path, target: Path, *, armored: bool) -> None:
    """`age -p` reads the passphrase from a terminal: drive it through a pty."""
    pexpect = pytest.importorskip("pexpect")
    argv = ["-p", *(["-a"] if armored else []), "-o", str(target), str(source)]
    child = pexpect.spawn(age, argv, timeout=60)
    child.expect("Enter passphrase")
    child.sendline(PASSPHRASE)
    child.expect("Confirm passphrase")
    child.sendline(PASSPHRASE)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize("armored", [False, True], ids=["binary", "armored"])
def test_passphrase_protected_identity_file(
    age: str, age_key: Path, tmp_path: Path, armored: bool
) -> None:
    protected = tmp_path / "key.age"
    protect_with_age(age, age_key, protected, armored=armored)
    asked: list[str] = []

    def prompt(message: str) -> str:
        asked.append(message)
        return PASSPHRASE

    identities = parse_identities(protected.read_bytes(), source=str(protected), prompt=prompt)
    assert [i.recipient for i in identities] == [only_identity(age_key).recipient]
    assert asked == [f"Enter passphrase for identity file {protected}: "]
    ciphertext = run(age, "-r", identities[0].recipient, stdin=PLAINTEXT)
    assert decrypt(ciphertext, [identities[0].native]) == PLAINTEXT


def test_passphrase_protected_identity_file_failures(
    age: str, age_key: Path, tmp_path: Path
) -> None:
    protected = tmp_path / "key.age"
    protect_with_age(age, age_key, protected, armored=False)
    data = protected.read_bytes()
    with pytest.raises(IdentityError, match="wrong passphrase") as info:
        parse_identities(data, source=str(protected), prompt=lambda _: "hunter2-wrong")
    assert "hunter2" not in str(info.value) and str(protected) in str(info.value)
    with pytest.raises(PassphraseUnavailable, match="passphrase-protected") as unavailable:
        parse_identities(data, source=str(protected), prompt=None)
    assert unavailable.value.hint and "terminal" in unavailable.value.hint
