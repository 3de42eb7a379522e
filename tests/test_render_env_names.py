"""Secrets cannot take the names of variables that change how programs run (issue 11, item 7.1):
`sealer exec` and the env-style formats refuse them, naming the file, the key path and the
variable, never the value; only `--allow-env NAME` on the command line lets one through, and a
target in sealer.yaml cannot.

The exec tests run the real `sealer` and a real bash: a `BASH_ENV` secret pointing at a script
would run it in every non-interactive bash the command starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_render_support import Keys, seal_to, sealer

from sealer.errors import UsageError
from sealer.render import NameRule, RenderSpec, render, secret_environment
from sealer.render.controls import CONTROL_VARIABLES, control_group

pytest_plugins = ["test_render_support"]

CANARY = "c4n4ry-e9f1-value"

# Every name the issue lists, and the others of the list: each one is refused.
REFUSED = [
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "PATH", "HOME",
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "PYTHONPATH",
    "PYTHONSTARTUP", "PYTHONHOME", "PYTHONWARNINGS", "PERL5OPT", "PERL5LIB", "PERLLIB",
    "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "GCONV_PATH", "LOCPATH", "HOSTALIASES", "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_PARAMETERS",
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_ASKPASS", "SSH_ASKPASS", "EDITOR",
    "VISUAL", "PAGER", "LESSOPEN", "ZDOTDIR", "XDG_CONFIG_HOME", "NODE_TLS_REJECT_UNAUTHORIZED",
    "HTTPS_PROXY", "https_proxy", "PIP_INDEX_URL", "npm_config_registry", "GOFLAGS",
    "SEALER_IDENTITY", "SEALER_TRUSTED_SIGNERS", "SOPS_AGE_KEY", "PGSSLMODE",
]
# Ordinary names, some close to refused ones: names are compared exactly and case-sensitively.
ALLOWED = ["DB_PASSWORD", "path", "home", "Path", "ld_preload", "MY_PATH", "PATHS_FILE",
           "APP_LD_PRELOAD", "PGPASSWORD", "PGHOST", "GIT_TOKEN", "AWS_SECRET_ACCESS_KEY",
           "ENVIRONMENT", "HOMEPAGE", "PYTHO", "SEALERX", "GITHUB_TOKEN"]


def sealed(tmp_path: Path, keys: Keys, data: dict[str, object],
           name: str = "app.sealed.yaml") -> Path:
    return seal_to(tmp_path / name, data, keys)


def refused(tmp_path: Path, keys: Keys, key: str, **options: object) -> UsageError:
    path = sealed(tmp_path, keys, {"grp": {"x": 1}, key: CANARY})
    with pytest.raises(UsageError) as caught:
        secret_environment([path], keys.identities, base={}, **options)  # type: ignore[arg-type]
    error = caught.value
    assert CANARY not in str(error) and CANARY not in (error.hint or "")
    return error


@pytest.mark.parametrize("name", REFUSED)
def test_exec_refuses_names_that_change_how_programs_run(tmp_path: Path, keys: Keys,
                                                         name: str) -> None:
    error = refused(tmp_path, keys, name)
    group = control_group(name)
    assert group is not None
    assert str(error) == (f"{tmp_path / 'app.sealed.yaml'}: {name}: becomes {name}, which "
                          f"changes how programs run ({group}); refused from a sealed file")
    assert error.hint == (f"if this file may set it, pass --allow-env {name} (the command line "
                          "only: sealer.yaml cannot allow it)")
    assert error.exit_code == 2


@pytest.mark.parametrize("name", ALLOWED)
def test_ordinary_names_pass(tmp_path: Path, keys: Keys, name: str) -> None:
    path = sealed(tmp_path, keys, {name: CANARY})
    assert secret_environment([path], keys.identities, base={}) == {name: CANARY}


def test_the_final_name_counts_after_upper_and_prefix(tmp_path: Path, keys: Keys) -> None:
    path = sealed(tmp_path, keys, {"path": "/x", "db": {"password": CANARY}})
    assert secret_environment([path], keys.identities, base={})["path"] == "/x"
    with pytest.raises(UsageError, match=r": path: becomes PATH, "):
        secret_environment([path], keys.identities, base={}, names=NameRule(upper=True))
    with pytest.raises(UsageError, match=r": path: becomes LD_path, "):
        secret_environment([path], keys.identities, base={}, names=NameRule(prefix="LD_"))
    nested = sealed(tmp_path, keys, {"ld": {"preload": CANARY}}, "nested.sealed.yaml")
    with pytest.raises(UsageError, match=r": ld\.preload: becomes LD_PRELOAD, "):
        secret_environment([nested], keys.identities, base={}, names=NameRule(upper=True))


def test_the_error_names_the_file_the_value_came_from(tmp_path: Path, keys: Keys) -> None:
    base = sealed(tmp_path, keys, {"a": "1"}, "base.sealed.yaml")
    overlay = sealed(tmp_path, keys, {"NODE_OPTIONS": CANARY}, "prod.sealed.yaml")
    with pytest.raises(UsageError) as caught:
        secret_environment([base, overlay], keys.identities, base={})
    assert str(caught.value).startswith(f"{overlay}: NODE_OPTIONS: becomes NODE_OPTIONS")


def test_allow_env_lets_exactly_the_named_variable_through(tmp_path: Path, keys: Keys) -> None:
    path = sealed(tmp_path, keys, {"JAVA_TOOL_OPTIONS": CANARY, "PATH": "/evil"})
    with pytest.raises(UsageError, match="becomes PATH"):
        secret_environment([path], keys.identities, base={}, allow_env=["JAVA_TOOL_OPTIONS"])
    env = secret_environment([path], keys.identities, base={},
                             allow_env=["JAVA_TOOL_OPTIONS", "PATH"])
    assert env == {"JAVA_TOOL_OPTIONS": CANARY, "PATH": "/evil"}


@pytest.mark.parametrize("bad", ["LD_*", "", "A B", "1X", "PATH=1"])
def test_allow_env_takes_names_not_patterns(tmp_path: Path, keys: Keys, bad: str) -> None:
    path = sealed(tmp_path, keys, {"a": 1})
    with pytest.raises(UsageError, match="--allow-env takes an environment variable name"):
        secret_environment([path], keys.identities, allow_env=[bad])


def test_the_list_has_one_home_and_no_overlaps() -> None:
    names = [n for group in CONTROL_VARIABLES.values() for n in group]
    assert len(names) == len(set(names))
    from sealer.environ import KEY_VARIABLES

    assert all(control_group(name) == "sealer and sops settings" for name in KEY_VARIABLES)


# -- the real sealer exec and a real bash ----------------------------------------------------


def bash_env_project(tmp_path: Path, keys: Keys) -> tuple[Path, Path]:
    """A sealed file whose BASH_ENV names a script that would create PWNED."""
    script = tmp_path / "payload.sh"
    script.write_text(f"touch {tmp_path / 'PWNED'}\n", encoding="utf-8")
    path = sealed(tmp_path, keys, {"BASH_ENV": str(script), "token": CANARY})
    return path, tmp_path / "PWNED"


def test_exec_with_bash_env_runs_nothing(tmp_path: Path, keys: Keys) -> None:
    path, pwned = bash_env_project(tmp_path, keys)
    result = sealer(tmp_path, "exec", path.name, "-i", keys.file, "--", "bash", "-c", "true")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"sealer: error: {path.name}: BASH_ENV: becomes BASH_ENV, which changes how programs "
        "run (shell start-up and parsing); refused from a sealed file\n"
        "sealer: hint: if this file may set it, pass --allow-env BASH_ENV (the command line "
        "only: sealer.yaml cannot allow it)\n")
    assert not pwned.exists() and CANARY not in result.err


def test_exec_allow_env_from_the_command_line(tmp_path: Path, keys: Keys) -> None:
    """The opt-in works, which also shows the refusal above is what kept bash from running the
    script."""
    path, pwned = bash_env_project(tmp_path, keys)
    result = sealer(tmp_path, "exec", path.name, "-i", keys.file, "--allow-env", "BASH_ENV",
                    "--", "bash", "-c", 'printf %s "$token"')
    assert (result.code, result.out) == (0, CANARY), result.err
    assert pwned.exists()


def test_exec_refuses_ld_preload_before_starting_anything(tmp_path: Path, keys: Keys) -> None:
    marker = tmp_path / "started"
    path = sealed(tmp_path, keys, {"ld": {"preload": "/tmp/evil.so"}})
    result = sealer(tmp_path, "exec", path.name, "-i", keys.file, "--upper", "--",
                    sys.executable, "-c", f"open({str(marker)!r}, 'w')")
    assert result.code == 2 and "ld.preload: becomes LD_PRELOAD" in result.err
    assert not marker.exists()


def test_exec_bad_allow_env_is_a_usage_error(tmp_path: Path, keys: Keys) -> None:
    path = sealed(tmp_path, keys, {"a": 1})
    result = sealer(tmp_path, "exec", path.name, "-i", keys.file, "--allow-env", "LD_*", "--",
                    "true")
    assert (result.code, result.err) == (
        2, "sealer: error: --allow-env takes an environment variable name, not 'LD_*'\n"
           "sealer: hint: name one variable per --allow-env, e.g. --allow-env "
           "JAVA_TOOL_OPTIONS\n")


# -- render formats --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dotenv", "shell", "systemd", "github"])
def test_env_formats_refuse_them_too(tmp_path: Path, keys: Keys, fmt: str) -> None:
    path = sealed(tmp_path, keys, {"PROMPT_COMMAND": CANARY})
    spec = RenderSpec(fmt, output=tmp_path / "out")
    with pytest.raises(UsageError) as caught:
        render([path], spec, keys.identities)
    assert str(caught.value).startswith(f"{path}: PROMPT_COMMAND: becomes PROMPT_COMMAND")
    assert CANARY not in str(caught.value)
    out = render([path], spec._replace(allow_env=("PROMPT_COMMAND",)), keys.identities)
    assert CANARY.encode() in out.content


@pytest.mark.parametrize(("fmt", "options"), [
    ("github", {"github": "output"}), ("json", {}), ("yaml", {}), ("k8s", {})])
def test_formats_whose_names_are_no_variables_pass(tmp_path: Path, keys: Keys, fmt: str,
                                                   options: dict[str, str]) -> None:
    path = sealed(tmp_path, keys, {"PATH": CANARY})
    out = render([path], RenderSpec(fmt, output=tmp_path / "out", **options),  # type: ignore[arg-type]
                 keys.identities)
    assert b"PATH" in out.content


def test_render_cli_allow_env(tmp_path: Path, keys: Keys) -> None:
    path = sealed(tmp_path, keys, {"HOME": "/srv/checkout"})
    args = ("render", path.name, "-f", "shell", "--stdout", "-i", keys.file)
    result = sealer(tmp_path, *args)
    assert result.code == 2 and "HOME: becomes HOME, which changes how programs run" in result.err
    result = sealer(tmp_path, *args, "--allow-env", "HOME")
    assert (result.code, result.out.splitlines()[1:]) == (0, ["export HOME='/srv/checkout'"])


# -- named targets: sealer.yaml cannot allow a refused name ------------------------------------


def project(tmp_path: Path, keys: Keys, extra: str = "") -> Path:
    sealed(tmp_path, keys, {"LD_PRELOAD": "/evil.so", "token": CANARY})
    (tmp_path / "sealer.yaml").write_text(f"""\
version: 1
principals: {{deploy: {keys.recipient.text}}}
environments:
  prod: {{recipients: [deploy]}}
targets:
  - name: app-env
    environment: prod
    files: [app.sealed.yaml]
    format: dotenv
    output: out/app.env
{extra}""", encoding="utf-8")
    return tmp_path


def test_a_target_refuses_the_name(tmp_path: Path, keys: Keys) -> None:
    root = project(tmp_path, keys)
    result = sealer(root, "render", "--env", "prod", "-i", keys.file)
    assert result.code == 2 and "LD_PRELOAD: becomes LD_PRELOAD" in result.err
    assert not (root / "out").exists()
    allowed = sealer(root, "render", "--env", "prod", "--allow-env", "LD_PRELOAD", "-i",
                     keys.file)
    assert allowed.code == 0, allowed.err
    assert "LD_PRELOAD='/evil.so'" in (root / "out" / "app.env").read_text(encoding="utf-8")


def test_a_target_cannot_allow_it(tmp_path: Path, keys: Keys) -> None:
    root = project(tmp_path, keys, "    allow_env: [LD_PRELOAD]\n")
    result = sealer(root, "render", "--env", "prod", "-i", keys.file)
    assert result.code == 2 and "allow_env" in result.err
    assert not (root / "out").exists()
