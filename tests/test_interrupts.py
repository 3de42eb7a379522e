"""SIGINT, SIGTERM and SIGHUP on real `sealer` processes (issue 18, interrupts): exit 130 with
a message that says what is left, no traceback, the plaintext removed.

- `rotate` interrupted once PENDING is recorded says so, and how to resume;
- `rotate` interrupted while the target is being changed says the target may have PENDING;
- Ctrl-C reaches the editor (it starts with SIGINT at its default) and ends `edit`;
- a signal while sealer starts (imports, pyrage's native set-up) or ends exits 130 or, once
  the process is gone, not at all: never 143/129, a traceback or a Rust panic.

Nothing here asserts on wall-clock time: delays come from seeded generators and the outcome
must hold wherever the signal lands; timeouts are safety nets.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import (
    SEALER,
    TIMEOUT,
    Demo,
    Editor,
    Result,
    sealer_env,
    start,
)
from cli_helpers import finish as shared_finish

from sealer.document import read_sealed

pytest_plugins = ["cli_fixtures"]

INTERRUPTED = "sealer: error: interrupted; nothing was written\n"
LATE = "sealer: error: interrupted as the command ended\n"


def finish(proc: subprocess.Popen[bytes]) -> Result:
    result = shared_finish(proc)
    assert "panicked" not in result.err, result.err  # pyo3's panic message
    return result


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT  # a safety net, not a measurement
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def rotation_of(path: Path, key: str) -> dict[str, Any]:
    rot = read_sealed(path).metadata["keys"][key]["rotation"]
    assert isinstance(rot, dict)
    return rot


def configure(demo: Demo, *extra: str) -> None:
    result = demo.run("rotation", "configure", "app.sealed.yaml", "api.token", "--every", "30d",
                      "--no-rotate-immediately", "-i", "alice.key", *extra)
    assert result.code == 0, result.err


# -- rotate ----------------------------------------------------------------------------------


def test_rotate_interrupted_after_create_says_what_is_recorded(demo: Demo) -> None:
    configure(demo)
    started = demo.dir / "deploying"
    proc = start("rotate", "app.sealed.yaml", "api.token", "-i", "alice.key", "--wait-for",
                 f"sh -c 'touch {started}; exec sleep {TIMEOUT}'", cwd=demo.dir)
    wait_for(started.exists, "the --wait-for command")
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    pending = rotation_of(demo.sealed, "api.token")["pending"]
    assert isinstance(pending, dict) and pending["step"] == "test"
    assert result.code == 130
    assert result.err == (
        "sealer: app.sealed.yaml: api.token: create done\n"
        "sealer: app.sealed.yaml: api.token: set done\n"
        "sealer: app.sealed.yaml: api.token: test done\n"
        "sealer: error: app.sealed.yaml: interrupted; the rotation of api.token is recorded up "
        f"to step test: version {pending['version']} is PENDING and CURRENT is unchanged\n"
        "sealer: hint: run `sealer rotate app.sealed.yaml api.token --resume` to retry, or "
        "`sealer rotate app.sealed.yaml api.token --abandon` to drop the pending version\n")
    resumed = demo.run("rotate", "app.sealed.yaml", "api.token", "--resume", "-i", "alice.key")
    assert resumed.code == 0, resumed.err
    assert "pending" not in rotation_of(demo.sealed, "api.token")


ROTATOR = """\
import json, os, sys, time
step, marker = sys.argv[-1], sys.argv[-2]
message = json.load(sys.stdin)
if step == "create":
    print(json.dumps("rotated-token"))
elif step == "set":
    open(marker, "w").close()
    time.sleep({timeout})
"""


def test_rotate_interrupted_while_setting_says_the_target_may_have_it(demo: Demo) -> None:
    script = demo.dir / "rotator.py"
    script.write_text(ROTATOR.format(timeout=TIMEOUT), encoding="utf-8")
    marker = demo.dir / "setting"
    configure(demo, "--rotator", "command", "--command", sys.executable, "--command",
              str(script), "--command", str(marker))
    proc = start("rotate", "app.sealed.yaml", "api.token", "-i", "alice.key", cwd=demo.dir,
                 env={"SEALER_TRUST_UNSIGNED_ROTATORS": "1"})
    wait_for(marker.exists, "the set step")
    proc.send_signal(signal.SIGINT)
    result = finish(proc)
    pending = rotation_of(demo.sealed, "api.token")["pending"]
    assert isinstance(pending, dict) and pending["step"] == "create"
    assert result.code == 130
    assert (f"interrupted; the rotation of api.token is recorded up to step create: version "
            f"{pending['version']} is PENDING and CURRENT is unchanged; the command target may "
            "already have the new credential (PENDING)\n") in result.err
    assert "--resume` to retry" in result.err and "nothing was written" not in result.err


# -- edit ------------------------------------------------------------------------------------


def ignored_signals(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^SigIgn:\s+([0-9a-f]+)$", status, re.MULTILINE)
    assert found, status
    return int(found[1], 16)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_ctrl_c_reaches_the_editor_and_ends_the_edit(demo: Demo, tmp_path: Path) -> None:
    editor = Editor(tmp_path / "tools")
    editor.does(("tok-9f8e7d", "tok-never-saved"), sleep=TIMEOUT)
    before = demo.sealed.read_bytes()
    # the editor (a Python script) dies of the SIGINT; its own traceback goes to /dev/null
    command = f"sh -c 'exec \"$0\" \"$@\" 2>/dev/null' {editor.path}"
    proc = start("edit", "app.sealed.yaml", "-i", "alice.key", cwd=demo.dir,
                 env={"SEALER_EDITOR": command}, start_new_session=True)
    wait_for(lambda: len(editor.runs()) == 1, "the editor to start")
    (run,) = editor.runs()
    assert not ignored_signals(run["pid"]) & (1 << (signal.SIGINT - 1))  # Ctrl-C works in it
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
    result = finish(proc)
    assert (result.code, result.out, result.err) == (130, "", INTERRUPTED)
    assert not Path(run["dir"]).exists()
    assert demo.sealed.read_bytes() == before


def test_an_editor_that_handles_ctrl_c_itself_keeps_the_edit(demo: Demo,
                                                            tmp_path: Path) -> None:
    """vi and emacs take Ctrl-C as a key of their own: sealer, which got it too, goes on."""
    editor = Editor(tmp_path / "tools")
    go = tmp_path / "go"
    editor.does(("tok-9f8e7d", "tok-saved"), wait_for=go)
    command = f"sh -c 'trap \"\" INT; exec \"$0\" \"$@\"' {editor.path}"  # ignores Ctrl-C
    proc = start("edit", "app.sealed.yaml", "-i", "alice.key", cwd=demo.dir,
                 env={"SEALER_EDITOR": command}, start_new_session=True)
    wait_for(lambda: len(editor.runs()) == 1, "the editor to start")
    os.killpg(proc.pid, signal.SIGINT)
    go.touch()
    result = finish(proc)
    assert (result.code, result.err) == (0, "sealer: app.sealed.yaml: saved (serial 2)\n")


# -- start-up and shut-down ------------------------------------------------------------------

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def handles(pid: int, signum: int) -> bool:
    """Whether the process has a handler for `signum` (or is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    found = re.search(r"^SigCgt:\s+([0-9a-f]+)$", status, re.MULTILINE)
    return bool(found and int(found[1], 16) & (1 << (signum - 1)))


def get(demo: Demo) -> subprocess.Popen[bytes]:
    return start("get", "app.sealed.yaml", "db.password", "-i", "alice.key", cwd=demo.dir)


def assert_interrupted_or_done(result: Result) -> None:
    if result.code == 0:
        assert (result.out, result.err) == ("c0rrect-horse", "")
    else:
        assert result.code == 130, result
        assert result.err in (INTERRUPTED, LATE), result.err


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_signal_while_sealer_starts_exits_130(demo: Demo) -> None:
    """From sealer's first line on (the handler for SIGHUP, which Python leaves alone, shows
    when that is), through the imports and pyrage's native set-up."""
    rng = random.Random(20261202)
    for _ in range(12):
        proc = get(demo)
        wait_for(lambda: handles(proc.pid, signal.SIGHUP), "sealer's first line")  # noqa: B023
        time.sleep(rng.uniform(0, 0.2))  # a whole `get` takes about 0.15-0.3 s here
        proc.send_signal(rng.choice(SIGNALS))
        assert_interrupted_or_done(finish(proc))


def test_a_signal_as_sealer_ends_exits_130_or_not_at_all(demo: Demo) -> None:
    """Sent once the value is printed: the process is ending. It used to die of the signal
    (143, 129) once Python's shutdown had reset the handlers."""
    rng = random.Random(20261203)
    for _ in range(12):
        proc = get(demo)
        assert proc.stdout is not None
        first = os.read(proc.stdout.fileno(), 1)
        time.sleep(rng.uniform(0, 0.003))
        proc.send_signal(rng.choice(SIGNALS))
        result = finish(proc)
        assert first + result.raw_out == b"c0rrect-horse"
        assert result.code in (0, 130), result
        assert result.err in ("", LATE), result.err


PYRAGE = """\
import sys, time
from sealer.cli import signals
signals.hold()
signals.arm()
print("ready", flush=True)
try:
    import pyrage
    time.sleep(1)
except signals.Terminated:
    sys.exit(130)
"""


def test_a_signal_during_the_pyrage_import_waits_for_it(tmp_path: Path) -> None:
    """pyrage's module set-up unwraps the Python errors of its own code: a KeyboardInterrupt
    raised there is a Rust panic and a traceback. The raise waits until the import is done."""
    rng = random.Random(20261204)
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-c", PYRAGE], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=sealer_env(), cwd=tmp_path)
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0, 0.003))  # the import takes about 2 ms
        proc.send_signal(signal.SIGTERM)
        result = finish(proc)
        assert (result.code, result.err) == (130, "")


def test_a_signal_ignored_at_start_stays_ignored(demo: Demo) -> None:
    """`nohup sealer …`: the hangup it was started to survive does not stop it."""
    proc = subprocess.Popen([*SEALER, "get", "app.sealed.yaml", "db.password", "-i",
                             "alice.key"], cwd=demo.dir, env=sealer_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for(lambda: handles(proc.pid, signal.SIGTERM), "sealer's first line")
    proc.send_signal(signal.SIGHUP)
    result = finish(proc)
    assert (result.code, result.out, result.err) == (0, "c0rrect-horse", "")
