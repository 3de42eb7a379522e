"""A private key file that group or others may access is refused, as OpenSSH refuses one
(issue 11, item 8): identity files from -i, $SEALER_IDENTITY_FILE, $SOPS_AGE_KEY_FILE, the
default locations, and the $SEALER_SIGNING_KEY file. Key text (stdin, variables) and public
files (-R) are not judged. The CLI error messages themselves are pinned in
test_cli_transcripts.py (identity-file-too-open, identity-env-file-too-open)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Demo, secret_key
from conftest import require_tool

from sealer.discovery import default_identity_path, discover_identities
from sealer.errors import IdentityError
from sealer.signing import load_signing_key

pytest_plugins = ["cli_fixtures"]

TOO_OPEN = ("permissions {mode} are too open for the {what}: a private key must not be "
            "accessible by others")


def loose_copy(demo: Demo, name: str = "loose.key", mode: int = 0o644) -> Path:
    path = demo.dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(demo.key.read_bytes())
    path.chmod(mode)
    return path


def refusal(call: Callable[[], object]) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602])
def test_an_identity_file_others_may_access_is_refused(demo: Demo, mode: int) -> None:
    path = loose_copy(demo, mode=mode)
    error = refusal(lambda: discover_identities([str(path)]))
    assert error.message == TOO_OPEN.format(mode=f"{mode:04o}", what="identity file")
    assert (error.file, error.hint, error.exit_code) == (str(path), f"chmod 600 {path}", 1)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_a_private_identity_file_is_used(demo: Demo, mode: int) -> None:
    path = loose_copy(demo, mode=mode)
    (identity,) = discover_identities([str(path)])
    assert identity.recipient == demo.recipient


def test_the_hint_quotes_a_path_for_the_shell(demo: Demo) -> None:
    path = loose_copy(demo, name="my keys/it's.key")
    assert refusal(lambda: discover_identities([str(path)])).hint == (
        f"chmod 600 '{demo.dir}/my keys/it'\"'\"'s.key'")


@pytest.mark.parametrize("variable", ["SEALER_IDENTITY_FILE", "SOPS_AGE_KEY_FILE"])
def test_a_file_named_by_a_variable_is_refused_naming_the_variable(demo: Demo,
                                                                  variable: str) -> None:
    path = loose_copy(demo)
    error = refusal(lambda: discover_identities([], env={**os.environ, variable: str(path)}))
    assert error.message == TOO_OPEN.format(mode="0644",
                                            what=f"identity file named by {variable}")


def test_the_default_identity_file_is_judged_too(demo: Demo) -> None:
    default = default_identity_path()
    default.parent.mkdir(parents=True)
    default.write_bytes(demo.key.read_bytes())
    default.chmod(0o644)
    assert refusal(lambda: discover_identities([])).file == str(default)
    default.chmod(0o600)
    assert [i.recipient for i in discover_identities([])] == [demo.recipient]


def test_a_default_ssh_key_is_judged_too(isolated_home: Path) -> None:
    keygen = require_tool("ssh-keygen")
    key = isolated_home / ".ssh" / "id_ed25519"
    key.parent.mkdir(mode=0o700)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    key.chmod(0o644)
    assert refusal(lambda: discover_identities([])).file == str(key)


def test_key_text_from_stdin_or_a_variable_is_not_a_file(demo: Demo) -> None:
    piped = demo.run("get", "app.sealed.yaml", "db.password", "-i", "-",
                     input=demo.key.read_text())
    assert (piped.code, piped.out) == (0, "c0rrect-horse")
    through_dev = demo.run("get", "app.sealed.yaml", "db.password", "-i", "/dev/stdin",
                           input=demo.key.read_text())  # a pipe, not a key file at rest
    assert (through_dev.code, through_dev.out) == (0, "c0rrect-horse")
    variable = demo.run("get", "app.sealed.yaml", "db.password",
                        env={"SEALER_IDENTITY": secret_key(demo)})
    assert (variable.code, variable.out) == (0, "c0rrect-horse")


def test_a_public_recipients_file_may_be_readable(demo: Demo) -> None:
    recipients = demo.dir / "team.txt"
    recipients.write_text(f"{demo.recipient}\n")
    recipients.chmod(0o644)
    result = demo.run("seal", "app.yaml", "-o", "new.sealed.yaml", "-R", "team.txt")
    assert result.code == 0, result.err


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user needs root")
def test_a_key_file_of_another_user_is_not_judged(demo: Demo) -> None:
    """As OpenSSH: only a file of the user running sealer, who could chmod it, is refused."""
    path = loose_copy(demo)
    os.chown(path, 65534, 65534)
    assert [i.recipient for i in discover_identities([str(path)])] == [demo.recipient]


def test_root_is_held_to_the_rule_too(demo: Demo) -> None:
    """Whoever runs sealer, root included, is refused a key file of their own others can read."""
    path = loose_copy(demo)
    assert os.stat(path).st_uid == os.geteuid()
    refusal(lambda: discover_identities([str(path)]))


# -- the signing key -------------------------------------------------------------------------


@pytest.fixture
def signing_key(demo: Demo) -> Path:
    made = demo.run("keygen", "--signing", "-o", "signing.key")
    assert made.code == 0, made.err
    return demo.dir / "signing.key"


def test_a_signing_key_others_may_read_is_refused(demo: Demo, signing_key: Path) -> None:
    assert signing_key.stat().st_mode & 0o777 == 0o600
    load_signing_key(signing_key)
    signing_key.chmod(0o640)
    error = refusal(lambda: load_signing_key(signing_key))
    assert error.message == TOO_OPEN.format(mode="0640", what="signing key")
    before = demo.sealed.read_bytes()
    result = demo.run("set", "app.sealed.yaml", "api.token", "-i", "alice.key", input="tok-2",
                      env={"SEALER_SIGNING_KEY": str(signing_key)})
    assert (result.code, result.out) == (1, "")
    assert result.err == (f"sealer: error: {signing_key}: {error.message}\n"
                          f"sealer: hint: chmod 600 {signing_key}\n")
    assert demo.sealed.read_bytes() == before
