"""sealer's hooks in the real pre-commit framework, installed from this repository's committed
HEAD into a throwaway repository: a good sealed file commits; plaintext secrets, a leaked key,
a hand-edited sealed file and a rollback are blocked. Also `check --staged` on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run
from conftest import ROOT, unavailable
from sealing import new_identity

from sealer import yamlio
from sealer.files import seal_file, set_value

CI_ID, CI_R = new_identity()
CONFIG = f"""\
version: 1
principals:
  ci: {CI_R.text}
environments:
  prod:
    recipients: [ci]
creation_rules:
  - path: secrets/**
    environment: prod
"""


def git(repo: Path, *args: str, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=check, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "secrets").mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")
    git(repo, "config", "commit.gpgsign", "false")
    (repo / "sealer.yaml").write_text(CONFIG)
    return repo


def seal(repo: Path, name: str, data: dict[str, object]) -> Path:
    out = repo / "secrets" / name
    seal_file(yamlio.dump(data).encode(), out, source="t", identities=[CI_ID])
    return out


def staged_check(repo: Path, *extra: str) -> tuple[int, str]:
    result = run("check", "--staged", *extra, env={"HOME": os.environ["HOME"]}, cwd=repo)
    return result.code, result.out


def test_staged_check_reads_the_index(repo: Path) -> None:
    good = seal(repo, "db.sealed.yaml", {"password": "pw-1"})
    git(repo, "add", ".")
    good.write_text("broken in the working tree only\n")
    code, out = staged_check(repo)
    assert code == 0, out


def test_rollback_and_replacement_are_refused(repo: Path) -> None:
    sealed = seal(repo, "db.sealed.yaml", {"password": "pw-1"})
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    first = sealed.read_bytes()
    set_value(sealed, "password", "pw-2", [CI_ID])
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v2")
    sealed.write_bytes(first)
    git(repo, "add", ".")
    code, out = staged_check(repo)
    assert code == 1 and "[rollback] serial went down from 2 to 1" in out
    seal_file(b"password: other\n", sealed, source="t", replace=True)
    git(repo, "add", ".")
    code, out = staged_check(repo)
    assert code == 1 and "[file-replaced]" in out
    assert staged_check(repo, "--allow-replace")[0] == 0


def test_no_plaintext_finds_leaks_without_echoing_them(repo: Path) -> None:
    (repo / "secrets" / "db.yaml").write_text("password: hunter2\n")
    (repo / "app.py").write_text('KEY = "AKIAIOSFODNN7EXAMPLE"\n'
                                 'ok = 1  # AKIAIOSFODNN7EXAMPLF sealer-allow\n')
    (repo / "notes.txt").write_text("nothing to see\n")
    git(repo, "add", ".")
    code, out = staged_check(repo, "--no-plaintext")
    assert code == 1
    assert "secrets/db.yaml:1: error: [plaintext-secret]" in out
    assert "app.py:1: error: [leaked-secret] looks like an AWS access key id" in out
    assert "AKIA" not in out and "hunter2" not in out and "notes.txt" not in out


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def sealer_head() -> str:
    result = git(ROOT, "rev-parse", "HEAD", check=False)
    if result.returncode != 0:
        pytest.skip("the sealer checkout has no commit to install hooks from")
    return result.stdout.strip()


@pytest.mark.slow
def test_real_pre_commit_framework(repo: Path, pre_commit_home: Path) -> None:
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT}\n    rev: {sealer_head()}\n    hooks:\n"
        "      - id: sealer-check\n      - id: sealer-no-plaintext\n")
    env = dict(os.environ, PRE_COMMIT_HOME=str(pre_commit_home))
    env = {k: v for k, v in env.items() if not k.startswith(("SEALER_", "SOPS_"))}
    installed = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=repo,
                               capture_output=True, text=True, env=env, check=False)
    assert installed.returncode == 0, installed.stderr

    def commit(message: str) -> subprocess.CompletedProcess[str]:
        git(repo, "add", "-A", env=env)
        return git(repo, "commit", "-m", message, env=env, check=False)

    seal(repo, "db.sealed.yaml", {"password": "pw-1"})
    good = commit("a good sealed file")
    output = good.stdout + good.stderr
    if good.returncode != 0 and "Failed to" in output:
        unavailable(f"pre-commit could not build the hook environment here: {output[-500:]}")
    assert good.returncode == 0, good.stdout + good.stderr

    (repo / "secrets" / "api.yaml").write_text("token: plaintext-secret\n")
    blocked = commit("plaintext")
    assert blocked.returncode != 0 and "plaintext-secret" in blocked.stdout + blocked.stderr
    (repo / "secrets" / "api.yaml").unlink()

    sealed = repo / "secrets" / "db.sealed.yaml"
    text = sealed.read_text()
    start = text.index("password: ENC[")
    end = text.index("]", start) + 1
    sealed.write_text(text[:start] + "password: edited-by-hand" + text[end:])
    tampered = commit("tampered")
    output = tampered.stdout + tampered.stderr
    assert tampered.returncode != 0 and "db.sealed.yaml" in output
    assert "sealed-structure" in output and "edited-by-hand" not in output
