"""`sealer init`: a new project signs by default, with keys the user already has."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cli_helpers import run
from conftest import require_tool


def test_init_with_no_keys_makes_them_and_requires_signatures(tmp_path: Path,
                                                             isolated_home: Path) -> None:
    result = run("init", tmp_path)
    assert result.code == 0, result.err
    keys = isolated_home / ".config" / "sealer"
    assert (keys / "keys.txt").stat().st_mode & 0o777 == 0o600
    assert (keys / "signing.key").stat().st_mode & 0o777 == 0o600
    assert f"export SEALER_SIGNING_KEY={keys / 'signing.key'}" in result.err
    config = (tmp_path / "sealer.yaml").read_text()
    assert "require_signature: true" in config and "signers:" in config
    unsigned = run("seal", "-", "-o", tmp_path / "app.sealed.yaml", input="a: b\n")
    assert unsigned.code == 1 and "SEALER_SIGNING_KEY is not set" in unsigned.err
    signed = run("seal", "-", "-o", tmp_path / "app.sealed.yaml", input="a: b\n",
                 env={"SEALER_SIGNING_KEY": str(keys / "signing.key")})
    assert signed.code == 0, signed.err
    assert run("get", tmp_path / "app.sealed.yaml", "a").out == "b"
    checked = run("check", tmp_path)
    assert checked.code == 0 and "0 warnings" in checked.out
    again = run("init", tmp_path)
    assert again.code == 2 and "already exists; nothing was changed" in again.err


def test_init_uses_the_ssh_key_the_user_has(tmp_path: Path, isolated_home: Path) -> None:
    require_tool("ssh-keygen")
    ssh = isolated_home / ".ssh"
    ssh.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_ed25519")],
                   check=True)
    result = run("init", tmp_path)
    assert result.code == 0, result.err
    public = " ".join((ssh / "id_ed25519.pub").read_text().split()[:2])
    assert public in (tmp_path / "sealer.yaml").read_text()
    assert f"SEALER_SIGNING_KEY={ssh / 'id_ed25519'}" in result.err
    assert not (isolated_home / ".config" / "sealer" / "signing.key").exists()


def test_init_no_sign_is_reported_by_check(tmp_path: Path) -> None:
    assert run("init", tmp_path, "--no-sign").code == 0
    assert "require_signature" not in (tmp_path / "sealer.yaml").read_text()
    assert run("seal", "-", "-o", tmp_path / "a.sealed.yaml", input="a: b\n").code == 0
    checked = run("check", tmp_path)
    assert checked.code == 0 and "[signature-not-required]" in checked.out
