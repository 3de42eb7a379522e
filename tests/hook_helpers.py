"""Throwaway repositories for the hook tests: a project with sealer.yaml and sealed files, and a
hook repository built from this checkout's working tree (pre-commit installs hooks from a git
commit, so a copy of the tree committed in a temporary repository is what puts uncommitted
changes under test), and the real pre-commit framework run in the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from sealing import new_identity

from sealer import yamlio
from sealer.files import seal_file

CI_ID, CI_R = new_identity()
OPS_ID, OPS_R = new_identity()
CONFIG = f"""\
version: 1
principals:
  ci: {CI_R.text}
  ops: {OPS_R.text}
environments:
  prod:
    recipients: [ci]
creation_rules:
  - path: secrets/**
    environment: prod
"""
# What a hook repository needs: the package, its data, and what its build reads.
HOOK_REPOSITORY_FILES = ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml")
HOOK_REPOSITORY_TREES = ("sealer", "schemas")


def git(repo: Path, *args: str, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=check, env=env)


def new_repository(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for key, value in (("user.email", "dev@example.com"), ("user.name", "dev"),
                       ("commit.gpgsign", "false")):
        git(path, "config", key, value)
    return path


def new_project(path: Path, config: str = CONFIG) -> Path:
    repo = new_repository(path)
    (repo / "secrets").mkdir()
    (repo / "sealer.yaml").write_text(config)
    return repo


def seal(repo: Path, name: str, data: dict[str, object]) -> Path:
    out = repo / name
    seal_file(yamlio.dump(data).encode(), out, source="t", recipients=[CI_R],
              identities=[CI_ID])
    return out


def edit_by_hand(sealed: Path, key: str = "password") -> None:
    """Replace `key`'s ciphertext with plaintext, as someone without sealer would."""
    text = sealed.read_text()
    start = text.index(f"{key}: ENC[")
    end = text.index("]", start) + 1
    sealed.write_text(text[:start] + f"{key}: edited-by-hand" + text[end:])


def build_hook_repository(path: Path) -> tuple[Path, str]:
    """A git repository holding this checkout's working tree (what the hooks install from),
    committed: its path and the commit."""
    repo = new_repository(path)
    for name in HOOK_REPOSITORY_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, repo / name)
    for name in HOOK_REPOSITORY_TREES:
        shutil.copytree(ROOT / name, repo / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "sealer as checked out")
    return repo, git(repo, "rev-parse", "HEAD").stdout.strip()


def framework_env(pre_commit_home: Path) -> dict[str, str]:
    """The environment pre-commit (and git, which runs its hook) gets: no sealer or SOPS keys,
    none of pre-commit's own variables from an outer run, its cache in `pre_commit_home`, and
    this interpreter's bin directory first on PATH (`pre-commit`, and `sealer` for the
    `repo: local` hooks)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEALER_", "SOPS_", "PRE_COMMIT"))}
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def pre_commit(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo,
                          capture_output=True, text=True, env=env, check=False, timeout=600)


def commit(repo: Path, env: dict[str, str], message: str,
           *extra: str) -> subprocess.CompletedProcess[str]:
    """`git add -A` and `git commit` (the installed pre-commit hook runs)."""
    git(repo, "add", "-A", env=env)
    return git(repo, "commit", "-m", message, *extra, env=env, check=False)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr
