"""The diff and merge drivers with real git: `git diff` shows key-level changes (values with a
key, fingerprints without), and `git merge` of two branches merges sealed files key by key —
cleanly when different keys changed, and with a reported conflict (no plaintext, no markers)
when the same key changed."""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest
from git_helpers import driver_repo, git

from sealer import yamlio
from sealer.document import read_sealed
from sealer.files import get_value, seal_file, set_value, unseal_file
from sealer.keys import parse_identities, parse_recipient

SECRET = str(pyrage.x25519.Identity.generate())
ALICE = parse_identities(SECRET.encode(), source="test", prompt=None)[0]
ALICE_R = parse_recipient(ALICE.recipient)


@pytest.fixture
def repo(tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return driver_repo(tmp_path, isolated_home, monkeypatch, SECRET)


def start(repo: Path) -> Path:
    sealed = repo / "app.sealed.yaml"
    seal_file(yamlio.dump({"db": {"password": "pw-1", "host": "h1"}, "token": "t-1"}).encode(),
              sealed, source="t", recipients=[ALICE_R])
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    return sealed


def test_diff_shows_values_with_a_key(repo: Path) -> None:
    sealed = start(repo)
    set_value(sealed, "token", "t-2", [ALICE])
    diff = git(repo, "diff").stdout
    assert "\n-  token: t-1\n" in diff and "\n+  token: t-2\n" in diff


def test_diff_without_a_key_shows_which_keys_changed(repo: Path, isolated_home: Path) -> None:
    sealed = start(repo)
    set_value(sealed, "token", "t-2", [ALICE])
    (isolated_home / ".config" / "sealer" / "keys.txt").unlink()
    diff = git(repo, "diff").stdout
    changed = [line for line in diff.splitlines() if line.startswith(("-", "+"))
               and not line.startswith(("---", "+++"))]
    assert any(line.startswith("-  token: <str ") for line in changed)
    assert any(line.startswith("+  token: <str ") for line in changed)
    assert not any("password" in line or "t-2" in line or "t-1" in line for line in changed)


def test_merge_of_different_keys_is_clean(repo: Path) -> None:
    sealed = start(repo)
    git(repo, "checkout", "-qb", "feature")
    set_value(sealed, "token", "t-feature", [ALICE])
    git(repo, "commit", "-qam", "feature token")
    git(repo, "checkout", "-q", "main")
    set_value(sealed, "db.password", "pw-main", [ALICE])
    set_value(sealed, "db.port", 5432, [ALICE])
    git(repo, "commit", "-qam", "main password")
    merged = git(repo, "merge", "--no-edit", "feature", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert unseal_file(sealed, [ALICE]) == {
        "db": {"password": "pw-main", "host": "h1", "port": 5432}, "token": "t-feature"}
    assert read_sealed(sealed).header.serial == 4  # past both branches (3 and 2)
    assert "<<<<<<<" not in sealed.read_text()


def test_merge_of_the_same_key_conflicts_without_leaking(repo: Path) -> None:
    sealed = start(repo)
    git(repo, "checkout", "-qb", "feature")
    set_value(sealed, "db.password", "pw-feature", [ALICE])
    git(repo, "commit", "-qam", "feature")
    git(repo, "checkout", "-q", "main")
    set_value(sealed, "db.password", "pw-main", [ALICE])
    git(repo, "commit", "-qam", "main")
    ours = sealed.read_bytes()
    merged = git(repo, "merge", "--no-edit", "feature", check=False)
    output = merged.stdout + merged.stderr
    assert merged.returncode != 0
    assert "merge conflict on db.password" in output
    assert "pw-feature" not in output and "pw-main" not in output
    assert sealed.read_bytes() == ours  # a valid sealed file, no markers
    assert get_value(sealed, "db.password", [ALICE]) == "pw-main"


def test_merge_of_a_signed_file_never_drops_its_signature(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess

    key = tmp_path / "signer"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    monkeypatch.setenv("SEALER_SIGNING_KEY", str(key))
    sealed = start(repo)
    git(repo, "checkout", "-qb", "feature")
    set_value(sealed, "token", "t-feature", [ALICE])
    git(repo, "commit", "-qam", "feature token")
    git(repo, "checkout", "-q", "main")
    set_value(sealed, "db.password", "pw-main", [ALICE])
    git(repo, "commit", "-qam", "main password")
    unsigned = {k: v for k, v in os.environ.items() if k != "SEALER_SIGNING_KEY"}
    refused = git(repo, "merge", "--no-edit", "feature", check=False, env=unsigned)
    assert refused.returncode != 0  # a conflict to resolve, not a silently unsigned file
    assert "SEALER_SIGNING_KEY is not set" in refused.stdout + refused.stderr
    git(repo, "merge", "--abort")
    merged = git(repo, "merge", "--no-edit", "feature", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert len(read_sealed(sealed).signatures) == 1
    assert unseal_file(sealed, [ALICE])["token"] == "t-feature"


def test_git_keeps_working_without_sealer_on_path(repo: Path) -> None:
    import os
    import shutil

    sealed = start(repo)
    (repo / "notes.txt").write_text("one\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "notes")
    set_value(sealed, "token", "t-2", [ALICE])
    (repo / "notes.txt").write_text("two\n")
    git_dir = Path(shutil.which("git") or "/usr/bin/git").parent
    bare = {**os.environ, "PATH": f"{git_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    assert shutil.which("sealer", path=bare["PATH"]) is None, "sealer installed system-wide"
    diff = git(repo, "diff", check=False, env=bare)
    assert diff.returncode == 0, diff.stderr
    assert "+two" in diff.stdout  # the other file's diff is not lost
    assert "not on PATH" in diff.stderr and "t-2" not in diff.stdout
    git(repo, "commit", "-qam", "both")
    git(repo, "checkout", "-qb", "feature", "HEAD~1")
    set_value(sealed, "token", "t-feature", [ALICE])
    git(repo, "commit", "-qam", "feature")
    merged = git(repo, "merge", "--no-edit", "main", check=False, env=bare)
    assert merged.returncode != 0
    assert "sealer is not on PATH" in merged.stdout + merged.stderr
    assert read_sealed(sealed).signatures == []  # still a valid sealed file: this branch's
    assert "<<<<<<<" not in sealed.read_text()
