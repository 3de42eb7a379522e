"""Plaintext never outlives the command (issue 11, item 8), on real processes and real kills.

- `render -o` and `unseal -o` killed with SIGKILL at any moment leave the old or the new file and
  no plaintext temporary file that the next write there does not remove;
- the private directory of an `edit` killed with SIGKILL is removed by the next sealer start;
- sealer runs with core dumps disabled, and so does what it execs.

Nothing here asserts on wall-clock time: the kill delays come from a seeded generator and the
outcome must hold wherever the kill lands. The one mock is marked where it is used: this
machine has no filesystem without O_TMPFILE, so the fallback is reached by taking the flag away.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import SEALER, TIMEOUT, Demo, Editor, sealer_env, start

from sealer import fsio
from sealer.errors import SealerError

pytest_plugins = ["cli_fixtures"]

SECRET = "c0rrect-horse"  # in EXAMPLE: the plaintext every output here holds
TEMPORARY = re.compile(r"\.out\.\w+\.sealer-tmp-(\d+)-[0-9a-f]+")
# sealer's own entry point with O_TMPFILE taken away, as on a filesystem or OS without it
NO_TMPFILE = ("-c", "import os; del os.O_TMPFILE; from sealer.cli import main; main()")
OUTPUTS = {
    "render": (["render", "app.sealed.yaml", "-f", "dotenv", "-o", "out.env", "-i", "alice.key"],
               "out.env"),
    "unseal": (["unseal", "app.sealed.yaml", "-o", "out.yaml", "-i", "alice.key"], "out.yaml"),
}


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT  # a safety net, not a measurement
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def launch(args: list[str], cwd: Path, *, unnamed: bool = True) -> subprocess.Popen[bytes]:
    """`sealer ARGS` as a real process; without O_TMPFILE when not `unnamed`."""
    command = [*SEALER] if unnamed else [sys.executable, *NO_TMPFILE]
    return subprocess.Popen([*command, *args], cwd=cwd, env=sealer_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def completed(args: list[str], cwd: Path, *, unnamed: bool = True) -> None:
    proc = launch(args, cwd, unnamed=unnamed)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=TIMEOUT)
    return proc.pid


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if TEMPORARY.fullmatch(p.name))


# -- render -o / unseal -o killed at any moment ----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "named-fallback"])
@pytest.mark.parametrize("command", sorted(OUTPUTS))
def test_a_plaintext_writer_killed_at_any_moment_leaves_no_plaintext_behind(
        demo: Demo, command: str, unnamed: bool) -> None:
    args, target = OUTPUTS[command]
    completed(args, demo.dir, unnamed=unnamed)
    new = (demo.dir / target).read_bytes()
    assert SECRET.encode() in new
    old = b"old: version\n"
    (demo.dir / target).write_bytes(old)
    others = sorted(p.name for p in demo.dir.iterdir())
    rng = random.Random(f"{command}-{unnamed}-20261201")
    for _ in range(12):
        proc = launch(args, demo.dir, unnamed=unnamed)
        time.sleep(rng.uniform(0.05, 0.6))  # a whole run takes about 0.3-0.6 s here
        proc.kill()
        proc.communicate(timeout=TIMEOUT)
        assert (demo.dir / target).read_bytes() in (old, new)
        left = set(p.name for p in demo.dir.iterdir()) - set(others)
        assert all(TEMPORARY.fullmatch(name) for name in left), left
        assert len(left) <= 1, left  # each run removes what the one killed before it left
    completed(args, demo.dir, unnamed=unnamed)  # the next write here sweeps what was left
    assert sorted(p.name for p in demo.dir.iterdir()) == others
    assert (demo.dir / target).read_bytes() == new
    assert (demo.dir / target).stat().st_mode & 0o777 == 0o600


# -- the temporary file, in the library ------------------------------------------------------


@contextlib.contextmanager
def watching_writes(directory: Path, seen: list[list[str]]) -> Iterator[None]:
    """Record the directory's names each time atomic_write has written its content (a spy on
    the real function: the write itself happens)."""
    real = fsio._write_all

    def spy(fd: int, data: bytes) -> None:
        real(fd, data)
        seen.append(sorted(os.listdir(directory)))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fsio, "_write_all", spy)
        yield


def test_the_content_has_no_name_while_it_is_written(tmp_path: Path) -> None:
    seen: list[list[str]] = []
    with watching_writes(tmp_path, seen):
        fsio.atomic_write(tmp_path / "out.env", b"secret=1\n", mode=0o600)
    assert seen == [[]]
    assert os.listdir(tmp_path) == ["out.env"]
    assert (tmp_path / "out.env").stat().st_mode & 0o777 == 0o600


def test_without_o_tmpfile_the_temporary_name_is_marked_and_private(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "O_TMPFILE")  # as on a platform without it
    (tmp_path / "out.env").write_bytes(b"old\n")
    (tmp_path / "out.env").chmod(0o640)
    seen: list[list[str]] = []
    with watching_writes(tmp_path, seen):
        fsio.atomic_write(tmp_path / "out.env", b"secret=1\n")
    ((name, existing),) = seen  # sorted: the dot first
    assert existing == "out.env"
    match = TEMPORARY.fullmatch(name)
    assert match and int(match[1]) == os.getpid()
    assert os.listdir(tmp_path) == ["out.env"]
    assert (tmp_path / "out.env").stat().st_mode & 0o777 == 0o640  # an existing mode is kept


@pytest.mark.parametrize("code", [errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL])
def test_a_filesystem_without_unnamed_files_falls_back_to_a_named_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    # A mock: no filesystem here refuses O_TMPFILE, so os.open refuses it as such a one would.
    real_open = os.open

    def refusing(path: fsio.StrPath, flags: int, mode: int = 0o777, *,
                 dir_fd: int | None = None) -> int:
        if (flags & os.O_TMPFILE) == os.O_TMPFILE:
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", refusing)
    fsio.atomic_write(tmp_path / "out.env", b"secret=1\n", mode=0o600)
    assert os.listdir(tmp_path) == ["out.env"]
    assert (tmp_path / "out.env").read_bytes() == b"secret=1\n"


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "out.env").mkdir()  # the rename onto a directory fails
    with pytest.raises(SealerError, match="cannot write: Is a directory; the previous"):
        fsio.atomic_write(tmp_path / "out.env", b"secret=1\n", mode=0o600)
    assert os.listdir(tmp_path) == ["out.env"]


def plant(directory: Path, pid: int, name: str = "out.env") -> Path:
    path = directory / f".{name}.sealer-tmp-{pid}-0123456789ab"
    path.write_text(f"password: {SECRET}\n")
    path.chmod(0o600)
    return path


def test_the_next_write_removes_what_a_dead_writer_left(demo: Demo) -> None:
    dead = plant(demo.dir, dead_pid())
    other_target = plant(demo.dir, dead_pid(), name="other.yaml")
    alive = plant(demo.dir, os.getpid())  # this test is alive: its file is kept
    lookalike = demo.dir / ".out.env.sealer-tmp-x-0123"  # not sealer's name: not touched
    lookalike.write_text("mine\n")
    linked = demo.dir / f".out.env.sealer-tmp-{dead_pid()}-abcdef"
    linked.symlink_to(demo.plain)  # a symbolic link is not a temporary file: not followed
    completed(OUTPUTS["unseal"][0], demo.dir)
    assert not dead.exists() and not other_target.exists()
    assert alive.exists() and lookalike.exists() and linked.is_symlink() and demo.plain.exists()


def test_a_temporary_file_that_is_locked_is_kept(tmp_path: Path) -> None:
    """A writer whose PID looks dead from here (another PID namespace, another host) still
    holds the lock on its file: the sweep leaves it."""
    left = plant(tmp_path, dead_pid())
    fd = os.open(left, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        fsio.atomic_write(tmp_path / "out.env", b"new\n", mode=0o600)
        assert left.exists()
    finally:
        os.close(fd)
    fsio.atomic_write(tmp_path / "out.env", b"newer\n", mode=0o600)
    assert not left.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user needs root")
def test_a_temporary_file_of_another_user_is_kept(tmp_path: Path) -> None:
    left = plant(tmp_path, dead_pid())
    os.chown(left, 65534, 65534)
    fsio.atomic_write(tmp_path / "out.env", b"new\n", mode=0o600)
    assert left.exists()


# -- edit killed with SIGKILL ----------------------------------------------------------------


@contextlib.contextmanager
def killed_edit(demo: Demo, editor: Editor) -> Iterator[Path]:
    """A real `sealer edit` whose editor sleeps, killed with SIGKILL while the editor runs;
    yields its private directory. The orphaned editor is stopped at the end."""
    editor.does(sleep=TIMEOUT)
    proc = start("edit", "app.sealed.yaml", "-i", "alice.key", cwd=demo.dir,
                 env={"SEALER_EDITOR": str(editor.path)}, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)  # the orphaned editor would hold a pipe open
    wait_for(lambda: len(editor.runs()) == 1, "the editor to start")
    (run,) = editor.runs()
    try:
        left = Path(run["dir"])
        assert re.fullmatch(rf"sealer-edit-{proc.pid}-\w+", left.name), left.name
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        assert re.search(r"^Max core file size +0 +0 ", limits, re.MULTILINE), limits
        proc.kill()
        assert proc.wait(timeout=TIMEOUT) == -signal.SIGKILL
        (copy,) = left.iterdir()  # SIGKILL cannot be caught: the plaintext copy is still there
        assert SECRET in copy.read_text()
        yield left
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run["pid"], signal.SIGKILL)


@pytest.mark.parametrize("then", ["edit", "get"])
def test_the_directory_of_an_edit_killed_with_sigkill_is_removed_at_the_next_start(
        demo: Demo, tmp_path: Path, then: str) -> None:
    editor = Editor(tmp_path / "tools")
    with killed_edit(demo, editor) as left:
        editor.does(write=False)
        args = ["edit", "app.sealed.yaml"] if then == "edit" else ["get", "app.sealed.yaml",
                                                                   "db.password"]
        result = demo.run(*args, "-i", "alice.key", env={"SEALER_EDITOR": str(editor.path)})
        assert result.code == 0, result.err
        assert not left.exists()


def test_a_running_edit_keeps_its_directory_while_others_start(demo: Demo,
                                                               tmp_path: Path) -> None:
    editor = Editor(tmp_path / "tools")
    go = tmp_path / "go"
    editor.does(write=False, wait_for=go)
    proc = start("edit", "app.sealed.yaml", "-i", "alice.key", cwd=demo.dir,
                 env={"SEALER_EDITOR": str(editor.path)})
    try:
        wait_for(lambda: len(editor.runs()) == 1, "the editor to start")
        mine = Path(editor.runs()[0]["dir"])
        other = Editor(tmp_path / "other-tools")
        other.does(write=False)
        result = demo.run("edit", "app.sealed.yaml", "-i", "alice.key",
                          env={"SEALER_EDITOR": str(other.path)})
        assert result.code == 0, result.err
        assert mine.is_dir()
    finally:
        go.touch()
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()
    assert not mine.exists()


# -- core dumps ------------------------------------------------------------------------------

# What a process reports about itself: (soft, hard) RLIMIT_CORE, then prctl(PR_GET_DUMPABLE).
REPORT = ("(__import__('resource').getrlimit(__import__('resource').RLIMIT_CORE), "
          "__import__('ctypes').CDLL(None).prctl(3, 0, 0, 0, 0))")


def test_the_cli_runs_with_core_dumps_disabled() -> None:
    """sealer.cli.main in a real process, which reports on itself when it exits."""
    script = (f"import atexit, sys; atexit.register(lambda: sys.stderr.write(repr({REPORT})))\n"
              "from sealer.cli import main\nmain(['--version'])\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=sealer_env(), timeout=TIMEOUT, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("sealer ")
    assert proc.stderr == "((0, 0), 0)"


def test_the_library_function_disables_core_dumps() -> None:
    script = f"from sealer.fsio import disable_core_dumps; disable_core_dumps(); print({REPORT})"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=sealer_env(), timeout=TIMEOUT, check=True)
    assert proc.stdout == "((0, 0), 0)\n"


def test_an_exec_command_keeps_the_limit_but_is_dumpable_again(demo: Demo) -> None:
    """The limit is inherited (the command's environment holds the secrets); execve makes the
    new program dumpable again, as any program its user starts."""
    result = demo.run("exec", "app.sealed.yaml", "-i", "alice.key", "--", sys.executable, "-c",
                      f"print({REPORT})")
    assert (result.code, result.err) == (0, "")
    assert result.out == "((0, 0), 1)\n"
