"""Fault injection on real `sealer` processes (issue 18; docs/FAULTS.md): kills at random
moments, a full disk, file size limits, read-only and unreadable files, concurrent writers and
readers. Each case asserts that every sealed file is the old version or the new one, that no
plaintext is left anywhere (the canary `c0rrect-horse`, EXAMPLE's db.password, is searched for
in the output directory, sealer's temporary directories and /dev/shm), and that the audit chain
is intact (`sealer audit verify`, its CLI only).

tests/test_concurrency_and_crashes.py and tests/test_plaintext_lifetime.py hold the cases that
came first (a killed `set`, `render -o`, `unseal -o` and `edit`, EFBIG for the writers); this file
adds the other writers, the disk itself, permissions and appends. The kill counts are small
for CI; SEALER_FAULT_RUNS=1000 runs that many kills per command (docs/FAULTS.md).

Nothing here asserts on wall-clock time: the delays come from seeded generators and the
outcome must hold wherever the fault lands.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import EXAMPLE, TIMEOUT, Demo, Env, Result, finish, start
from conftest import small_tmpfs

from sealer.document import read_sealed
from sealer.files import get_value
from sealer.keys import Identity, parse_identities

pytest_plugins = ["cli_fixtures"]

CANARY = "c0rrect-horse"
RUNS = int(os.environ.get("SEALER_FAULT_RUNS", "5"))
IS_ROOT = os.geteuid() == 0
# the names of sealer's private directories and temporary files (sealer.fsio)
SEALER_TEMPDIR = re.compile(r"sealer-[a-z]+-[0-9]+-\w+")
SEALER_TEMPORARY = re.compile(r"\..*\.sealer-tmp-[0-9]+-[0-9a-f]+", re.DOTALL)


def identity(demo: Demo) -> list[Identity]:
    return parse_identities(demo.key.read_bytes(), source="alice.key", prompt=None)


def value(demo: Demo, key: str, path: Path | None = None) -> object:
    return get_value(path or demo.sealed, key, identity(demo))


@pytest.fixture
def audited(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every sealer process of the test writes its audit entries here."""
    log = tmp_path / "audit.log"
    monkeypatch.setenv("SEALER_AUDIT_LOG", str(log))
    return log


def assert_audit_intact(demo: Demo) -> None:
    result = demo.run("audit", "verify")
    assert result.code == 0, result.err
    assert "chain intact" in result.err


def places_for_plaintext(demo: Demo, allowed: set[str]) -> list[Path]:
    """The files a plaintext could be left in: the work directory (but the plaintext files it
    is meant to hold), sealer's temporary files and directories, /dev/shm."""
    found = [p for p in demo.dir.rglob("*") if p.is_file() and p.name not in allowed]
    for base in {Path(tempfile.gettempdir()), Path("/dev/shm")}:
        for entry in base.iterdir() if base.is_dir() else []:
            if SEALER_TEMPDIR.fullmatch(entry.name) or SEALER_TEMPORARY.fullmatch(entry.name):
                found += [entry] if entry.is_file() else [p for p in entry.rglob("*")
                                                          if p.is_file()]
    return found


def assert_no_plaintext_left(demo: Demo, allowed: frozenset[str] = frozenset({"app.yaml"})
                             ) -> None:
    for path in places_for_plaintext(demo, set(allowed)):
        with contextlib.suppress(OSError):
            assert CANARY.encode() not in path.read_bytes(), path


# -- kill -9 at random moments ---------------------------------------------------------------


def killed(demo: Demo, args: list[str], rng: random.Random, stdin: bytes | None = None,
           env: Env | None = None) -> None:
    proc = start(*args, cwd=demo.dir, env=env, stdin=subprocess.PIPE,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(stdin or b"")
        proc.stdin.close()
    time.sleep(rng.uniform(0.01, 0.5))  # a whole run takes about 0.15-0.5 s here
    proc.kill()
    proc.wait(timeout=TIMEOUT)


def check_values(demo: Demo, allowed: dict[str, set[object]]) -> dict[str, object]:
    found = {key: value(demo, key) for key in allowed}
    for key, values in allowed.items():
        assert found[key] in values, (key, found[key])
    return found


def test_seal_set_and_rekey_killed_at_random_moments(demo: Demo, audited: Path) -> None:
    rng = random.Random(20261205)
    changed = demo.dir / "changed.yaml"
    current = CANARY
    for attempt in range(RUNS):
        new = f"sealed-{attempt}"
        changed.write_text(EXAMPLE.replace(CANARY, new), encoding="utf-8")
        killed(demo, ["seal", "changed.yaml", "-o", "app.sealed.yaml", "-i", "alice.key"], rng)
        current = str(check_values(demo, {"db.password": {current, new}})["db.password"])
        new = f"set-{attempt}"
        killed(demo, ["set", "app.sealed.yaml", "db.password", "-i", "alice.key"], rng,
               stdin=new.encode())
        current = str(check_values(demo, {"db.password": {current, new}})["db.password"])
        killed(demo, ["rekey", "app.sealed.yaml", "-i", "alice.key"], rng)
        check_values(demo, {"db.password": {current}, "api.token": {"tok-9f8e7d"}})
    changed.unlink()
    final = demo.run("set", "app.sealed.yaml", "api.token", "-i", "alice.key", input="tok-2")
    assert final.code == 0, final.err  # and it sweeps what the kills left
    assert sorted(p.name for p in demo.dir.iterdir()) == [
        "alice.key", "app.sealed.yaml", "app.yaml", "mallory.key"]
    assert_no_plaintext_left(demo)
    assert_audit_intact(demo)


def test_recipients_add_killed_at_random_moments(demo: Demo, audited: Path) -> None:
    rng = random.Random(20261206)
    old = {demo.recipient}
    new = {demo.recipient, demo.other_recipient}
    for _ in range(RUNS):
        killed(demo, ["recipients", "add", "app.sealed.yaml", "-r", demo.other_recipient,
                      "-i", "alice.key"], rng)
        recipients = {r.recipient for r in read_sealed(demo.sealed).recipients}
        assert recipients in (old, new), recipients
        check_values(demo, {"db.password": {CANARY}})
        if recipients == new:
            removed = demo.run("recipients", "remove", "app.sealed.yaml", "-r",
                               demo.other_recipient, "-i", "alice.key")
            assert removed.code == 0, removed.err
    assert_no_plaintext_left(demo)
    assert_audit_intact(demo)


def test_render_killed_at_random_moments(demo: Demo, audited: Path) -> None:
    rng = random.Random(20261207)
    out = demo.dir / "out" / "app.env"
    args = ["render", "app.sealed.yaml", "-f", "dotenv", "-o", "out/app.env", "-i", "alice.key"]
    for _ in range(RUNS):
        killed(demo, args, rng)
        if out.exists() and out.read_bytes() != b"old=1\n":  # else the old file, or none
            assert out.read_bytes().count(CANARY.encode()) == 1
            assert out.stat().st_mode & 0o777 == 0o600
            out.write_bytes(b"old=1\n")
    done = demo.run(*args)
    assert done.code == 0, done.err
    assert_no_plaintext_left(demo, frozenset({"app.yaml", "app.env"}))
    assert_audit_intact(demo)


def test_rotate_killed_at_random_moments_can_always_go_on(demo: Demo, audited: Path) -> None:
    configured = demo.run("rotation", "configure", "app.sealed.yaml", "api.token", "--every",
                          "30d", "--no-rotate-immediately", "-i", "alice.key")
    assert configured.code == 0, configured.err
    rng = random.Random(20261208)
    current = value(demo, "api.token")
    for _ in range(RUNS):
        killed(demo, ["rotate", "app.sealed.yaml", "api.token", "-i", "alice.key"], rng)
        rot = read_sealed(demo.sealed).metadata["keys"]["api.token"]["rotation"]
        if "pending" in rot:  # recorded up to a step: CURRENT as before, and --resume goes on
            assert value(demo, "api.token") == current
            resumed = demo.run("rotate", "app.sealed.yaml", "api.token", "--resume", "-i",
                               "alice.key")
            assert resumed.code == 0, resumed.err
        found = value(demo, "api.token")
        assert "pending" not in read_sealed(demo.sealed).metadata["keys"]["api.token"][
            "rotation"]
        current = found
    check_values(demo, {"db.password": {CANARY}})
    assert_no_plaintext_left(demo)
    assert_audit_intact(demo)


# -- concurrent writers and readers ----------------------------------------------------------


@pytest.mark.slow
def test_concurrent_writers_and_readers_see_old_or_new(demo: Demo, audited: Path) -> None:
    writers = [start("set", "app.sealed.yaml", f"new.k{i}", "-i", "alice.key", cwd=demo.dir,
                     stdin=subprocess.PIPE) for i in range(4)]
    readers = [start("get", "app.sealed.yaml", "db.password", "-i", "alice.key", cwd=demo.dir)
               for _ in range(4)]
    for i, proc in enumerate(writers):
        assert finish(proc, f"value-{i}".encode()).code == 0
    for proc in readers:
        result = finish(proc)
        assert (result.code, result.out) == (0, CANARY), result.err
    assert {value(demo, f"new.k{i}") for i in range(4)} == {f"value-{i}" for i in range(4)}
    assert_no_plaintext_left(demo)
    assert_audit_intact(demo)


# -- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs mounted for the test (root only: skipped otherwise, saying why)."""
    with small_tmpfs(tmp_path / "disk", "512k") as disk:
        yield disk


def on_disk(demo: Demo, disk: Path) -> Demo:
    work = disk / "work"
    shutil.copytree(demo.dir, work)
    return Demo(work, demo.recipient, demo.other_recipient)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the disk but for about `leave` bytes."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    if leave:
        size = filler.stat().st_size
        os.truncate(filler, max(0, size - leave))
    return filler


FULL_DISK = {
    "set": ["set", "app.sealed.yaml", "db.password", "-i", "alice.key"],
    "rekey": ["rekey", "app.sealed.yaml", "-i", "alice.key"],
    "seal": ["seal", "app.yaml", "-o", "app.sealed.yaml", "-i", "alice.key"],
    "render": ["render", "app.sealed.yaml", "-f", "dotenv", "-o", "out.env", "-i", "alice.key"],
}


@pytest.mark.parametrize("command", sorted(FULL_DISK))
def test_a_full_disk_changes_nothing_and_leaves_no_plaintext(
        demo: Demo, small_disk: Path, command: str) -> None:
    work = on_disk(demo, small_disk)
    work.plain.write_text(EXAMPLE.replace("tok-9f8e7d", "tok-2"), encoding="utf-8")
    (work.dir / "out.env").write_bytes(b"old=1\n")
    fill(small_disk)
    before = {p.name: p.read_bytes() for p in work.dir.iterdir()}
    result = finish(start(*FULL_DISK[command], cwd=work.dir, stdin=subprocess.PIPE),
                    b"a-new-password")
    assert result.code == 1, result.err
    assert "No space left on device" in result.err and "free some disk space" in result.err
    assert {p.name: p.read_bytes() for p in work.dir.iterdir()} == before
    assert_no_plaintext_left(work, frozenset({"app.yaml", "out.env"}))


def github_block(demo: Demo, env_file: Path, *, preexec: Callable[[], None] | None = None,
                 cwd: Path | None = None) -> Result:
    return finish(start("render", "app.sealed.yaml", "-f", "github", "-i", "alice.key",
                        cwd=cwd or demo.dir, env={"GITHUB_ENV": str(env_file)},
                        preexec_fn=preexec))


def big_secret(demo: Demo) -> None:
    """db.password becomes 8 KiB of canary, so that the block is larger than what is left."""
    result = demo.run("set", "app.sealed.yaml", "db.password", "-i", "alice.key",
                      input=CANARY * 700)
    assert result.code == 0, result.err


def test_an_append_cut_short_by_a_file_size_limit_is_undone(demo: Demo) -> None:
    big_secret(demo)
    env_file = demo.dir / "github.env"
    env_file.write_bytes(b"EARLIER=1\n")

    def limit() -> None:  # the file may grow by 4 KiB: EFBIG after a short write
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096 + 10, 4096 + 10))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    result = github_block(demo, env_file, preexec=limit)
    assert result.code == 1
    assert result.err == (f"sealer: error: {env_file}: cannot write: File too large; nothing "
                          "was appended\nsealer: hint: free some disk space\n")
    assert env_file.read_bytes() == b"EARLIER=1\n"


def test_an_append_on_a_full_disk_is_undone(demo: Demo, small_disk: Path) -> None:
    big_secret(demo)
    work = on_disk(demo, small_disk)
    env_file = work.dir / "github.env"
    env_file.write_bytes(b"EARLIER=1\n")
    fill(small_disk, leave=4096)  # the block is about 9 KiB
    result = github_block(work, env_file)
    assert result.code == 1
    assert "No space left on device; nothing was appended" in result.err
    assert env_file.read_bytes() == b"EARLIER=1\n"
    assert_no_plaintext_left(work)


def test_a_failed_render_removes_the_directories_it_made(demo: Demo) -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    (demo.dir / "kept").mkdir()
    for output, fmt in (("new/deeper/out.env", "dotenv"), ("kept/new/out.env", "dotenv"),
                        ("files/new", "files")):
        result = finish(start("render", "app.sealed.yaml", "-f", fmt, "-o", output, "-i",
                              "alice.key", cwd=demo.dir, preexec_fn=limit))
        assert result.code == 1, result.err
        assert "File too large" in result.err
    assert sorted(p.name for p in demo.dir.iterdir()) == [
        "alice.key", "app.sealed.yaml", "app.yaml", "kept", "mallory.key"]
    assert list((demo.dir / "kept").iterdir()) == []


ROTATOR = """\
import json, os, sys
step, filler = sys.argv[-1], sys.argv[-2]
message = json.load(sys.stdin)
if step == "create":
    print(json.dumps("rotated-token"))
elif step == "set":  # the target takes the new credential; then the disk is full
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\\0" * 4096)
    except OSError:
        os.close(fd)
"""


def test_a_full_disk_after_the_target_changed_says_how_to_go_on(
        demo: Demo, small_disk: Path) -> None:
    work = on_disk(demo, small_disk)
    script = work.dir / "rotator.py"
    script.write_text(ROTATOR, encoding="utf-8")
    filler = small_disk / "filler"
    configured = work.run("rotation", "configure", "app.sealed.yaml", "api.token", "--every",
                          "30d", "--no-rotate-immediately", "--rotator", "command",
                          "--command", sys.executable, "--command", str(script),
                          "--command", str(filler), "-i", "alice.key")
    assert configured.code == 0, configured.err
    trust = {"SEALER_TRUST_UNSIGNED_ROTATORS": "1"}
    result = work.run("rotate", "app.sealed.yaml", "api.token", "-i", "alice.key", env=trust)
    rot = read_sealed(work.sealed).metadata["keys"]["api.token"]["rotation"]
    vid = rot["pending"]["version"]
    assert result.code == 1
    assert result.err.endswith(
        "sealer: error: app.sealed.yaml: rotation of api.token: the command target already "
        "has the new credential (PENDING), but the file could not be written (cannot write: "
        "No space left on device); the file records step create with version "
        f"{vid} as PENDING; CURRENT is unchanged\n"
        "sealer: hint: free some disk space, then run `sealer rotate app.sealed.yaml api.token "
        "--resume` to bring the file up to date (each step is safe to repeat)\n"), result.err
    assert value(work, "api.token") == "tok-9f8e7d"
    filler.unlink()
    script.write_text(ROTATOR.replace('elif step == "set":', 'elif False:'), encoding="utf-8")
    resumed = work.run("rotate", "app.sealed.yaml", "api.token", "--resume", "-i", "alice.key",
                       env=trust)
    assert resumed.code == 0, resumed.err
    assert value(work, "api.token") == "rotated-token"


# -- read-only and unreadable files ----------------------------------------------------------

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def without_root_overrides() -> None:
    """In the child: root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (after execve), so
    file modes hold for it as for anyone; nothing to do for other users."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                os._exit(99)


def restricted(demo: Demo, *args: str) -> Result:
    return finish(start(*args, cwd=demo.dir, stdin=subprocess.PIPE,
                        preexec_fn=without_root_overrides), b"new-value")


UNREADABLE = {
    "get": (["get", "app.sealed.yaml", "db.password", "-i", "alice.key"], "app.sealed.yaml"),
    "show": (["show", "app.sealed.yaml"], "app.sealed.yaml"),
    "render": (["render", "app.sealed.yaml", "-f", "dotenv", "--stdout", "-i", "alice.key"],
               "app.sealed.yaml"),
    "seal": (["seal", "app.yaml", "-r", "@R@", "-o", "new.sealed.yaml"], "app.yaml"),
}


@pytest.mark.parametrize("command", sorted(UNREADABLE))
def test_an_unreadable_file_is_an_error_not_a_usage_error(demo: Demo, command: str) -> None:
    """README "Exit codes": 1 for a missing or unreadable file (click's own check said 2)."""
    args, name = UNREADABLE[command]
    (demo.dir / name).chmod(0)
    result = restricted(demo, *[a.replace("@R@", demo.recipient) for a in args])
    if result.code == 99:
        pytest.skip("cannot drop root's file overrides here")
    assert (result.code, result.out) == (1, "")
    assert result.err == f"sealer: error: {name}: cannot read: Permission denied\n"


def test_a_read_only_directory_changes_nothing(demo: Demo, audited: Path) -> None:
    before = demo.sealed.read_bytes()
    demo.dir.chmod(0o555)
    try:
        result = restricted(demo, "set", "app.sealed.yaml", "db.password", "-i", "alice.key")
    finally:
        demo.dir.chmod(0o755)
    if result.code == 99:
        pytest.skip("cannot drop root's file overrides here")
    assert result.code == 1
    assert re.match(r"sealer: error: app\.sealed\.yaml: cannot write: Permission denied",
                    result.err), result.err
    assert demo.sealed.read_bytes() == before
    assert_no_plaintext_left(demo)
