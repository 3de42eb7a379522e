"""AWS KMS recipients (docs/KMS.md, FORMAT.md §1.4.1), end to end through the real CLI.

AWS KMS itself cannot run here, so these tests use a stand-in: moto's server mode
(`moto_server`, PyPI `moto[server]`) on loopback, started once per session. sealer talks to it
with the real boto3 over HTTP, pointed there by `$AWS_ENDPOINT_URL_KMS`; the keys are made with
boto3 too. moto 5.2 cannot decrypt with multi-region keys, so there is one key per region.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import Demo, Env, assert_no_traceback, run, sealer_env
from conftest import unavailable

from sealer.errors import NoIdentityError

pytest_plugins = ["cli_fixtures"]

ACCESS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None, "AWS_EC2_METADATA_DISABLED": "true"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def kms_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(server).exists():
        unavailable("moto_server (moto[server]) is not installed")
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


MOTO_ACCOUNT = "123456789012"  # the account moto's keys belong to


class Kms:
    """Keys in moto's KMS and the environment for sealer processes using them."""

    def __init__(self, endpoint: str, home: Path) -> None:
        self.endpoint = endpoint
        self.env: dict[str, str | None] = {
            **ACCESS, "AWS_ENDPOINT_URL_KMS": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
            "SEALER_KMS_KEYS": MOTO_ACCOUNT,  # this host may call KMS for moto's account
            "AWS_REGION": None, "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials")}

    def client(self, region: str) -> Any:
        import boto3

        return boto3.session.Session(aws_access_key_id="testing",
                                     aws_secret_access_key="testing").client(
            "kms", region_name=region, endpoint_url=self.endpoint)

    def key(self, region: str = "us-east-1") -> str:
        arn: str = self.client(region).create_key()["KeyMetadata"]["Arn"]
        return arn

    def run(self, demo: Demo, *args: str | Path, env: Env | None = None,
            input: str | None = None) -> Any:
        return demo.run(*args, env={**self.env, **(env or {})}, input=input)


@pytest.fixture
def kms(kms_endpoint: str, isolated_home: Path) -> Kms:
    pytest.importorskip("boto3")
    return Kms(kms_endpoint, isolated_home)


def _recipients(path: Path) -> list[str]:
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [entry["recipient"] for entry in tree["recipients"]]


def test_seal_for_a_kms_key_and_get(demo: Demo, kms: Kms) -> None:
    arn = kms.key()
    sealed = kms.run(demo, "seal", "app.yaml", "-r", arn, "-o", "kms.sealed.yaml")
    assert sealed.code == 0, sealed.err
    assert _recipients(demo.dir / "kms.sealed.yaml") == [arn]
    got = kms.run(demo, "get", "kms.sealed.yaml", "db.password")
    assert (got.code, got.out) == (0, "c0rrect-horse"), got.err
    listed = kms.run(demo, "recipients", "list", "kms.sealed.yaml")
    assert listed.out.split() == [arn]


def test_mixed_age_and_kms_in_two_regions(demo: Demo, kms: Kms) -> None:
    east, west = kms.key("us-east-1"), kms.key("eu-west-1")
    sealed = kms.run(demo, "seal", "app.yaml", "-r", east, "-r", west, "-r", demo.recipient,
                     "-o", "mixed.sealed.yaml")
    assert sealed.code == 0, sealed.err
    assert _recipients(demo.dir / "mixed.sealed.yaml") == sorted([east, west, demo.recipient])
    shown = kms.run(demo, "show", "mixed.sealed.yaml")
    assert east in shown.out and west in shown.out and demo.recipient[:12] in shown.out
    for region in ("us-east-1", "eu-west-1"):
        got = kms.run(demo, "get", "mixed.sealed.yaml", "api.token",
                      env={"AWS_DEFAULT_REGION": region})
        assert (got.code, got.out) == (0, "tok-9f8e7d"), got.err


def test_a_key_kms_refuses_and_another_region_still_opens(
        demo: Demo, kms: Kms, monkeypatch: pytest.MonkeyPatch) -> None:
    """The east entry holds a blob of the west key (made here, the MAC recomputed with the
    data key): KMS refuses it for the east key (AccessDenied, as moto models a key mismatch)
    and the west key opens the file."""
    from sealer import kms as sealer_kms
    from sealer.core import open_document
    from sealer.document import WrappedKey, read_sealed

    east, west = kms.key("us-east-1"), kms.key("eu-west-1")
    sealed = kms.run(demo, "seal", "app.yaml", "-r", east, "-r", west, "-o", "m.sealed.yaml")
    assert sealed.code == 0, sealed.err
    for name, value in kms.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    path = demo.dir / "m.sealed.yaml"
    doc = read_sealed(path)
    opened = open_document(doc, [])
    blob = sealer_kms.wrap(opened.keys.data_key, sealer_kms.parse_arn(west), doc.header.id,
                           str(path))
    doc.recipients = [WrappedKey(w.recipient, blob if w.recipient == east else w.key)
                      for w in doc.recipients]
    doc.mac = opened.keys.mac(doc.authenticated_tree())
    path.write_text(doc.to_yaml(), encoding="utf-8")
    got = kms.run(demo, "get", "m.sealed.yaml", "api.token")  # us-east-1 is tried first
    assert (got.code, got.out) == (0, "tok-9f8e7d"), got.err
    blocked = kms.run(demo, "get", "m.sealed.yaml", "api.token",
                      env={"AWS_DEFAULT_REGION": "eu-west-1"})
    assert blocked.code == 0, blocked.err
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(NoIdentityError, match="access denied"):
        sealer_kms.unwrap(sealer_kms.parse_arn(east), blob, doc.header.id, str(path))


def test_the_messages_for_kms_refusals_moto_does_not_model() -> None:
    """moto 5.2 still decrypts with a disabled key, so KMS's DisabledException (and the other
    refusals) are pinned here through the one function that words them."""
    from sealer import kms as sealer_kms

    key = sealer_kms.parse_arn("arn:aws:kms:eu-west-1:111122223333:key/"
                               "1234abcd-12ab-34cd-56ef-1234567890ab")
    disabled = sealer_kms._client_failure("unwrap", key, "app.sealed.yaml", "DisabledException")
    assert str(disabled) == (f"app.sealed.yaml: cannot unwrap the data key with {key.arn}: "
                             "the key is disabled")
    assert disabled.exit_code == 3
    denied = sealer_kms._client_failure("wrap", key, "app.sealed.yaml", "AccessDeniedException")
    assert str(denied) == (f"app.sealed.yaml: cannot wrap the data key with {key.arn}: access "
                           "denied; nothing was written")
    assert denied.hint == "ask for kms:Encrypt on this key"

def test_a_wrapped_key_copied_from_another_file_is_refused(demo: Demo, kms: Kms) -> None:
    arn = kms.key()
    for name in ("a", "b"):
        done = kms.run(demo, "seal", "app.yaml", "-r", arn, "-o", f"{name}.sealed.yaml")
        assert done.code == 0, done.err
    a = yaml.safe_load((demo.dir / "a.sealed.yaml").read_text(encoding="utf-8"))
    b_path = demo.dir / "b.sealed.yaml"
    b = yaml.safe_load(b_path.read_text(encoding="utf-8"))
    b["recipients"][0]["key"] = a["recipients"][0]["key"]
    b_path.write_text(yaml.safe_dump(b, sort_keys=False), encoding="utf-8")
    got = kms.run(demo, "get", "b.sealed.yaml", "db.password")
    assert got.code == 4, got.err
    assert got.err.splitlines()[0] == (
        f"sealer: error: b.sealed.yaml: AWS KMS refused the data key wrapped for {arn} "
        "(InvalidCiphertextException): it was not made for this file, or was modified")


def test_no_credentials(demo: Demo, kms: Kms) -> None:
    arn = kms.key()
    assert kms.run(demo, "seal", "app.yaml", "-r", arn, "-o", "k.sealed.yaml").code == 0
    got = kms.run(demo, "get", "k.sealed.yaml", "db.password",
                  env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    assert got.code == 3, got.err
    assert got.err.splitlines()[0] == (f"sealer: error: k.sealed.yaml: cannot unwrap the data "
                                       f"key with {arn}: no AWS credentials found")
    sealed = kms.run(demo, "seal", "app.yaml", "-r", arn, "-o", "new.sealed.yaml",
                     env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    assert sealed.code == 1 and "no AWS credentials found; nothing was written" in sealed.err
    assert not (demo.dir / "new.sealed.yaml").exists()


def test_a_key_in_another_region_is_not_found(demo: Demo, kms: Kms) -> None:
    arn = kms.key("us-east-1")
    wrong = arn.replace("us-east-1", "eu-central-1")
    sealed = kms.run(demo, "seal", "app.yaml", "-r", wrong, "-o", "k.sealed.yaml")
    assert sealed.code == 1, sealed.err
    assert f"cannot wrap the data key with {wrong}: no such key in eu-central-1" in sealed.err


def test_missing_extra_is_one_line_with_the_install_command(demo: Demo, kms: Kms) -> None:
    arn = kms.key()
    assert kms.run(demo, "seal", "app.yaml", "-r", arn, "-o", "k.sealed.yaml").code == 0
    blocked = ("import sys, runpy; sys.modules['boto3'] = None; "
               "sys.argv = ['sealer', 'get', 'k.sealed.yaml', 'db.password']; "
               "runpy.run_module('sealer', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", blocked], cwd=demo.dir, capture_output=True,
                          text=True, env=sealer_env(kms.env), timeout=60, check=False)
    assert_no_traceback(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        f"sealer: error: k.sealed.yaml: {arn} is an AWS KMS key and the AWS support is not "
        "installed: pip install 'sealer[aws]'")


def test_an_age_identity_opens_a_mixed_file_without_any_network_call(demo: Demo,
                                                                      kms: Kms) -> None:
    arn = kms.key()
    sealed = kms.run(demo, "seal", "app.yaml", "-r", arn, "-r", demo.recipient,
                     "-o", "mixed.sealed.yaml")
    assert sealed.code == 0, sealed.err
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    got = kms.run(demo, "get", "mixed.sealed.yaml", "db.password", "-i", demo.key,
                  env={"AWS_ENDPOINT_URL_KMS": closed})
    assert (got.code, got.out) == (0, "c0rrect-horse"), got.err
    # and the same file with KMS unreachable and no age identity fails with a clear error
    got = kms.run(demo, "get", "mixed.sealed.yaml", "db.password",
                  env={"AWS_ENDPOINT_URL_KMS": closed})
    assert got.code == 3 and f"cannot unwrap the data key with {arn}: cannot reach AWS KMS " \
        "in us-east-1" in got.err, got.err


def test_malformed_kms_entries_are_refused_before_any_call(demo: Demo, kms: Kms) -> None:
    arn = kms.key()
    assert kms.run(demo, "seal", "app.yaml", "-r", arn, "-o", "k.sealed.yaml").code == 0
    path = demo.dir / "k.sealed.yaml"
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    closed = {"AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{_free_port()}"}
    for recipient, key, problem in [
            (arn, "not base64!", "must be the base64 of a KMS CiphertextBlob"),
            ("arn:aws:kms:evil.example.com:1:key/x", tree["recipients"][0]["key"],
             "is not an AWS KMS key ARN")]:
        tree["recipients"][0] = {"recipient": recipient, "key": key}
        path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
        got = kms.run(demo, "get", "k.sealed.yaml", "db.password", env=closed)
        assert got.code == 4 and "malformed sealed file" in got.err and problem in got.err, \
            got.err


def test_sealer_yaml_principals_can_be_kms_keys(demo: Demo, kms: Kms) -> None:
    arn = kms.key()
    (demo.dir / "sealer.yaml").write_text(
        "version: 1\n"
        "principals:\n"
        f"  deploy: {arn}\n"
        f"  alice: {demo.recipient}\n"
        "environments:\n"
        "  prod:\n"
        "    recipients: [deploy, alice]\n"
        "creation_rules:\n"
        "- path: '*.sealed.yaml'\n"
        "  environment: prod\n", encoding="utf-8")
    sealed = kms.run(demo, "seal", "app.yaml", "-o", "prod.sealed.yaml")
    assert sealed.code == 0, sealed.err
    assert _recipients(demo.dir / "prod.sealed.yaml") == sorted([arn, demo.recipient])
    checked = kms.run(demo, "check", "prod.sealed.yaml")
    assert checked.code == 0, checked.out + checked.err
    got = kms.run(demo, "get", "prod.sealed.yaml", "db.port")
    assert (got.code, got.out) == (0, "5432"), got.err
    other = kms.key()
    refused = kms.run(demo, "recipients", "add", "prod.sealed.yaml", "-r", other,
                      "-i", demo.key)
    assert refused.code == 1 and "may not decrypt prod secrets" in refused.err, refused.err


def test_an_invalid_kms_recipient_argument(demo: Demo) -> None:
    got = run("seal", "app.yaml", "-r", "arn:aws:kms:us-east-1:123:key/nope", cwd=demo.dir)
    assert got.code != 0
    assert "not an AWS KMS key ARN" in got.err, got.err


def test_a_host_calls_kms_only_for_keys_it_allows(kms: Kms, demo: Demo) -> None:
    """An ARN in a file is repository content: reading calls KMS only for the accounts (or
    key ARNs) $SEALER_KMS_KEYS lists, so a file naming another account's key makes no call
    with this host's credentials (the endpoint here is a closed port: a call would fail
    differently)."""
    arn = kms.key()
    made = kms.run(demo, "seal", "app.yaml", "-r", arn, "-o", "k.sealed.yaml")
    assert made.code == 0, made.err
    closed = {"AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{_free_port()}"}
    for allow in (None, "", "210987654321", arn.replace("us-east-1", "eu-west-1")):
        refused = kms.run(demo, "get", "k.sealed.yaml", "db.password",
                          env={**closed, "SEALER_KMS_KEYS": allow})
        assert refused.code == 3, refused.err
        assert "does not let sealer call AWS KMS for " + arn in refused.err
        assert f"SEALER_KMS_KEYS={MOTO_ACCOUNT}" in refused.err
    for allow in (MOTO_ACCOUNT, arn, f"111111111111, {arn}"):
        got = kms.run(demo, "get", "k.sealed.yaml", "db.password",
                      env={"SEALER_KMS_KEYS": allow})
        assert got.code == 0, got.err
