"""`sealer check --hook`, what the pre-commit hooks run, on its own: the files it is passed, in
the working tree and (where they differ) staged; rollback rules against $PRE_COMMIT_FROM_REF;
a sealer.yaml or schema standing for the sealed files it governs; and the no-plaintext scan's
catches of sealer's own outputs and of the plaintext a sealed file was sealed from. The real
pre-commit framework runs these in tests/test_precommit.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import Result, run
from hook_helpers import CI_ID, CONFIG, OPS_R, edit_by_hand, git, new_project, seal

from sealer.files import set_value
from sealer.render import RenderSpec, render

SCHEMA = {"type": "object", "properties": {"password": {"type": "string"}},
          "required": ["password"]}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = new_project(tmp_path / "repo", CONFIG + "    schema: app\nschemas:\n"
                                                   "  app: schemas/app.json\n")
    (repo / "schemas").mkdir()
    (repo / "schemas" / "app.json").write_text(json.dumps(SCHEMA))
    seal(repo, "secrets/db.sealed.yaml", {"password": "pw-1"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    return repo


def hook(repo: Path, *args: str, from_ref: str | None = None) -> Result:
    env = {"HOME": os.environ["HOME"], "PRE_COMMIT_FROM_REF": from_ref}
    return run("check", "--hook", *args, env=env, cwd=repo)


def test_the_working_tree_is_checked_where_the_index_would_pass(repo: Path) -> None:
    edit_by_hand(repo / "secrets" / "db.sealed.yaml")  # not staged: --files, --all-files
    result = hook(repo, "secrets/db.sealed.yaml")
    assert result.code == 1
    assert "secrets/db.sealed.yaml:1: error: [sealed-structure] malformed sealed file" in result.out
    assert "edited-by-hand" not in result.out
    assert run("check", "--staged", cwd=repo).code == 0  # the index alone is still good


def test_a_staged_version_that_differs_is_checked_too(repo: Path) -> None:
    sealed = repo / "secrets" / "db.sealed.yaml"
    good = sealed.read_bytes()
    edit_by_hand(sealed)
    git(repo, "add", "-A")
    sealed.write_bytes(good)  # fixed in the working tree only: a commit would record the index
    result = hook(repo, "secrets/db.sealed.yaml")
    assert result.code == 1
    assert ("secrets/db.sealed.yaml:1: error: [sealed-structure] the staged version: "
            "malformed sealed file") in result.out
    assert result.out.count("[sealed-structure]") == 1


def test_rollbacks_are_judged_against_pre_commit_from_ref(repo: Path) -> None:
    sealed = repo / "secrets" / "db.sealed.yaml"
    first = sealed.read_bytes()
    set_value(sealed, "password", "pw-2", [CI_ID])
    git(repo, "commit", "-qam", "v2")
    git(repo, "checkout", "-qb", "old")
    sealed.write_bytes(first)
    git(repo, "commit", "-qam", "back to v1")
    assert hook(repo, "secrets/db.sealed.yaml").code == 0  # HEAD holds the old version itself
    result = hook(repo, "secrets/db.sealed.yaml", from_ref="main")
    assert result.code == 1 and "[rollback] serial went down from 2 to 1" in result.out
    result = hook(repo, "--base", "main", "secrets/db.sealed.yaml")
    assert result.code == 1 and "[rollback]" in result.out


def test_an_unknown_base_is_an_error_not_a_pass(repo: Path) -> None:
    result = hook(repo, "secrets/db.sealed.yaml", from_ref="origin/main")
    assert result.code == 2 and result.out == ""
    assert result.err == (
        "sealer: error: unknown git revision 'origin/main': nothing to compare with, so "
        "rollbacks could not be seen\n"
        "sealer: hint: fetch it first (git fetch origin main); a shallow clone needs the "
        "base's history too (fetch-depth: 0)\n")
    assert run("check", "--base", "origin/main", cwd=repo).code == 2  # in CI, the same


def test_sealer_yaml_stands_for_every_sealed_file_below_it(repo: Path) -> None:
    seal(repo, "secrets/untracked.sealed.yaml", {"password": "pw"})  # not in the commit
    config = repo / "sealer.yaml"
    config.write_text(config.read_text().replace(
        "recipients: [ci]", "recipients: [ci, ops]\n    require: [ops]"))
    result = hook(repo, "sealer.yaml")
    assert result.code == 1
    assert "error: [recipient-missing] not sealed for 'ops', which prod requires" in result.out
    assert result.out.startswith("secrets/db.sealed.yaml:")
    assert "untracked" not in result.out and "1 sealed file checked" in result.out
    assert OPS_R.text not in result.out


def test_a_schema_stands_for_the_files_of_the_sealer_yaml_naming_it(repo: Path) -> None:
    (repo / "package.json").write_text("{}")
    assert "0 sealed files checked" in hook(repo, "package.json").out
    (repo / "schemas" / "app.json").write_text(json.dumps(
        {**SCHEMA, "required": ["password", "username"]}))
    result = hook(repo, "schemas/app.json")
    assert result.code == 1
    assert "secrets/db.sealed.yaml" in result.out and "[schema-mismatch]" in result.out


def rendered(sealed: Path, spec: RenderSpec) -> bytes:
    return render([sealed], spec, [CI_ID]).content


@pytest.mark.parametrize("fmt", ["dotenv", "shell", "systemd"])
def test_a_rendered_env_file_is_plaintext(repo: Path, fmt: str) -> None:
    (repo / "app.env").write_bytes(rendered(repo / "secrets" / "db.sealed.yaml",
                                            RenderSpec(fmt)))
    result = hook(repo, "--no-plaintext", "app.env")
    assert result.code == 1
    assert ("app.env:1: error: [plaintext-secret] a file rendered by sealer (its first line "
            "says: do not commit) holds plaintext secrets") in result.out
    assert "pw-1" not in result.out


def test_a_rendered_kubernetes_secret_is_plaintext(repo: Path) -> None:
    manifest = rendered(repo / "secrets" / "db.sealed.yaml", RenderSpec("k8s"))
    (repo / "deploy").mkdir()
    (repo / "deploy" / "secret.yaml").write_bytes(manifest)
    line = manifest.decode().splitlines().index(
        next(x for x in manifest.decode().splitlines() if "sealer.dev/" in x)) + 1
    result = hook(repo, "--no-plaintext", "deploy/secret.yaml")
    assert result.code == 1
    assert (f"deploy/secret.yaml:{line}: error: [plaintext-secret] a Kubernetes Secret rendered "
            "by sealer (annotation sealer.dev/content-hmac-sha256) holds plaintext "
            "secrets") in result.out
    assert "pw-1" not in result.out and "cHctMQ" not in result.out  # nor its base64


def test_docs_that_show_such_a_secret_are_not_one(repo: Path) -> None:
    manifest = rendered(repo / "secrets" / "db.sealed.yaml", RenderSpec("k8s")).decode()
    (repo / "DEPLOY.md").write_text(f"# Deploying\n\n```yaml\n{manifest}```\n")
    assert hook(repo, "--no-plaintext", "DEPLOY.md").code == 0


def test_the_plaintext_a_sealed_file_was_sealed_from(repo: Path) -> None:
    (repo / "app.yaml").write_text("password: hunter2\nport: 5432\n")
    seal(repo, "app.sealed.yaml", {"password": "hunter2", "port": 5432})
    result = hook(repo, "--no-plaintext", "app.yaml", "app.sealed.yaml")
    assert result.code == 1
    assert ("app.yaml:1: error: [plaintext-secret] the plaintext app.sealed.yaml was sealed "
            "from: its keys are in clear here") in result.out
    assert "hunter2" not in result.out and "2 files checked: 1 error" in result.out


def test_yaml_beside_a_sealed_file_with_other_keys_is_not_its_source(repo: Path) -> None:
    (repo / "values.yaml").write_text("image: web:1.2\nreplicas: 3\n")
    seal(repo, "values.sealed.yaml", {"password": "hunter2"})
    (repo / "notes.yaml").write_text("- not a mapping\n")
    seal(repo, "notes.sealed.yaml", {"password": "hunter2"})
    result = hook(repo, "--no-plaintext", "values.yaml", "notes.yaml")
    assert result.code == 0, result.out


def test_a_symlink_is_scanned_as_git_records_it_not_followed(repo: Path,
                                                             tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text('KEY = "AKIAIOSFODNN7EXAMPLE"\n')
    (repo / "link.txt").symlink_to(outside)
    assert hook(repo, "--no-plaintext", "link.txt").code == 0
    (repo / "leak.txt").write_text(outside.read_text())
    result = hook(repo, "--no-plaintext", "leak.txt")
    assert result.code == 1 and "[leaked-secret] looks like an AWS access key id" in result.out


def test_staged_and_hook_exclude_each_other(repo: Path) -> None:
    result = run("check", "--staged", "--hook", cwd=repo)
    assert result.code == 2
    assert result.err.startswith("sealer: error: --staged and --hook exclude each other\n")


def test_a_sealed_file_linking_out_of_the_repository_is_not_read(repo: Path,
                                                                 tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.sealed.yaml"
    outside.write_bytes((repo / "secrets" / "db.sealed.yaml").read_bytes())
    (repo / "secrets" / "link.sealed.yaml").symlink_to(outside)
    result = hook(repo, "secrets/link.sealed.yaml")
    assert result.code == 1
    assert ("secrets/link.sealed.yaml:1: error: [sealed-structure] is a symlink leading out of "
            "the repository; it was not read") in result.out
