"""`sealer exec --file FORMAT[:NAME] FILE… -- CMD … {} …`: the command gets the secrets as a
file in a private 0700 directory, and the file is gone once it exits.

Real sealer processes running real children (sh, python): the child reads the file, the test
checks it is gone afterwards, and that exit codes and signals pass through — sealer waits for
the command here instead of replacing itself, so it forwards the signals sent to it and exits
as the command did.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Demo, Result, start

pytest_plugins = ["cli_fixtures"]

K = ("-i", "alice.key")
PASSWORD = "c0rrect-horse"
# a child that reports what it was given: the file's path, modes, content and environment
REPORT = """
import json, os, stat, sys
path = sys.argv[1]
print(json.dumps({
    "path": path,
    "file_mode": stat.S_IMODE(os.stat(path).st_mode),
    "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
    "content": open(path, encoding="utf-8").read() if os.path.isfile(path) else None,
    "listing": sorted(os.listdir(path)) if os.path.isdir(path) else None,
    "env": sorted(os.environ),
    "argv": sys.argv[1:],
}))
"""


def exec_file(demo: Demo, option: str, *command: str, options: tuple[str, ...] = (),
              input: str | None = None) -> Result:
    return demo.run("exec", "app.sealed.yaml", *K, *options, "--file", option, "--", *command,
                    input=input)


def report(demo: Demo, option: str, *args: str, options: tuple[str, ...] = ()
           ) -> dict[str, object]:
    result = exec_file(demo, option, sys.executable, "-c", REPORT, "{}", *args,
                       options=options)
    assert result.code == 0, result.err
    seen: dict[str, object] = json.loads(result.out)
    return seen


def test_the_command_reads_the_file_and_it_is_gone_afterwards(demo: Demo) -> None:
    seen = report(demo, "json")
    path = Path(str(seen["path"]))
    assert path.name == "secrets.json" and path.parent.name.startswith("sealer-exec-")
    assert (seen["file_mode"], seen["dir_mode"]) == (0o600, 0o700)
    secrets = json.loads(str(seen["content"]))
    assert secrets["db"]["password"] == PASSWORD and secrets["admins"][1] == "bob@example.com"
    assert not path.exists() and not path.parent.exists()


def test_the_secrets_are_in_the_file_not_the_environment(demo: Demo) -> None:
    env = report(demo, "dotenv")["env"]
    assert isinstance(env, list) and "PATH" in env
    assert not {"db_password", "api_token"} & set(env)
    clean = report(demo, "yaml", options=("--clean-env",))["env"]
    assert isinstance(clean, list) and not {"PATH", "HOME", "db_password"} & set(clean)


def test_the_file_is_what_render_writes(demo: Demo) -> None:
    rendered = demo.run("render", "app.sealed.yaml", *K, "-f", "dotenv", "--select", "db",
                        "--upper", "--stdout")
    seen = report(demo, "dotenv:app.env", options=("--select", "db", "--upper"))
    assert Path(str(seen["path"])).name == "app.env"
    assert seen["content"] == rendered.out and "PASSWORD='c0rrect-horse'" in rendered.out


def test_every_placeholder_is_replaced_inside_arguments_too(demo: Demo) -> None:
    seen = report(demo, "k8s", "--config={}", "plain")
    path = str(seen["path"])
    assert seen["argv"] == [path, f"--config={path}", "plain"]
    assert str(seen["content"]).startswith("apiVersion: v1\nkind: Secret\n")


def test_the_files_format_hands_over_a_directory(demo: Demo) -> None:
    seen = report(demo, "files:credentials", options=("--select", "db"))
    assert Path(str(seen["path"])).name == "credentials" and seen["dir_mode"] == 0o700
    assert seen["listing"] == [".sealer", "host", "password", "port"]


@pytest.mark.parametrize("status", [0, 1, 3, 42, 126, 127, 130, 255])
def test_exit_codes_pass_through(demo: Demo, status: int) -> None:
    result = exec_file(demo, "json", "sh", "-c", f'test -f "$1" && exit {status}', "sh", "{}")
    assert (result.code, result.err) == (status, "")  # a 130 is the command's, not a Ctrl-C


def test_stdin_and_stdout_are_the_commands(demo: Demo) -> None:
    result = exec_file(demo, "shell", "sh", "-c", '. "$1"; cat; echo "$api_token"', "sh", "{}",
                       input="from stdin\n")
    assert (result.code, result.out) == (0, "from stdin\ntok-9f8e7d\n")


SIGNAL_MASKS = ('while IFS= read -r line; do case "$line" in Sig[BI][lg][kn]:*) '
                'echo "$line";; esac; done < /proc/$$/status')


def test_the_command_starts_with_no_signal_blocked_or_ignored(demo: Demo) -> None:
    """sealer blocks the signals it forwards while it waits; the command must not inherit
    that, nor Python's ignored SIGPIPE and SIGXFSZ."""
    # read with the shell's builtins only: a shell blocks every signal while it forks, so a
    # `grep` child reading /proc/$$/status could catch the shell mid-fork
    result = exec_file(demo, "json", "sh", "-c", SIGNAL_MASKS, "sh", "{}")
    assert result.code == 0, result.err
    masks = {line.split(":")[0]: int(line.split()[1], 16) for line in result.out.splitlines()}
    assert masks["SigBlk"] == 0
    for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        assert not masks["SigIgn"] & (1 << (signum - 1)), signal.Signals(signum).name


def started(demo: Demo, script: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    """`sealer exec --file json` running `sh -c script FILE`, once the script printed
    `ready`: (sealer's process, the file, the command's pid)."""
    proc = start("exec", "app.sealed.yaml", *K, "--file", "json", "--", "sh", "-c",
                 f'echo "$1"; echo $$; {script}', "sh", "{}", cwd=demo.dir)
    assert proc.stdout is not None
    path = Path(proc.stdout.readline().decode().strip())
    child = int(proc.stdout.readline())
    ready = proc.stdout.readline()
    assert ready == b"ready\n", (ready, proc.stderr.read() if proc.stderr else b"")
    assert path.is_file() and child != proc.pid  # sealer waits: the command is its child
    return proc, path, child


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT,
                                    signal.SIGUSR1])
def test_signals_sent_to_sealer_reach_the_command(demo: Demo, signum: int) -> None:
    name = signal.Signals(signum).name[3:]
    proc, path, _ = started(demo, f'trap "echo got {name}; exit 9" {name}; echo ready; '
                                  "while :; do sleep 0.05; done")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (9, f"got {name}\n".encode(), b"")
    assert not path.exists() and not path.parent.exists()


def test_a_command_killed_by_a_signal_kills_sealer_with_it(demo: Demo) -> None:
    proc, path, _ = started(demo, "echo ready; exec sleep 30")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM  # as the command died: the caller sees the same
    assert not path.parent.exists()


@pytest.mark.parametrize(("own_group", "expected"), [(False, 1), (True, 0)])
def test_a_ctrl_c_on_the_terminal_is_not_sent_twice(demo: Demo, own_group: bool,
                                                    expected: int) -> None:
    """The terminal sends SIGINT to the whole foreground process group, command included, so
    sealer does not pass that one on. To see what sealer itself does, the second case moves
    the command to a process group of its own, which the terminal's Ctrl-C does not reach:
    it must then get none. (A shell would count two close deliveries as one trap; the command
    counts them with a wakeup fd.)"""
    pexpect = pytest.importorskip("pexpect")
    argv = ["-m", "sealer", "exec", "app.sealed.yaml", *K, "--file", "json", "--",
            sys.executable, "-c", COUNT_INTS, "{}", "own-group" if own_group else "same-group"]
    child = pexpect.spawn(sys.executable, argv, cwd=str(demo.dir), timeout=30,
                          env={k: v for k, v in os.environ.items() if not k.startswith("SEALER")})
    child.expect("ready")
    child.sendintr()
    child.expect(r"INTs: (\d+)")
    count = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert (count, child.exitstatus) == (expected, 0)


COUNT_INTS = """
import os, select, signal, sys, time
if sys.argv[2] == "own-group":
    os.setpgid(0, 0)
r, w = os.pipe()
os.set_blocking(w, False)
signal.signal(signal.SIGINT, lambda *_: None)
signal.set_wakeup_fd(w)
print("ready", flush=True)
count, deadline = 0, time.monotonic() + 1.5
while time.monotonic() < deadline:
    if select.select([r], [], [], 0.05)[0]:
        count += len(os.read(r, 100))
print(f"INTs: {count}", flush=True)
sys.exit(0 if os.path.isfile(sys.argv[1]) else 1)
"""


def test_a_killed_sealer_leaves_the_directory_to_the_next_starts_sweep(demo: Demo) -> None:
    proc, path, child = started(demo, "echo ready; exec sleep 30")
    proc.kill()  # SIGKILL: no cleanup can run
    proc.wait(timeout=30)
    assert path.is_file()  # left behind, 0700 directory, 0600 file
    os.kill(child, signal.SIGKILL)  # the command outlives sealer; the sweep looks at sealer
    assert demo.run("--version").code == 0  # any start sweeps
    assert not path.parent.exists()


ERRORS = [
    (("json", "cat"), 2, "sealer: error: --file: the command does not name the file\n"
     "sealer: hint: put {} where its path goes: sealer exec --file json FILE -- CMD --config "
     "{}\n"),
    (("xml", "cat", "{}"), 2, "sealer: error: --file: unknown format 'xml'\nsealer: hint: use "
     "one of: @FORMATS@, optionally :NAME\n"),
    (("template", "cat", "{}"), 2, "sealer: error: --file: unknown format 'template'\n"
     "sealer: hint: use one of: @FORMATS@, optionally :NAME\n"),
    (("json:a/b", "cat", "{}"), 2, "sealer: error: --file: 'a/b' is not a file name\n"
     "sealer: hint: NAME is a plain file name (no /), e.g. --file json:creds.json\n"),
    (("json:..", "cat", "{}"), 2, "sealer: error: --file: '..' is not a file name\n"
     "sealer: hint: NAME is a plain file name (no /), e.g. --file json:creds.json\n"),
    (("json", "no-such-command-x", "{}"), 127, "sealer: error: no-such-command-x: command not "
     "found\nsealer: hint: check the name, or give its path\n"),
]


@pytest.mark.parametrize(("args", "code", "err"), ERRORS, ids=lambda v: str(v)[:30])
def test_exec_file_errors(demo: Demo, args: tuple[str, ...], code: int, err: str) -> None:
    from sealer.render.process import FILE_FORMATS

    result = exec_file(demo, *args)
    assert (result.code, result.out) == (code, "")
    assert result.err == err.replace("@FORMATS@", ", ".join(FILE_FORMATS))


def test_options_of_other_formats_are_refused_before_decrypting(demo: Demo) -> None:
    result = exec_file(demo, "json", "cat", "{}", options=("--upper",))
    assert result.code == 2
    assert result.err.startswith("sealer: error: key naming options (--prefix, --separator, "
                                 "--upper): not used by the json format\n")
