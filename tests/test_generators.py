"""Generators: GetRandomPassword's semantics option by option, an unbiased draw, and every other
generator's output parsed back by cryptography or ssh-keygen; `sealer gen` transcripts."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import pty
import secrets
import string
import subprocess
import uuid as uuid_module
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import SEALER, assert_no_traceback, run, sealer_env
from conftest import require_tool
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sealer.errors import UsageError
from sealer.rotation import generators
from sealer.rotation.generators import PUNCTUATION, generate, password

LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
SAMPLES = 300


def many(**options: Any) -> list[str]:
    return [password(**options) for _ in range(SAMPLES)]


# --- password: the character sets and defaults ---------------------------------------------

def test_punctuation_is_aws_set() -> None:
    assert PUNCTUATION == "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    assert set(PUNCTUATION) == set(string.punctuation)


def test_default_is_32_characters_with_every_type() -> None:
    for value in many():
        assert len(value) == 32
        assert set(value) <= set(LOWER + UPPER + DIGITS + PUNCTUATION)
        for chars in (LOWER, UPPER, DIGITS, PUNCTUATION):
            assert set(value) & set(chars)


@pytest.mark.parametrize("length", [1, 2, 4, 100, 4096])
def test_length(length: int) -> None:
    assert len(password(length=length, require_each_included_type=length >= 4)) == length


@pytest.mark.parametrize("length", [0, -1, 4097])
def test_length_out_of_range(length: int) -> None:
    with pytest.raises(UsageError, match=f"between 1 and 4096, not {length}"):
        password(length=length)


@pytest.mark.parametrize(("option", "chars"), [
    ("exclude_numbers", DIGITS), ("exclude_punctuation", PUNCTUATION),
    ("exclude_uppercase", UPPER), ("exclude_lowercase", LOWER)])
def test_exclude_a_type(option: str, chars: str) -> None:
    others = [c for c in (LOWER, UPPER, DIGITS, PUNCTUATION) if c != chars]
    for value in many(**{option: True}):
        assert not set(value) & set(chars)
        assert all(set(value) & set(other) for other in others)


def test_exclude_characters() -> None:
    excluded = "aeiouAEIOU01:/@\"'\\"
    seen: set[str] = set()
    for value in many(exclude_characters=excluded):
        assert not set(value) & set(excluded)
        seen |= set(value)
    assert len(seen) > 60  # the rest is still used


def test_a_type_excluded_character_by_character_is_no_longer_required() -> None:
    value = password(length=3, exclude_characters=DIGITS)
    assert len(value) == 3 and not set(value) & set(DIGITS)


def test_space_only_when_included_and_never_required() -> None:
    assert all(" " not in value for value in many())
    assert any(" " in value for value in many(include_space=True))
    only_space = password(length=5, include_space=True, exclude_lowercase=True,
                          exclude_uppercase=True, exclude_numbers=True,
                          exclude_punctuation=True)
    assert only_space == "     "
    assert " " not in "".join(many(include_space=True, exclude_characters=" "))


def test_without_require_each_type_some_types_may_be_missing() -> None:
    values = many(length=3, require_each_included_type=False)
    assert any(not set(v) & set(DIGITS) for v in values)
    assert password(length=1, require_each_included_type=False)


def test_everything_excluded_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        password(exclude_numbers=True, exclude_punctuation=True, exclude_uppercase=True,
                 exclude_lowercase=True)
    assert str(caught.value) == ("every character is excluded; there is nothing to make a "
                                 "password from")
    with pytest.raises(UsageError, match="every character is excluded"):
        password(exclude_characters=LOWER + UPPER + DIGITS + PUNCTUATION)


def test_too_short_for_every_required_type() -> None:
    with pytest.raises(UsageError) as caught:
        password(length=3)
    assert str(caught.value) == ("a 3-character password cannot include all 4 required "
                                 "character types")
    assert caught.value.hint and "at least 4" in caught.value.hint
    assert len(password(length=3, exclude_punctuation=True)) == 3


# --- password: randomness -------------------------------------------------------------------

def test_draws_use_secrets_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = secrets.choice

    def counting(seq: str) -> str:
        calls.append(seq)
        return real(seq)

    monkeypatch.setattr(secrets, "choice", counting)  # the module sealer.rotation.generators uses
    value = password(length=20, require_each_included_type=False)
    assert len(calls) == 20 and value
    assert set(calls) == {LOWER + UPPER + DIGITS + PUNCTUATION}  # one pool, uniform per draw


def test_every_valid_password_is_equally_likely() -> None:
    """Pool {a, b, C}, length 3, both types required: 18 valid passwords. Picking one character
    of each type and shuffling would favour some of them; rejection sampling does not."""
    options: dict[str, Any] = {
        "length": 3, "exclude_characters": LOWER[2:] + UPPER.replace("C", ""),
        "exclude_numbers": True, "exclude_punctuation": True}
    counts = Counter(password(**options) for _ in range(9000))
    assert len(counts) == 18
    assert all(350 <= n <= 650 for n in counts.values()), counts  # expected 500, sd ~22


def test_character_frequencies_follow_the_pool() -> None:
    text = "".join(many(length=64, require_each_included_type=False))
    counts = Counter(text)
    expected = len(text) / 94
    assert len(counts) == 94
    assert all(0.6 * expected < n < 1.4 * expected for n in counts.values())
    digits = sum(counts[c] for c in DIGITS) / len(text)
    assert abs(digits - 10 / 94) < 0.02


def test_passwords_differ() -> None:
    assert len(set(many())) == SAMPLES


# --- the other generators ---------------------------------------------------------------------

def test_token() -> None:
    value = generators.token()
    assert len(value) == 43 and set(value) <= set(LOWER + UPPER + DIGITS + "-_")
    assert len(base64.urlsafe_b64decode(value + "=")) == 32
    assert len(base64.urlsafe_b64decode(generators.token(48))) == 48
    with pytest.raises(UsageError, match="between 1 and"):
        generators.token(0)


def test_random_bytes() -> None:
    assert len(generators.random_bytes()) == 32
    assert len(generators.random_bytes(7)) == 7
    assert generators.random_bytes() != generators.random_bytes()
    with pytest.raises(UsageError):
        generators.random_bytes(0)


def test_uuid_is_version_4() -> None:
    value = generators.uuid()
    parsed = uuid_module.UUID(value)
    assert parsed.version == 4 and str(parsed) == value


def test_ssh_ed25519_parses_and_matches(tmp_path: Path) -> None:
    pair = generators.ssh_ed25519("deploy@ci")
    assert pair["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key = serialization.load_ssh_private_key(pair["private_key"].encode(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    kind, body, comment = pair["public_key"].split(" ")
    assert (kind, comment) == ("ssh-ed25519", "deploy@ci")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    assert public == f"{kind} {body}"
    keygen = require_tool("ssh-keygen")
    path = tmp_path / "id"
    path.write_text(pair["private_key"], encoding="utf-8")
    path.chmod(0o600)
    derived = subprocess.run([keygen, "-y", "-f", str(path)], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
    assert derived[:2] == [kind, body]


def test_ssh_ed25519_without_comment_and_bad_comment() -> None:
    assert generators.ssh_ed25519()["public_key"].count(" ") == 1
    with pytest.raises(UsageError, match="single line"):
        generators.ssh_ed25519("a\nb")


@pytest.mark.parametrize(("key_type", "key_class"), [
    ("ec-p256", ec.EllipticCurvePrivateKey), ("rsa-2048", rsa.RSAPrivateKey),
    ("ed25519", ed25519.Ed25519PrivateKey)])
def test_tls_self_signed(key_type: str, key_class: type) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    made = generators.tls_self_signed("db.internal", days=90, key_type=key_type,
                                      dns_names=["db.internal", "db", "10.0.0.5"])
    cert = x509.load_pem_x509_certificate(made["certificate"].encode())
    key = serialization.load_pem_private_key(made["private_key"].encode(), password=None)
    assert isinstance(key, key_class)
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(cert)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "db.internal"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["db.internal", "db"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    assert before <= cert.not_valid_before_utc <= before + datetime.timedelta(minutes=1)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=90)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_tls_default_san_is_the_common_name() -> None:
    cert = x509.load_pem_x509_certificate(
        generators.tls_self_signed("localhost")["certificate"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=365)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"common_name": ""}, "needs a common name"),
    ({"common_name": "x", "days": 0}, "between 1 and 36500, not 0"),
    ({"common_name": "x", "key_type": "dsa"}, "unknown TLS key type 'dsa'"),
    ({"common_name": "x\ny"}, "single line")])
def test_tls_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        generators.tls_self_signed(**kwargs)


# --- generate(): dispatch by name -------------------------------------------------------------

def test_generate_dispatches_every_kind() -> None:
    assert len(generate("password", {"length": 12})) == 12
    assert len(generate("password", {"exclude-punctuation": True, "length": 40})) == 40
    assert len(generate("token", {"nbytes": 16})) == 22
    assert len(generate("bytes", {"n": 5})) == 5
    assert uuid_module.UUID(generate("uuid", {})).version == 4
    assert set(generate("ssh-ed25519", {"comment": "x"})) == {"private_key", "public_key"}
    made = generate("tls-self-signed", {"common_name": "a.example", "dns_names": ["a.example"]})
    assert set(made) == {"certificate", "private_key"}
    assert generate("uuid") != generate("uuid")


def test_generate_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(UsageError) as caught:
        generate("pasword", {})
    assert str(caught.value) == "unknown generator 'pasword'"
    assert caught.value.hint == ("use one of: password, token, bytes, uuid, ssh-ed25519, "
                                 "tls-self-signed")


def test_generate_unknown_option_lists_the_options() -> None:
    with pytest.raises(UsageError) as caught:
        generate("token", {"length": 3})
    assert str(caught.value) == "generator 'token' has no option 'length'"
    assert caught.value.hint == "its options: nbytes"
    with pytest.raises(UsageError, match="has no option 'x'") as caught:
        generate("uuid", {"x": 1})
    assert caught.value.hint == "its options: none"


@pytest.mark.parametrize(("kind", "options", "message"), [
    ("password", {"length": "32"}, "length must be an integer"),
    ("password", {"length": True}, "length must be an integer"),
    ("password", {"exclude_numbers": "yes"}, "exclude_numbers must be true or false"),
    ("password", {"exclude_characters": 5}, "exclude_characters must be a string"),
    ("tls-self-signed", {"common_name": "x", "dns_names": "x"}, "must be a list of strings"),
    ("tls-self-signed", {"common_name": "x", "dns_names": [1]}, "must be a list of strings"),
    ("tls-self-signed", {"days": 3}, "needs the option common_name")])
def test_generate_checks_option_types(kind: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        generate(kind, options)


# --- sealer gen ---------------------------------------------------------------------------------

def test_cli_password() -> None:
    result = run("gen", "password", "--length", "40", "--exclude-punctuation")
    assert (result.code, result.err) == (0, "")
    assert len(result.out) == 40 and result.out.isalnum()  # no newline into a pipe


def test_cli_password_every_option() -> None:
    result = run("gen", "password", "-l", "6", "-x", "abc", "--exclude-numbers",
                 "--exclude-uppercase", "--include-space", "--no-require-each-included-type")
    assert result.code == 0 and len(result.out) == 6
    assert not set(result.out) & set("abc" + DIGITS + UPPER)


def test_cli_password_too_short() -> None:
    result = run("gen", "password", "--length", "2")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "sealer: error: a 2-character password cannot include all 4 required character types\n"
        "sealer: hint: use a length of at least 4, exclude a character type, or turn off "
        "require_each_included_type\n")


def test_cli_token_uuid_bytes() -> None:
    assert len(run("gen", "token", "--bytes", "48").out) == 64
    assert uuid_module.UUID(run("gen", "uuid").out).version == 4
    result = run("gen", "bytes", "-n", "100")
    assert result.code == 0 and len(result.raw_out) == 100
    bad = run("gen", "token", "--bytes", "0")
    assert bad.code == 2
    assert bad.err == ("sealer: error: a token's number of random bytes must be between 1 and "
                       "1048576, not 0\n")


def test_cli_ssh_and_tls_print_yaml_or_json() -> None:
    import json

    import yaml

    pair = yaml.safe_load(run("gen", "ssh-ed25519", "-C", "me@host").out)
    assert pair["public_key"].endswith(" me@host")
    made = json.loads(run("gen", "tls-self-signed", "db.local", "--dns", "127.0.0.1",
                          "--days", "7", "--key-type", "ed25519", "-f", "json").out)
    cert = x509.load_pem_x509_certificate(made["certificate"].encode())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=7)
    bad = run("gen", "ssh-ed25519", "-f", "toml")
    assert bad.code == 2 and "unknown format 'toml'" in bad.err


def run_on_terminal(*args: str) -> tuple[int, bytes, str]:
    """`sealer ARGS` with stdout on a pseudo-terminal: (code, what the terminal got, stderr)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([*SEALER, *args], stdin=subprocess.DEVNULL, stdout=follower,
                              stderr=subprocess.PIPE, env=sealer_env(), timeout=60, check=False)
    finally:
        os.close(follower)
    shown = b""
    try:
        while chunk := os.read(leader, 4096):
            shown += chunk
    except OSError:  # EIO: no writer left
        pass
    os.close(leader)
    err = proc.stderr.decode("utf-8")
    assert_no_traceback(err)
    return proc.returncode, shown, err


def test_cli_bytes_refused_on_a_terminal_unless_forced() -> None:
    code, shown, err = run_on_terminal("gen", "bytes")
    assert (code, shown) == (2, b"")
    assert err == ("sealer: error: refusing to print binary data to a terminal\n"
                   "sealer: hint: redirect the output to a file, or pass --force\n")
    code, shown, err = run_on_terminal("gen", "bytes", "--force", "-n", "8")
    assert (code, err) == (0, "") and shown


def test_cli_text_on_a_terminal_ends_with_a_newline() -> None:
    code, shown, err = run_on_terminal("gen", "password", "-l", "10")
    assert (code, err) == (0, "")
    assert shown.endswith(b"\r\n") and len(shown) == 12
