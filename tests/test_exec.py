"""`sealer exec`: the real sealer process running real commands (sh, python) with the demo
secrets in their environment.

Because sealer replaces itself with the command (execve), the process the test started *is*
the command: its pid, its exit code and its signals are the command's own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Demo, Env, start

pytest_plugins = ["cli_fixtures"]

PASSWORD = "c0rrect-horse"  # the demo's db.password
K = ("-i", "alice.key")


def exec_(demo: Demo, *args: str, env: Env | None = None,
          input: str | None = None) -> tuple[int, str, str]:
    result = demo.run("exec", "app.sealed.yaml", *args, env=env, input=input)
    return result.code, result.out, result.err


def child_env(demo: Demo, *options: str, env: Env | None = None
              ) -> dict[str, str]:
    code, out, err = exec_(demo, *options, "--", sys.executable, "-c",
                           "import json, os; print(json.dumps(dict(os.environ)))", env=env)
    assert code == 0, err
    result: dict[str, str] = json.loads(out)
    return result


def test_the_command_gets_the_secrets_and_this_environment(demo: Demo) -> None:
    env = child_env(demo, *K, env={"FROM_PARENT": "yes"})
    assert env["db_password"] == PASSWORD and env["admins_1"] == "bob@example.com"
    assert env["flags_enabled"] == "true" and env["FROM_PARENT"] == "yes"
    assert "PATH" in env


def test_names_follow_the_dotenv_rules(demo: Demo) -> None:
    env = child_env(demo, *K, "--select", "db", "--upper", "--prefix", "PG")
    assert env["PGPASSWORD"] == PASSWORD and env["PGHOST"] == "db.internal.example.com"
    assert "db_password" not in env


def test_clean_env_gives_only_the_secrets(demo: Demo) -> None:
    code, out, err = exec_(demo, *K, "--clean-env", "--", "env", env={"FROM_PARENT": "yes"})
    assert code == 0, err
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["db_password"] == PASSWORD
    assert set(env) == {"db_host", "db_port", "db_password", "api_token", "flags_enabled",
                        "flags_zip", "admins_0", "admins_1"}


def test_key_variables_are_not_passed_on_unless_asked(demo: Demo) -> None:
    key = next(line for line in demo.key.read_text().splitlines()
               if line.startswith("AGE-SECRET-KEY-"))
    variables = {"SEALER_IDENTITY": key, "SEALER_IDENTITY_FILE": "/nonexistent",
                 "SOPS_AGE_KEY": key, "SOPS_AGE_KEY_FILE": "/nonexistent"}
    env = child_env(demo, *K, env=variables)
    assert not set(variables) & set(env)
    assert not any(key in value for value in env.values())
    kept = child_env(demo, *K, "--keep-key-env", env=variables)
    assert {name: kept[name] for name in variables} == variables


def test_identity_from_the_environment_is_not_passed_on(demo: Demo) -> None:
    key = next(line for line in demo.key.read_text().splitlines()
               if line.startswith("AGE-SECRET-KEY-"))
    env = child_env(demo, env={"SEALER_IDENTITY": key})
    assert env["db_password"] == PASSWORD and "SEALER_IDENTITY" not in env


@pytest.mark.parametrize("status", [0, 1, 3, 42, 127, 255])
def test_exit_codes_pass_through(demo: Demo, status: int) -> None:
    assert exec_(demo, *K, "--", "sh", "-c", f"exit {status}")[0] == status


def test_stdin_stdout_and_stderr_are_the_commands(demo: Demo) -> None:
    code, out, err = exec_(demo, *K, "--", "sh", "-c", 'cat; echo "$api_token" >&2',
                           input="from stdin\n")
    assert (code, out, err) == (0, "from stdin\n", "tok-9f8e7d\n")


def test_arguments_after_the_separator_are_the_commands(demo: Demo) -> None:
    code, out, _ = exec_(demo, *K, "--", "sh", "-c", 'printf "%s|" "$@"', "sh", "--upper",
                         "-i", "--", "x y")
    assert (code, out) == (0, "--upper|-i|--|x y|")


def started(demo: Demo, script: str) -> subprocess.Popen[bytes]:
    """`sealer exec` running `sh -c script`, once it printed its first line."""
    proc = start("exec", "app.sealed.yaml", *K, "--", "sh", "-c", script, cwd=demo.dir,
                 stdin=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first == b"ready\n", (first, proc.stderr.read() if proc.stderr else b"")
    return proc


def test_sealer_is_replaced_by_the_command(demo: Demo) -> None:
    proc = started(demo, "echo ready; echo $$; read x")
    assert proc.stdout is not None
    assert int(proc.stdout.readline()) == proc.pid  # no sealer process in between
    proc.kill()
    proc.wait(timeout=30)


def test_sigterm_reaches_the_command(demo: Demo) -> None:
    proc = started(demo, 'trap "echo got TERM; exit 143" TERM; echo ready; '
                         "while :; do sleep 0.05; done")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (143, b"got TERM\n")


def test_an_untrapped_signal_kills_the_command(demo: Demo) -> None:
    proc = started(demo, "echo ready; exec sleep 30")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM


def test_values_are_not_in_the_command_line(demo: Demo) -> None:
    proc = started(demo, "echo ready; read x")
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert PASSWORD.encode() not in cmdline and b"sh\x00-c\x00" in cmdline
    assert b"db_password=" + PASSWORD.encode() in environ  # where it is meant to be


def test_the_command_gets_default_signal_dispositions(demo: Demo) -> None:
    """Python ignores SIGPIPE (and SIGXFSZ); an exec'd command must not inherit that, or
    `yes | head -1` style pipelines never end."""
    proc = started(demo, "echo ready; grep SigIgn /proc/$$/status")
    out, _ = proc.communicate(timeout=30)
    ignored = int(out.decode().split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


ERRORS = [
    (["app.sealed.yaml", *K], 2,
     "sealer: error: no command: give it after --\n"
     "sealer: hint: sealer exec FILE... -- CMD [ARGS...]\n"),
    (["app.sealed.yaml", *K, "--"], 2,
     "sealer: error: no command after --\nsealer: hint: sealer exec FILE... -- CMD [ARGS...]\n"),
    (["--", "env"], 2,
     "sealer: error: missing argument 'FILE...'\nsealer: hint: see `sealer exec --help`\n"),
    (["app.sealed.yaml", *K, "--", "no-such-command-x"], 127,
     "sealer: error: no-such-command-x: command not found\n"
     "sealer: hint: check the name, or give its path\n"),
    (["app.sealed.yaml", *K, "--", "./nope"], 127, "sealer: error: ./nope: no such file\n"),
    (["app.sealed.yaml", *K, "--", "./app.yaml"], 126,
     "sealer: error: ./app.yaml: cannot run: Permission denied\n"),
    (["app.sealed.yaml", "nope.sealed.yaml", *K, "--", "env"], 1,
     "sealer: error: nope.sealed.yaml: no such file\nsealer: hint: check the path\n"),
    (["app.sealed.yaml", "app.sealed.yaml", *K, "--", "env"], 1,
     "sealer: error: app.sealed.yaml: db.host is already defined in app.sealed.yaml\n"
     "sealer: hint: a key may be defined in one file only; to let later files override "
     "earlier ones, pass --allow-override\n"),
    (["app.sealed.yaml", "--separator", ".", *K, "--", "env"], 2,
     "sealer: error: the key separator '.' would make invalid names for dotenv\n"
     "sealer: hint: environment names use letters, digits and _; Kubernetes keys also - and .\n"),
    (["app.sealed.yaml", "-i", "mallory.key", "--", "env"], 3,
     "sealer: error: app.sealed.yaml: not sealed for any of your identities (from "
     "mallory.key)\nsealer: hint: the file is sealed for @RSHORT@; ask one of them to run "
     "`sealer recipients add`\n"),
]


@pytest.mark.parametrize(("args", "code", "err"), ERRORS, ids=lambda v: str(v)[:40])
def test_exec_errors(demo: Demo, args: list[str], code: int, err: str) -> None:
    result = demo.run("exec", *args)
    assert (result.code, result.out) == (code, "")
    assert result.err == err.replace("@RSHORT@", demo.recipient[:16] + "…")
