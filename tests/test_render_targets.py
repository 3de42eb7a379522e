"""Named render targets in sealer.yaml: `sealer render --env prod` builds every prod target,
all in memory first, so one failing target writes nothing."""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest
from cli_helpers import run

from sealer import yamlio
from sealer.files import seal_file
from sealer.keys import parse_identities, parse_recipient

SECRET = str(pyrage.x25519.Identity.generate())
ALICE = parse_identities(SECRET.encode(), source="t", prompt=None)[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    recipient = parse_recipient(ALICE.recipient)
    for env in ("prod", "dev"):
        seal_file(yamlio.dump({"db": {"password": f"{env}-pw"}, "api_token": "tok"}).encode(),
                  tmp_path / f"{env}.sealed.yaml", source="t", recipients=[recipient])
    (tmp_path / "sealer.yaml").write_text(f"""\
version: 1
principals: {{alice: {ALICE.recipient}}}
environments:
  prod: {{recipients: [alice]}}
  dev: {{recipients: [alice]}}
targets:
  - {{name: prod-env, environment: prod, files: [prod.sealed.yaml], format: dotenv,
     output: out/prod.env, upper: true}}
  - name: prod-k8s
    environment: prod
    files: [prod.sealed.yaml]
    format: k8s
    output: out/secret.yaml
    kubernetes: {{name: app, namespace: prod}}
  - {{name: dev-env, environment: dev, files: [dev.sealed.yaml], format: dotenv,
     output: out/dev.env}}
""")
    return tmp_path


def render(project: Path, *args: str) -> tuple[int, str]:
    result = run("render", *args, "-i", "-", input=SECRET, cwd=project)
    return result.code, result.err


def test_env_builds_every_target_of_it(project: Path) -> None:
    code, err = render(project, "--env", "prod")
    assert code == 0, err
    assert "DB_PASSWORD='prod-pw'" in (project / "out" / "prod.env").read_text()
    secret = yamlio.load((project / "out" / "secret.yaml").read_text(), source="k")
    assert secret["metadata"]["namespace"] == "prod" and secret["kind"] == "Secret"
    assert not (project / "out" / "dev.env").exists()
    assert (project / "out" / "prod.env").stat().st_mode & 0o777 == 0o600


def test_check_and_target_names(project: Path) -> None:
    render(project, "--env", "prod")
    assert render(project, "--env", "prod", "--check")[0] == 0
    (project / "out" / "prod.env").write_text("stale\n")
    code, err = render(project, "--target", "prod-env", "--check")
    assert code == 1 and "prod.env: out of date" in err and "prod-pw" not in err


def test_one_failing_target_writes_nothing(project: Path) -> None:
    (project / "prod.sealed.yaml").rename(project / "moved.sealed.yaml")
    text = (project / "sealer.yaml").read_text().replace(
        "files: [prod.sealed.yaml], format: dotenv", "files: [moved.sealed.yaml], format: dotenv")
    (project / "sealer.yaml").write_text(text)
    code, err = render(project, "--env", "prod")
    assert code == 1 and "prod.sealed.yaml: no such file" in err
    assert not (project / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "nope"], "no target named 'nope'"),
    (["--env", "staging"], "no targets for environment 'staging'"),
    (["--env", "prod", "prod.sealed.yaml"], "--env/--target take their files"),
])
def test_usage_errors(project: Path, args: list[str], message: str) -> None:
    code, err = render(project, *args)
    assert code == 2 and message in err


def test_target_typos_are_config_errors(project: Path) -> None:
    text = (project / "sealer.yaml").read_text().replace("format: k8s", "formt: k8s")
    (project / "sealer.yaml").write_text(text)
    code, err = render(project, "--env", "prod")
    assert code == 2 and "unknown key 'formt'" in err
