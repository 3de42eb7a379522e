"""sealer's hooks in the real pre-commit framework, installed from a copy of this checkout's
working tree committed in a throwaway hook repository (one per test session): a good sealed
file commits; plaintext secrets, a leaked key, a hand-edited sealed file and a rollback are
blocked; `pre-commit run --all-files`, `--files` and `--from-ref/--to-ref` check the working
tree, the last with rollbacks against the base; a commit of sealer.yaml or a schema alone
runs sealer-check; sealer's own outputs and the plaintext beside a sealed file are blocked;
the README's snippets work as written. Also `check --staged` on its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run
from conftest import ROOT, unavailable
from hook_helpers import CI_ID as PROJECT_ID
from hook_helpers import CONFIG as PROJECT_CONFIG
from hook_helpers import (
    build_hook_repository,
    edit_by_hand,
    framework_env,
    new_project,
    output,
    pre_commit,
)
from hook_helpers import commit as commit_all
from hook_helpers import seal as seal_at
from sealing import new_identity

from sealer import yamlio
from sealer.files import seal_file, set_value
from sealer.render import RenderSpec, render

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


@pytest.fixture(scope="session")
def hook_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout's working tree, committed in a throwaway repository: path and commit."""
    return build_hook_repository(tmp_path_factory.mktemp("hooks") / "sealer")


def hooks_config(hook_repository: tuple[Path, str]) -> str:
    path, rev = hook_repository
    return (f"repos:\n  - repo: {path}\n    rev: {rev}\n    hooks:\n"
            "      - id: sealer-check\n      - id: sealer-no-plaintext\n")


@pytest.mark.slow
def test_real_pre_commit_framework(repo: Path, pre_commit_home: Path,
                                   hook_repository: tuple[Path, str]) -> None:
    (repo / ".pre-commit-config.yaml").write_text(hooks_config(hook_repository))
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


# The real framework in CI modes, on config and schema commits, on sealer's own outputs, and
# the README's snippets. One hook environment for all of them (the session's PRE_COMMIT_HOME
# and hook repository).

SCHEMA = '{"type": "object", "required": ["password"]}'


@pytest.fixture
def project(tmp_path: Path, pre_commit_home: Path,
            hook_repository: tuple[Path, str]) -> tuple[Path, dict[str, str]]:
    """A repository with sealer's hooks installed, a schema named in its sealer.yaml, and a
    good sealed file committed through them; and the environment to run pre-commit in."""
    config = PROJECT_CONFIG + "    schema: app\nschemas:\n  app: schemas/app.json\n"
    repo = new_project(tmp_path / "project", config)
    (repo / "schemas").mkdir()
    (repo / "schemas" / "app.json").write_text(SCHEMA)
    (repo / ".pre-commit-config.yaml").write_text(hooks_config(hook_repository))
    env = framework_env(pre_commit_home)
    installed = pre_commit(repo, env, "install")
    assert installed.returncode == 0, output(installed)
    seal_at(repo, "secrets/db.sealed.yaml", {"password": "pw-1"})
    first = commit_all(repo, env, "a good sealed file")
    if first.returncode != 0 and "Failed to" in output(first):
        unavailable(f"pre-commit could not build the hook environment: {output(first)[-500:]}")
    assert first.returncode == 0, output(first)
    return repo, env


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


@pytest.mark.slow
def test_ci_runs_check_the_working_tree(project: tuple[Path, dict[str, str]]) -> None:
    repo, env = project
    base = head(repo)
    edit_by_hand(repo / "secrets" / "db.sealed.yaml")
    (repo / "secrets" / "db.yaml").write_text("password: hunter2\n")
    assert commit_all(repo, env, "past the hooks", "--no-verify").returncode == 0
    runs = (["--all-files"], ["--files", "secrets/db.sealed.yaml", "secrets/db.yaml"],
            ["--from-ref", base, "--to-ref", "HEAD"])
    for args in runs:
        result = pre_commit(repo, env, "run", *args)
        text = output(result)
        assert result.returncode == 1, (args, text)
        assert "secrets/db.sealed.yaml:1: error: [sealed-structure]" in text, (args, text)
        assert "secrets/db.yaml:1: error: [plaintext-secret]" in text, (args, text)
        assert "hunter2" not in text and "edited-by-hand" not in text


@pytest.mark.slow
def test_from_ref_refuses_a_rollback_against_the_base(
        project: tuple[Path, dict[str, str]]) -> None:
    repo, env = project
    sealed = repo / "secrets" / "db.sealed.yaml"
    first = sealed.read_bytes()
    set_value(sealed, "password", "pw-2", [PROJECT_ID])
    assert commit_all(repo, env, "v2").returncode == 0
    git(repo, "checkout", "-qb", "feature")
    sealed.write_bytes(first)
    assert commit_all(repo, env, "back to v1", "--no-verify").returncode == 0
    assert pre_commit(repo, env, "run", "--all-files").returncode == 0  # vs HEAD: nothing to see
    result = pre_commit(repo, env, "run", "--from-ref", "main", "--to-ref", "HEAD")
    assert result.returncode == 1
    assert "[rollback] serial went down from 2 to 1" in output(result)


@pytest.mark.slow
def test_a_commit_of_sealer_yaml_or_a_schema_alone_runs_sealer_check(
        project: tuple[Path, dict[str, str]]) -> None:
    repo, env = project
    schema = repo / "schemas" / "app.json"
    schema.write_text('{"type": "object", "required": ["password", "username"]}')
    blocked = commit_all(repo, env, "a stricter schema")
    assert blocked.returncode != 0
    assert "secrets/db.sealed.yaml" in output(blocked) and "[schema-mismatch]" in output(blocked)
    git(repo, "reset", "-q", "--hard")
    config = repo / "sealer.yaml"
    config.write_text(config.read_text().replace("recipients: [ci]",
                                                 "recipients: [ci, ops]\n    require: [ops]"))
    blocked = commit_all(repo, env, "ops must be able to read prod")
    assert blocked.returncode != 0
    assert "[recipient-missing] not sealed for 'ops'" in output(blocked)


@pytest.mark.slow
def test_no_plaintext_blocks_what_sealer_wrote_and_read(
        project: tuple[Path, dict[str, str]]) -> None:
    repo, env = project
    seal_at(repo, "app.sealed.yaml", {"password": "hunter2"})
    assert commit_all(repo, env, "a sealed file outside secrets/").returncode == 0
    sealed = repo / "app.sealed.yaml"
    outputs = {
        "app.env": render([sealed], RenderSpec("dotenv"), [PROJECT_ID]).content,
        "secret.yaml": render([sealed], RenderSpec("k8s"), [PROJECT_ID]).content,
        "app.yaml": b"password: hunter2\n",  # what `sealer seal app.yaml` read
    }
    kinds = {"app.env": "a file rendered by sealer", "secret.yaml": "a Kubernetes Secret",
             "app.yaml": "the plaintext app.sealed.yaml was sealed from"}
    for name, content in outputs.items():
        (repo / name).write_bytes(content)
        blocked = commit_all(repo, env, f"commit {name}")
        text = output(blocked)
        assert blocked.returncode != 0, text
        assert f"{name}:" in text and "[plaintext-secret]" in text and kinds[name] in text
        assert "hunter2" not in text and "aHVudGVyMg" not in text  # nor its base64
        git(repo, "rm", "-q", "--cached", name)
        (repo / name).unlink()


def readme_block(language: str, containing: str) -> str:
    """The README's fenced `language` block that contains `containing`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", readme, re.MULTILINE | re.DOTALL)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"the README has {len(found)} {language} blocks with {containing!r}"
    return str(found[0])


@pytest.mark.slow
def test_the_readme_snippet_works_as_written(tmp_path: Path, pre_commit_home: Path,
                                             hook_repository: tuple[Path, str]) -> None:
    """The README's remote-repository snippet with only its URL replaced, and its commands as
    they are: autoupdate pins the hook repository's commit, then commits and both CI runs."""
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo = new_project(tmp_path / "project")
    git(repo, "remote", "add", "origin", str(remote))
    snippet = readme_block("yaml", "rev:")
    url = re.search(r"repo: (\S+)", snippet)
    assert url is not None and url.group(1) != "local"
    (repo / ".pre-commit-config.yaml").write_text(snippet.replace(url.group(1),
                                                                  str(hook_repository[0])))
    env = framework_env(pre_commit_home)
    commands = readme_block("sh", "pre-commit autoupdate").splitlines()

    def shell(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-c", line], cwd=repo, env=env, capture_output=True,
                              text=True, check=False, timeout=600)

    setup = shell(commands[0])
    assert setup.returncode == 0, output(setup)
    pinned = yamlio.load((repo / ".pre-commit-config.yaml").read_bytes(), source="config")
    assert pinned["repos"][0]["rev"] == hook_repository[1]
    seal_at(repo, "secrets/db.sealed.yaml", {"password": "pw-1"})
    good = commit_all(repo, env, "a good sealed file")
    assert good.returncode == 0, output(good)
    git(repo, "push", "-q", "origin", "main")
    git(repo, "fetch", "-q", "origin")
    for line in commands[1:]:
        assert shell(line).returncode == 0, (line, output(shell(line)))
    git(repo, "checkout", "-qb", "feature")
    edit_by_hand(repo / "secrets" / "db.sealed.yaml")
    assert commit_all(repo, env, "past the hooks", "--no-verify").returncode == 0
    for line in commands[1:]:
        result = shell(line)
        assert result.returncode == 1 and "[sealed-structure]" in output(result), line


@pytest.mark.slow
def test_the_readme_local_snippet_works_as_written(tmp_path: Path,
                                                   pre_commit_home: Path) -> None:
    """`repo: local` with sealer on PATH (this checkout's), the README's text as it is; its
    hook definitions are those of .pre-commit-hooks.yaml."""
    snippet = readme_block("yaml", "repo: local")
    local = {h["id"]: h for h in yamlio.load(snippet, source="README")["repos"][0]["hooks"]}
    shipped = yamlio.load((ROOT / ".pre-commit-hooks.yaml").read_bytes(), source="hooks")
    for hook in shipped:
        for key in ("entry", "files", "require_serial"):
            assert local[hook["id"]].get(key) == hook.get(key), (hook["id"], key)
    repo = new_project(tmp_path / "project")
    (repo / ".pre-commit-config.yaml").write_text(snippet)
    env = framework_env(pre_commit_home)
    assert pre_commit(repo, env, "install").returncode == 0
    seal_at(repo, "secrets/db.sealed.yaml", {"password": "pw-1"})
    good = commit_all(repo, env, "a good sealed file")
    assert good.returncode == 0, output(good)
    edit_by_hand(repo / "secrets" / "db.sealed.yaml")
    (repo / "app.yaml").write_text("password: hunter2\n")
    seal_at(repo, "app.sealed.yaml", {"password": "hunter2"})
    blocked = commit_all(repo, env, "tampered, and a plaintext source")
    text = output(blocked)
    assert blocked.returncode != 0
    assert "secrets/db.sealed.yaml:1: error: [sealed-structure]" in text
    assert "app.yaml:1: error: [plaintext-secret]" in text and "hunter2" not in text
