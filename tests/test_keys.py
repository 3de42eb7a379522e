"""Recipients and identities: parsing, SSH keys made by ssh-keygen, discovery, limits."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyrage
import pytest
from conftest import ROOT, require_tool

from sealer.agefile import (
    AgeError,
    decrypt,
    decrypt_with_passphrase,
    encrypt,
    max_scrypt_work_factor,
)
from sealer.discovery import (
    default_identity_path,
    discover_identities,
    identity_search_hint,
    keygen,
    loose_permissions,
)
from sealer.errors import ConfigError, IdentityError
from sealer.keys import (
    Identity,
    PassphraseUnavailable,
    parse_identities,
    parse_recipient,
    read_recipients_file,
)

SECRET = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
PUBLIC = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
HYBRID = "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR"
SSH_PASSPHRASE = "ssh passphrase 7"


def new_age_key() -> tuple[str, str]:
    native = pyrage.x25519.Identity.generate()
    return str(native), str(native.to_public())


def ssh_key(directory: Path, name: str, *args: str, passphrase: str = "") -> Path:
    path = directory / name
    require_tool("ssh-keygen")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = ["ssh-keygen", "-q", *args, "-N", passphrase, "-C", "me@laptop", "-f", str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    return path


def public_line(path: Path) -> str:
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


# --- recipients ---------------------------------------------------------------------------------


def test_age_recipient_is_canonical_lowercase() -> None:
    assert parse_recipient(f"  {PUBLIC}\n").text == PUBLIC
    upper = parse_recipient(PUBLIC.upper())
    assert (upper.text, upper.kind) == (PUBLIC, "x25519")
    assert upper == parse_recipient(PUBLIC)


def test_ssh_recipients_drop_the_comment(tmp_path: Path) -> None:
    for name, args, kind in [("ed", ["-t", "ed25519"], "ssh-ed25519"),
                             ("rsa", ["-t", "rsa", "-b", "2048"], "ssh-rsa")]:
        path = ssh_key(tmp_path, name, *args)
        recipient = parse_recipient(Path(f"{path}.pub").read_text())
        assert (recipient.text, recipient.kind) == (public_line(path), kind)


@pytest.mark.parametrize(("text", "message"), [
    ("age1qqqqqqqqqqqqqqqq", "invalid age recipient 'age1qqqq…'"),
    (PUBLIC[:10] + PUBLIC[10:].upper(), "invalid age recipient"),
    ("hello world", "not a recipient: 'hello wo…'"),
    ("", "empty recipient"),
    ("age1pq1" + "q" * 50, "invalid post-quantum age recipient 'age1pq1q…'"),
    ("age1tagpq1" + "q" * 50, "hardware (tag) recipients are not supported yet"),
    ("age1yubikey1" + "q" * 50, "age plugin recipients (age-plugin-yubikey) are not supported"),
    ("ecdsa-sha2-nistp256 AAAAE2VjZHNh", "SSH key type 'ecdsa-sha2-nistp256' cannot be used"),
    ("sk-ssh-ed25519@openssh.com AAAAGnNr", "SSH key type 'sk-ssh-ed25519@openssh.com' cannot"),
    ("ssh-dss AAAAB3NzaC1kc3M", "SSH key type 'ssh-dss' cannot be used with age"),
    ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "invalid ssh-ed25519 public key"),
])
def test_bad_recipients_name_the_source(text: str, message: str) -> None:
    with pytest.raises(IdentityError) as info:
        parse_recipient(text, source="team.txt:3")
    assert message in str(info.value)
    assert str(info.value).startswith("team.txt:3: ")


@pytest.mark.parametrize("pasted", [
    SECRET,
    SECRET.lower(),
    HYBRID,
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUA\n",
])
def test_a_pasted_private_key_is_never_echoed(pasted: str) -> None:
    with pytest.raises(IdentityError) as info:
        parse_recipient(pasted, source="--recipient")
    assert "looks like a private key" in str(info.value)
    assert pasted[15:25] not in str(info.value) + str(info.value.hint)


def test_recipients_file(tmp_path: Path) -> None:
    ed = ssh_key(tmp_path, "ed", "-t", "ed25519")
    path = tmp_path / "recipients.txt"
    path.write_bytes(f"# team\r\n\r\n{PUBLIC}\r\n  {Path(f'{ed}.pub').read_text()}".encode())
    assert [r.text for r in read_recipients_file(path)] == [PUBLIC, public_line(ed)]


def test_recipients_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "recipients.txt"
    path.write_text(f"# keys\n{PUBLIC}\n{SECRET}\n")
    with pytest.raises(IdentityError, match=r"recipients\.txt:3: this looks like a private key"):
        read_recipients_file(path)
    path.write_text("# nobody yet\n")
    with pytest.raises(IdentityError, match="no recipients in this file"):
        read_recipients_file(path)
    with pytest.raises(IdentityError, match="no such file"):
        read_recipients_file(tmp_path / "missing.txt")


# --- age identities -----------------------------------------------------------------------------


def test_identity_file_with_comments_several_keys_and_crlf() -> None:
    (one, one_pub), (two, two_pub) = new_age_key(), new_age_key()
    text = f"# created: 2024-01-01T00:00:00Z\r\n# public key: {one_pub}\r\n{one}\r\n\r\n{two}"
    identities = parse_identities(text.encode(), source="keys.txt", prompt=None)
    assert [(i.recipient, i.kind, i.source) for i in identities] == [
        (one_pub, "x25519", "keys.txt"), (two_pub, "x25519", "keys.txt")]
    assert one not in repr(identities)
    ciphertext = encrypt(b"x", [parse_recipient(two_pub).native])
    assert decrypt(ciphertext, [i.native for i in identities]) == b"x"


@pytest.mark.parametrize(("content", "message"), [
    (f"# mine\n{PUBLIC}\n".encode(), "line 2 is a public key (a recipient), not an identity"),
    (b"password=hunter2\n", "line 1 is not an age secret key"),
    (SECRET[:-1].encode() + b"Q", "line 1 is not a valid age secret key (bad checksum)"),
    (b"\xff\xfehunter2", "not an age identity file or SSH key"),
    (b"# nothing here\n\n", "no identities in it"),
    (f"{HYBRID[:-1]}Q\n".encode(), "line 1 is not a valid post-quantum age secret key"),
])
def test_unusable_identity_files(content: bytes, message: str) -> None:
    with pytest.raises(IdentityError) as info:
        parse_identities(content, source="SEALER_IDENTITY", prompt=None)
    text = f"{info.value} {info.value.hint}"
    assert text.startswith(f"SEALER_IDENTITY: {message}")
    assert "hunter2" not in text and SECRET[16:30] not in text


# --- SSH identities -----------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "kind"), [
    (["-t", "ed25519"], "ssh-ed25519"),
    (["-t", "rsa", "-b", "2048"], "ssh-rsa"),
    (["-t", "rsa", "-b", "2048", "-m", "PEM"], "ssh-rsa"),
])
def test_ssh_identities(tmp_path: Path, args: list[str], kind: str) -> None:
    path = ssh_key(tmp_path, "id", *args)
    [identity] = parse_identities(path.read_bytes(), source=str(path), prompt=None)
    assert (identity.recipient, identity.kind) == (public_line(path), kind)
    ciphertext = encrypt(b"x", [parse_recipient(identity.recipient).native])
    assert decrypt(ciphertext, [identity.native]) == b"x"


@pytest.mark.parametrize("args", [["-t", "ed25519"], ["-t", "rsa", "-b", "2048", "-m", "PEM"]])
def test_passphrase_protected_ssh_identity(tmp_path: Path, args: list[str]) -> None:
    path = ssh_key(tmp_path, "id", *args, passphrase=SSH_PASSPHRASE)
    asked: list[str] = []

    def prompt(message: str) -> str:
        asked.append(message)
        return SSH_PASSPHRASE

    [identity] = parse_identities(path.read_bytes(), source=str(path), prompt=prompt)
    assert asked == [f"Enter passphrase for SSH key {path}: "]
    assert identity.recipient == public_line(path)
    ciphertext = encrypt(b"x", [parse_recipient(identity.recipient).native])
    assert decrypt(ciphertext, [identity.native]) == b"x"


def test_protected_ssh_identity_failures(tmp_path: Path) -> None:
    path = ssh_key(tmp_path, "id", "-t", "ed25519", passphrase=SSH_PASSPHRASE)
    data = path.read_bytes()
    with pytest.raises(IdentityError, match="wrong passphrase for this SSH key") as info:
        parse_identities(data, source=str(path), prompt=lambda _: "not it")
    assert "not it" not in str(info.value)
    with pytest.raises(PassphraseUnavailable, match="is passphrase-protected"):
        parse_identities(data, source=str(path), prompt=None)


def test_unsupported_ssh_key_type(tmp_path: Path) -> None:
    path = ssh_key(tmp_path, "id", "-t", "ecdsa")
    with pytest.raises(IdentityError, match="this SSH key type cannot be used with age"):
        parse_identities(path.read_bytes(), source=str(path), prompt=None)


# --- discovery ----------------------------------------------------------------------------------


def write_key(path: Path) -> str:
    """A new age identity file, mode 0600 (a private key others may read is refused)."""
    secret, public = new_age_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# public key: {public}\n{secret}\n")
    path.chmod(0o600)
    return public


def test_nothing_found_is_empty_with_a_hint(isolated_home: Path) -> None:
    assert discover_identities([], env=dict(os.environ)) == []
    hint = identity_search_hint(dict(os.environ))
    for place in ("$SEALER_IDENTITY", "$SOPS_AGE_KEY_FILE", str(default_identity_path()),
                  str(isolated_home / ".ssh" / "id_ed25519")):
        assert place in hint


def test_discovery_order_and_union(isolated_home: Path, tmp_path: Path) -> None:
    text_secret, text_public = new_age_key()
    sops_secret, sops_public = new_age_key()
    env = dict(os.environ, SEALER_IDENTITY=text_secret, SOPS_AGE_KEY=sops_secret,
               SEALER_IDENTITY_FILE=str(tmp_path / "a.txt"),
               SOPS_AGE_KEY_FILE=str(tmp_path / "b.txt"))
    file_public, sops_file_public = write_key(tmp_path / "a.txt"), write_key(tmp_path / "b.txt")
    default_public = write_key(default_identity_path(env))
    ssh = ssh_key(isolated_home / ".ssh", "id_ed25519", "-t", "ed25519")
    found = discover_identities([], env=env)
    assert [i.recipient for i in found] == [text_public, file_public, sops_public,
                                            sops_file_public, default_public, public_line(ssh)]
    assert [i.source for i in found[:2]] == ["SEALER_IDENTITY", str(tmp_path / "a.txt")]
    # Every source is tried, ~/.ssh keys last (README); alone, they are found too.
    default_identity_path(env).unlink()
    bare = {k: v for k, v in env.items() if not k.startswith(("SEALER_", "SOPS_"))}
    assert [i.recipient for i in discover_identities([], env=bare)] == [public_line(ssh)]


def test_duplicates_are_dropped(tmp_path: Path) -> None:
    secret, public = new_age_key()
    env = dict(os.environ, SEALER_IDENTITY=secret, SOPS_AGE_KEY=secret)
    assert [i.recipient for i in discover_identities([], env=env)] == [public]


def test_explicit_identities_replace_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_secret, _ = new_age_key()
    stdin_secret, stdin_public = new_age_key()
    named_public = write_key(tmp_path / "named.txt")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin_secret.encode())))
    env = dict(os.environ, SEALER_IDENTITY=env_secret)
    found = discover_identities([str(tmp_path / "named.txt"), "-"], env=env)
    assert [(i.recipient, i.source) for i in found] == [
        (named_public, str(tmp_path / "named.txt")), (stdin_public, "stdin")]


def test_missing_named_files_are_errors(tmp_path: Path) -> None:
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(tmp_path / "gone.txt"))
    message = "cannot read the identity file named by SOPS_AGE_KEY_FILE: no such file"
    with pytest.raises(IdentityError, match=message) as info:
        discover_identities([], env=env)
    assert info.value.hint == "fix or unset SOPS_AGE_KEY_FILE"
    message = r"gone\.txt: cannot read the identity file: no such file"
    with pytest.raises(IdentityError, match=message):
        discover_identities([str(tmp_path / "gone.txt")])


def test_default_path_follows_xdg(isolated_home: Path) -> None:
    assert default_identity_path({"XDG_CONFIG_HOME": "/etc/xdg", "HOME": "/h"}) == Path(
        "/etc/xdg/sealer/keys.txt")
    assert default_identity_path({"XDG_CONFIG_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.config/sealer/keys.txt")
    assert default_identity_path({"HOME": "/h"}) == Path("/h/.config/sealer/keys.txt")


def test_protected_default_ssh_key_is_skipped_without_a_terminal(isolated_home: Path) -> None:
    key = ssh_key(isolated_home / ".ssh", "id_ed25519", "-t", "ed25519", passphrase=SSH_PASSPHRASE)

    def no_terminal(message: str) -> str:
        raise PassphraseUnavailable("there is no terminal to ask for it")

    env = dict(os.environ)
    assert discover_identities([], env=env, prompt=no_terminal) == []
    assert discover_identities([], env=env, prompt=None) == []
    found = discover_identities([], env=env, prompt=lambda _: SSH_PASSPHRASE)
    assert [i.recipient for i in found] == [public_line(key)]


def test_loose_permissions(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    write_key(path)
    path.chmod(0o600)
    assert not loose_permissions(path)
    path.chmod(0o640)
    assert loose_permissions(path)
    assert not loose_permissions(tmp_path / "missing")


def test_keygen_needs_an_aware_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        keygen(tmp_path / "k.txt", now=datetime(2024, 1, 1))


def test_identities_never_show_secrets_in_repr() -> None:
    secret, public = new_age_key()
    [identity] = parse_identities(secret.encode(), source="x", prompt=None)
    assert isinstance(identity, Identity)
    assert secret not in repr(identity) and public in repr(identity)


# --- the scrypt work factor cap -----------------------------------------------------------------


def test_scrypt_cap_from_the_environment(
    shared_vectors: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (shared_vectors / "age" / "scrypt").read_bytes().partition(b"\n\n")[2]  # factor 10
    assert max_scrypt_work_factor() == 20
    monkeypatch.setenv("SEALER_MAX_SCRYPT_WORK_FACTOR", "9")
    with pytest.raises(AgeError, match="work factor 10 is above sealer's limit of 9") as info:
        decrypt_with_passphrase(data, "password")
    assert info.value.kind == "header"
    assert info.value.hint and "SEALER_MAX_SCRYPT_WORK_FACTOR" in info.value.hint
    monkeypatch.setenv("SEALER_MAX_SCRYPT_WORK_FACTOR", "10")
    assert decrypt_with_passphrase(data, "password")


@pytest.mark.parametrize("value", ["abc", "0", "31", "-1", "1e3", "²", "020"])
def test_scrypt_cap_must_be_sane(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_MAX_SCRYPT_WORK_FACTOR", value)
    with pytest.raises(ConfigError, match="SEALER_MAX_SCRYPT_WORK_FACTOR must be a whole number"):
        max_scrypt_work_factor()


# --- the terminal prompt ------------------------------------------------------------------------

PROMPT_SCRIPT = "from sealer.discovery import tty_prompt; print(len(tty_prompt('Passphrase: ')))"


def test_tty_prompt_without_a_terminal() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROMPT_SCRIPT], cwd=ROOT, capture_output=True, text=True,
        start_new_session=True, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert result.returncode != 0
    assert "PassphraseUnavailable" in result.stderr and "no terminal" in result.stderr


def test_tty_prompt_reads_without_echo() -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-c", PROMPT_SCRIPT], cwd=str(ROOT), timeout=60)
    child.expect("Passphrase: ")
    child.sendline("sixteen chars!!!")
    child.expect(pexpect.EOF)
    child.close()
    assert b"16" in child.before and b"sixteen" not in child.before
