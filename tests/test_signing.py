"""Signed seals (docs/FORMAT.md §11, docs/SIGNING.md): SSHSIG interoperability with the real
OpenSSH `ssh-keygen`, signing on write, trust at deploy time, and the check rules."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyrage
import pytest
from cli_helpers import run
from conftest import require_tool
from sealing import forge

from sealer import yamlio
from sealer.check import Staged, check_files
from sealer.document import read_sealed
from sealer.errors import ConfigError, FormatError
from sealer.files import open_file, set_value
from sealer.keys import parse_identities
from sealer.signing import (
    SignatureError,
    enforce_trust,
    parse_allowed_signers,
    sign,
    signed_message,
    signer_of,
    verify,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """OpenSSH keys made by ssh-keygen: alice (ed25519), bob (RSA), mallory (ed25519)."""
    keygen = require_tool("ssh-keygen")
    directory = tmp_path_factory.mktemp("ssh")
    out = {}
    for name, kind in (("alice", "ed25519"), ("bob", "rsa"), ("mallory", "ed25519")):
        path = directory / name
        extra = ["-b", "2048"] if kind == "rsa" else []
        subprocess.run([keygen, "-q", "-t", kind, *extra, "-N", "", "-C", f"{name}@test",
                        "-f", str(path)], check=True)
        out[name] = path
    return out


def pub(keys: dict[str, Path], name: str) -> str:
    return " ".join(keys[name].with_suffix(".pub").read_text().split()[:2])


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[Path, str]:
    secret = str(pyrage.x25519.Identity.generate())
    path = tmp_path / "age.key"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    identity = parse_identities(secret.encode(), source="test", prompt=None)[0]
    return path, identity.recipient


def allowed(tmp_path: Path, keys: dict[str, Path], *names: str) -> Path:
    path = tmp_path / "allowed_signers"
    path.write_text("".join(f"{n}@example.com namespaces=\"sealer\" {pub(keys, n)}\n"
                            for n in names))
    return path


def sealed(tmp_path: Path, recipient: str, name: str = "app.sealed.yaml",
           data: str = "db:\n  password: hunter2\n") -> Path:
    """A file signed with $SEALER_SIGNING_KEY when set, written past the write gate (as
    anyone holding the public keys can): the readers' side is what these tests are about."""
    key = os.environ.get("SEALER_SIGNING_KEY")
    return forge(tmp_path / name, yamlio.load(data.encode(), source="t"), [recipient],
                 Path(key) if key else None)


# -- SSHSIG interoperability -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_sealer_signatures_verify_with_ssh_keygen(tmp_path: Path, keys: dict[str, Path],
                                                  name: str) -> None:
    keygen = require_tool("ssh-keygen")
    message = b"sealer signature v1\x00any bytes \xff"
    (tmp_path / "sig").write_text(sign(message, keys[name]))
    result = subprocess.run([keygen, "-Y", "verify", "-f", str(allowed(tmp_path, keys, name)),
                             "-I", f"{name}@example.com", "-n", "sealer", "-s",
                             str(tmp_path / "sig")], input=message, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert b'Good "sealer" signature' in result.stdout


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_ssh_keygen_signatures_verify_with_sealer(tmp_path: Path, keys: dict[str, Path],
                                                  name: str) -> None:
    keygen = require_tool("ssh-keygen")
    message = b"sealer signature v1\x00content"
    armored = subprocess.run([keygen, "-Y", "sign", "-q", "-f", str(keys[name]), "-n", "sealer"],
                             input=message, capture_output=True, check=True).stdout.decode()
    assert verify(message, armored) == pub(keys, name)
    with pytest.raises(SignatureError):
        verify(message + b"x", armored)
    with pytest.raises(SignatureError):  # another namespace
        verify(message, armored, namespace="git")


def test_ed25519_signature_is_byte_identical_to_ssh_keygen(keys: dict[str, Path]) -> None:
    keygen = require_tool("ssh-keygen")
    message = b"same bytes"
    theirs = subprocess.run([keygen, "-Y", "sign", "-q", "-f", str(keys["alice"]), "-n",
                             "sealer"], input=message, capture_output=True, check=True).stdout
    assert sign(message, keys["alice"]) == theirs.decode()


def test_signature_on_a_sealed_file_verifies_with_ssh_keygen(
        tmp_path: Path, keys: dict[str, Path], age_key: tuple[Path, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    keygen = require_tool("ssh-keygen")
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["alice"]))
    doc = read_sealed(sealed(tmp_path, age_key[1]))
    (tmp_path / "sig").write_text(doc.signatures[0].signature)
    result = subprocess.run([keygen, "-Y", "verify", "-f", str(allowed(tmp_path, keys, "alice")),
                             "-I", "alice@example.com", "-n", "sealer", "-s",
                             str(tmp_path / "sig")], input=signed_message(doc),
                            capture_output=True)
    assert result.returncode == 0, result.stderr


def test_every_byte_of_the_signed_message_matters(keys: dict[str, Path]) -> None:
    message = b"sealer signature v1\x00" + bytes(range(256))
    armored = sign(message, keys["alice"])
    for index in range(0, len(message), 3):
        changed = bytearray(message)
        changed[index] ^= 0x01
        with pytest.raises(SignatureError, match="signature verification failed"):
            verify(bytes(changed), armored)


def test_damaged_signatures_are_refused(keys: dict[str, Path]) -> None:
    armored = sign(b"m", keys["alice"])
    lines = armored.splitlines()
    for bad in ("", "garbage", armored.replace("SIGNATURE", "SIG"),
                "\n".join([lines[0], lines[1][:-4] + "AAAA", *lines[2:]])):
        with pytest.raises(SignatureError):
            verify(b"m", bad, source="f.sealed.yaml")


# -- the format ------------------------------------------------------------------------------


def test_signatures_on_write_and_resigning(tmp_path: Path, keys: dict[str, Path],
                                           age_key: tuple[Path, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    identity = parse_identities(age_key[0].read_bytes(), source="k", prompt=None)
    unsigned = sealed(tmp_path, age_key[1], "plain.sealed.yaml")
    assert "signatures" not in unsigned.read_text()
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["alice"]))
    path = sealed(tmp_path, age_key[1])
    tree = yamlio.load(path.read_bytes(), source="t")
    assert list(tree)[-2:] == ["mac", "signatures"]
    assert tree["signatures"][0]["signer"] == pub(keys, "alice")
    assert tree["signatures"][0]["format"] == "sshsig"
    set_value(path, "db.user", "app", identity)  # the same signer: replaced, not added
    doc = read_sealed(path)
    assert [signer_of(doc, s) for s in doc.signatures] == [pub(keys, "alice")]
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["bob"]))
    set_value(path, "db.user", "other", identity)  # content changed: alice's no longer covers it
    doc = read_sealed(path)
    assert [s.signer for s in doc.signatures] == [pub(keys, "bob")]


def test_an_unsigned_write_never_drops_a_signature_silently(
        tmp_path: Path, keys: dict[str, Path], age_key: tuple[Path, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["alice"]))
    path = sealed(tmp_path, age_key[1])
    monkeypatch.delenv("SEALER_SIGNING_KEY")
    before = path.read_bytes()
    key = {"SEALER_IDENTITY_FILE": str(age_key[0])}
    for args in (("set", str(path), "db.user", "app"), ("unset", str(path), "db.password"),
                 ("rekey", str(path))):
        refused = run(*args, env=key)
        assert refused.code == 1, refused.err
        assert "signed (ssh-ed25519" in refused.err and "nothing was changed" in refused.err
        assert "SEALER_DROP_SIGNATURES=1" in refused.err
        assert "hunter2" not in refused.err
        assert path.read_bytes() == before  # old version, untouched
    dropped = run("set", str(path), "db.user", "app",
                  env={**key, "SEALER_DROP_SIGNATURES": "1"})
    assert dropped.code == 0, dropped.err
    assert read_sealed(path).signatures == []  # said so explicitly: written unsigned
    assert run("set", str(path), "db.user", "b", env=key).code == 0  # nothing left to drop


def test_signatures_only_after_the_mac(tmp_path: Path, keys: dict[str, Path],
                                       age_key: tuple[Path, str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["alice"]))
    path = sealed(tmp_path, age_key[1])
    tree = yamlio.load(path.read_bytes(), source="t")
    moved = {"signatures": tree.pop("signatures"), **tree}
    path.write_text(yamlio.dump(moved))
    with pytest.raises(FormatError, match="top-level keys"):
        read_sealed(path)
    tree["signatures"] = [{"signer": "x"}]
    path.write_text(yamlio.dump(tree))
    with pytest.raises(FormatError, match="signatures must be"):
        read_sealed(path)


# -- trust at deploy time --------------------------------------------------------------------


def test_trust_refuses_forged_and_untrusted_files(tmp_path: Path, keys: dict[str, Path],
                                                  age_key: tuple[Path, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    trust = parse_allowed_signers(allowed(tmp_path, keys, "alice").read_text(), source="a")
    # a forgery: sealed afresh for the same recipient by someone without alice's key
    forged = read_sealed(sealed(tmp_path, age_key[1], "forged.sealed.yaml"))
    with pytest.raises(SignatureError, match="is not signed") as info:
        enforce_trust(forged, trust)
    assert "alice@example.com" in (info.value.hint or "")
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["mallory"]))
    untrusted = read_sealed(sealed(tmp_path, age_key[1], "mallory.sealed.yaml"))
    with pytest.raises(SignatureError, match="not signed by a trusted key"):
        enforce_trust(untrusted, trust)
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["alice"]))
    good = sealed(tmp_path, age_key[1], "good.sealed.yaml")
    enforce_trust(read_sealed(good), trust)
    monkeypatch.setenv("SEALER_TRUSTED_SIGNERS", str(allowed(tmp_path, keys, "alice")))
    identities = parse_identities(age_key[0].read_bytes(), source="k", prompt=None)
    assert open_file(good, identities).plaintext() == {"db": {"password": "hunter2"}}
    with pytest.raises(SignatureError):
        open_file(tmp_path / "forged.sealed.yaml", identities)


def test_deploy_trust_from_the_cli(tmp_path: Path, keys: dict[str, Path],
                                   age_key: tuple[Path, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    forged = sealed(tmp_path, age_key[1], "forged.sealed.yaml")
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["mallory"]))
    untrusted = sealed(tmp_path, age_key[1], "mallory.sealed.yaml")
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["alice"]))
    good = sealed(tmp_path, age_key[1], "good.sealed.yaml")
    env = {"SEALER_TRUSTED_SIGNERS": str(allowed(tmp_path, keys, "alice"))}
    for path, message in ((forged, "is not signed"), (untrusted, "not signed by a trusted key")):
        for args in (("get", path, "db.password"), ("unseal", path)):
            result = run(*args, "-i", age_key[0], env=env)
            assert result.code == 4, result.err
            assert message in result.err and "alice@example.com" in result.err
            assert "hunter2" not in result.out + result.err
    result = run("get", good, "db.password", "-i", age_key[0], env=env)
    assert (result.code, result.out) == (0, "hunter2")
    assert run("get", forged, "db.password", "-i", age_key[0]).code == 0  # no trust anchor


def test_allowed_signers_parsing(keys: dict[str, Path]) -> None:
    text = (f"# comment\n\nalice@x,ops@x {pub(keys, 'alice')} laptop\n"
            f'bob@x namespaces="git,sealer",valid-before="20990101" {pub(keys, "bob")}\n'
            f'carol@x namespaces="git" {pub(keys, "mallory")}\n'
            f'dave@x valid-before="20200101" {pub(keys, "mallory")}\n')
    trust = parse_allowed_signers(text, source="allowed")
    assert [t.principals for t in trust] == [("alice@x", "ops@x"), ("bob@x",), ("carol@x",),
                                             ("dave@x",)]
    assert [t.allows("sealer") for t in trust] == [True, True, False, False]
    with pytest.raises(ConfigError, match="cert-authority"):
        parse_allowed_signers(f"*@x cert-authority {pub(keys, 'alice')}\n", source="a")
    with pytest.raises(ConfigError, match="allowed:1"):
        parse_allowed_signers("alice@x ssh-ed25519 notbase64!\n", source="allowed")


# -- check rules -----------------------------------------------------------------------------


def project(tmp_path: Path, keys: dict[str, Path], recipient: str, *,
            signers: str = "[alice]") -> Path:
    (tmp_path / "sealer.yaml").write_text(f"""\
version: 1
principals:
  reader: {recipient}
  alice: {pub(keys, 'alice')}
  bob: {pub(keys, 'bob')}
environments:
  prod:
    recipients: [reader]
    signers: {signers}
    require_signature: true
creation_rules:
  - path: '**'
    environment: prod
""")
    return tmp_path


def rules(path: Path) -> list[str]:
    return [f.rule for f in check_files([path]) if f.rule.startswith("signature")]


def test_check_signature_rules(tmp_path: Path, keys: dict[str, Path], age_key: tuple[Path, str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, keys, age_key[1])
    unsigned = sealed(tmp_path, age_key[1], "unsigned.sealed.yaml")
    assert rules(unsigned) == ["signature-missing"]
    findings = check_files([unsigned])
    assert "one of: alice" in findings[0].message
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["alice"]))
    good = sealed(tmp_path, age_key[1], "good.sealed.yaml")
    assert rules(good) == []
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(keys["bob"]))
    other = sealed(tmp_path, age_key[1], "other.sealed.yaml")
    assert rules(other) == ["signature-untrusted"]
    message = next(f.message for f in check_files([other]) if f.rule == "signature-untrusted")
    assert "principal 'bob'" in message and "signers: alice" in message
    tampered = tmp_path / "tampered.sealed.yaml"
    tree = yamlio.load(good.read_bytes(), source="t")
    tree["sealer"]["serial"] += 1  # any authenticated field
    tampered.write_text(yamlio.dump(tree))
    assert rules(tampered) == ["signature-invalid"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_staged_signers_change_is_flagged(tmp_path: Path, keys: dict[str, Path],
                                          age_key: tuple[Path, str]) -> None:
    require_tool("git")
    project(tmp_path, keys, age_key[1])
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "sealer.yaml")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert check_files([], staged=Staged(tmp_path)) == []
    project(tmp_path, keys, age_key[1], signers="[alice, bob]")
    git(tmp_path, "add", "sealer.yaml")
    findings = check_files([], staged=Staged(tmp_path))
    assert [f.rule for f in findings] == ["signers-changed"]
    assert "alice -> alice, bob" in findings[0].message
    result = run("check", "--staged", cwd=tmp_path)
    assert result.code == 1 and "signers-changed" in result.out


def test_sealers_own_signing_key(tmp_path: Path) -> None:
    """`sealer keygen --signing` makes an Ed25519 key that signs writes and that ssh-keygen
    and allowed_signers understand."""
    made = run("keygen", "--signing", "-o", tmp_path / "signing.key")
    assert made.code == 0 and made.out.startswith("ssh-ed25519 ")
    assert (tmp_path / "signing.key").stat().st_mode & 0o777 == 0o600
    assert run("keygen", "--signing", "-o", tmp_path / "signing.key").code == 1  # no overwrite
    message = b"sealer signature v1\x00payload"
    signature = sign(message, tmp_path / "signing.key")
    assert verify(message, signature) == " ".join(made.out.split()[:2])
    (tmp_path / "allowed").write_text(f"ci@example.com {made.out}")
    (tmp_path / "sig").write_text(signature)
    result = subprocess.run([require_tool("ssh-keygen"), "-Y", "verify", "-f",
                             str(tmp_path / "allowed"), "-I", "ci@example.com", "-n", "sealer",
                             "-s", str(tmp_path / "sig")], input=message, capture_output=True)
    assert result.returncode == 0, result.stderr


def test_require_signature_is_enforced_by_readers_without_an_anchor(tmp_path: Path) -> None:
    """With require_signature in sealer.yaml, get/render refuse an unsigned (e.g. forged) file
    even when no SEALER_TRUSTED_SIGNERS is given; a file signed by a listed signer opens."""
    signer_pub = run("keygen", "--signing", "-o", tmp_path / "signing.key").out.strip()
    secret = str(pyrage.x25519.Identity.generate())
    me = parse_identities(secret.encode(), source="t", prompt=None)[0]
    (tmp_path / "sealer.yaml").write_text(
        f"version: 1\nprincipals:\n  me: {me.recipient}\n  release: {signer_pub}\n"
        "environments:\n  prod:\n    recipients: [me]\n    signers: [release]\n"
        "    require_signature: true\ncreation_rules:\n  - {path: '**', environment: prod}\n")
    (tmp_path / "app.yaml").write_text("token: s3cret-value\n")
    unsigned = run("seal", "app.yaml", "-o", "forged.sealed.yaml", cwd=tmp_path)
    assert unsigned.code == 1 and "SEALER_SIGNING_KEY is not set; nothing was changed" in (
        unsigned.err) and "one of: release" in unsigned.err  # the write gate
    assert not (tmp_path / "forged.sealed.yaml").exists()
    forge(tmp_path / "forged.sealed.yaml", {"token": "s3cret-value"}, [me.recipient])
    refused = run("get", "forged.sealed.yaml", "token", "-i", "-", input=secret, cwd=tmp_path)
    assert refused.code == 4 and "is not signed; its environment requires a signature" in (
        refused.err) and "s3cret" not in refused.out + refused.err
    signed = run("seal", "app.yaml", "-o", "app.sealed.yaml", cwd=tmp_path,
                 env={"SEALER_SIGNING_KEY": str(tmp_path / "signing.key")})
    assert signed.code == 0, signed.err
    ok = run("get", "app.sealed.yaml", "token", "-i", "-", input=secret, cwd=tmp_path)
    assert (ok.code, ok.out) == (0, "s3cret-value")


def test_a_broken_sealer_yaml_does_not_drop_require_signature(tmp_path: Path) -> None:
    """A sealer.yaml that no longer parses (a stray bracket a pull request adds) must not turn
    `require_signature` off for readers: they stop, naming it, instead of opening a forgery."""
    secret = str(pyrage.x25519.Identity.generate())
    me = parse_identities(secret.encode(), source="t", prompt=None)[0]
    signer_pub = run("keygen", "--signing", "-o", tmp_path / "signing.key").out.strip()
    config = tmp_path / "sealer.yaml"
    config.write_text(
        f"version: 1\nprincipals:\n  me: {me.recipient}\n  release: {signer_pub}\n"
        "environments:\n  prod:\n    recipients: [me]\n    signers: [release]\n"
        "    require_signature: true\ncreation_rules:\n  - {path: '**', environment: prod}\n")
    forge(tmp_path / "forged.sealed.yaml", {"token": "s3cret-value"}, [me.recipient])
    config.write_text(config.read_text() + "extra: [\n")
    refused = run("get", "forged.sealed.yaml", "token", "-i", "-", input=secret, cwd=tmp_path)
    assert refused.code == 2 and "s3cret" not in refused.out + refused.err
    assert f"{config}: cannot be read or is not a YAML mapping" in refused.err
