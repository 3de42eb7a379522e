"""The per-file writer lock and batched bulk writes (fsio.locked, fsio.batched_writes,
files.*_many), on real files and real processes.

Nothing here asserts on wall-clock time: a child that must be refused uses a short lock
timeout and the test checks which error it ended with; waits are for a condition on disk, with
a timeout as a safety net.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyrage
import pytest

from sealer import yamlio
from sealer.errors import UsageError
from sealer.files import (
    get_value,
    recipients_add_many,
    recipients_remove_many,
    rekey_file,
    rekey_many,
    seal_file,
    set_value,
)
from sealer.fsio import atomic_write, batched_writes, locked
from sealer.keys import Identity, Recipient, parse_identities, parse_recipient

SAFETY = 60.0  # seconds: a net for a hung child, never a measurement
ROOT = Path(__file__).resolve().parent.parent
CHILD_PRELUDE = """
import sys
from pathlib import Path
from sealer.errors import BusyError
from sealer.fsio import locked
from sealer.keys import parse_identities
"""


class Keys:
    def __init__(self, where: Path) -> None:
        secret = str(pyrage.x25519.Identity.generate())
        self.file = where / "key.txt"
        self.file.write_text(secret + "\n")
        self.identity: Identity = parse_identities(secret.encode(), source="test", prompt=None)[0]
        self.recipient: Recipient = parse_recipient(self.identity.recipient)

    @property
    def ids(self) -> list[Identity]:
        return [self.identity]


def new_recipient() -> Recipient:
    return parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))


def sealed(directory: Path, keys: Keys, count: int, prefix: str = "f") -> list[Path]:
    out = []
    for n in range(count):
        path = directory / f"{prefix}{n:03d}.sealed.yaml"
        seal_file(f"n: {n}\ntoken: t-{n}\n".encode(), path, source="test",
                  recipients=[keys.recipient])
        out.append(path)
    return out


def serial(path: Path) -> int:
    tree = yamlio.load(path.read_bytes(), source=str(path))
    assert isinstance(tree, dict)
    return int(tree["sealer"]["serial"])


def child(code: str, *args: str | Path, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD_PRELUDE + code, *map(str, args)],
                          capture_output=True, text=True, timeout=SAFETY, cwd=ROOT,
                          env=env, check=False)


TRY_LOCK = """
try:
    with locked(Path(sys.argv[1]), timeout=0.2):
        print("locked")
except BusyError as exc:
    print("busy:", exc)
"""

SET = """
from sealer.files import set_value
ids = parse_identities(Path(sys.argv[2]).read_bytes(), source="key", prompt=None)
for i in range(int(sys.argv[4])):
    set_value(Path(sys.argv[1]), f"{sys.argv[3]}{i}", i, ids)
print("done")
"""


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SAFETY
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- per-file locks ----------------------------------------------------------------------------


def test_a_writer_of_another_file_in_the_directory_is_not_held_up(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    held, other = sealed(tmp_path, keys, 2)
    with locked(held):
        assert child(TRY_LOCK, other).stdout == "locked\n"
        done = child(SET, other, keys.file, "k", "1")  # a whole `set`, while `held` is locked
        assert done.stdout == "done\n", done.stderr
        assert child(TRY_LOCK, held).stdout.startswith("busy:")
    assert get_value(other, "k0", keys.ids) == 0
    assert child(TRY_LOCK, held).stdout == "locked\n"


def test_a_writer_of_the_same_file_waits_and_loses_nothing(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    (path,) = sealed(tmp_path, keys, 1)
    with locked(path):
        waiting = subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + SET, str(path),
                                    str(keys.file), "theirs", "1"], cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        refused = child(TRY_LOCK, path)
        before = path.read_bytes()
        assert refused.stdout.startswith("busy:") and "writing this file" in refused.stdout
        assert waiting.poll() is None and path.read_bytes() == before
    out, err = waiting.communicate(timeout=SAFETY)
    assert out == "done\n", err
    assert get_value(path, "theirs0", keys.ids) == 0


def test_writers_of_one_file_lose_no_update_across_its_replacements(tmp_path: Path) -> None:
    """Each write replaces the file (a new inode): a writer that waited on the old one must
    lock the new one, or two writers would read the same version and one update be lost."""
    keys = Keys(tmp_path)
    (path,) = sealed(tmp_path, keys, 1)
    writers, each = 4, 6
    procs = [subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + SET, str(path),
                               str(keys.file), f"w{w}_", str(each)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for w in range(writers)]
    for proc in procs:
        out, err = proc.communicate(timeout=SAFETY)
        assert out == "done\n", err
    for w in range(writers):
        for i in range(each):
            assert get_value(path, f"w{w}_{i}", keys.ids) == i
    assert serial(path) == 1 + writers * each


def opened_by(pid: int, path: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the wait")
def test_a_writer_that_waited_on_a_replaced_file_locks_the_new_one(tmp_path: Path) -> None:
    """The waiter has the old file open when the holder replaces it and locks the new one
    before letting go: the waiter must not take the old file's lock as the file's."""
    keys = Keys(tmp_path)
    (path,) = sealed(tmp_path, keys, 1)
    with locked(path):
        waiter = subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + TRY_LOCK.replace(
            "timeout=0.2", "timeout=5"), str(path)], cwd=ROOT, text=True,
            stdout=subprocess.PIPE)
        wait_for(lambda: opened_by(waiter.pid, path), "the waiter to open the file")
        atomic_write(path, path.read_bytes())  # a new inode under the name
        new = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(new, fcntl.LOCK_EX)  # the holder of the new file is someone else now
        out, _ = waiter.communicate(timeout=SAFETY)
        assert out.startswith("busy:")
    finally:
        os.close(new)


def test_a_pending_write_keeps_its_file_locked_until_the_flush(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    first, second = sealed(tmp_path, keys, 2)
    with batched_writes():
        rekey_file(first, keys.ids)
        assert serial(first) == 1
        assert child(TRY_LOCK, first).stdout.startswith("busy:")
        assert child(TRY_LOCK, second).stdout == "locked\n"
    assert serial(first) == 2
    assert child(TRY_LOCK, first).stdout == "locked\n"


def test_two_creators_of_one_name_are_serialised(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    (existing,) = sealed(tmp_path, keys, 1)
    new = tmp_path / "new.sealed.yaml"
    with locked(new):  # no file yet: its directory is locked
        assert child(TRY_LOCK, new).stdout.startswith("busy:")
        assert child(TRY_LOCK, existing).stdout == "locked\n"
        atomic_write(new, b"first\n")
    assert child(TRY_LOCK, new).stdout == "locked\n"


def test_no_lock_file_ever_shows_in_git_status(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    keys = Keys(tmp_path)
    paths = sealed(repo, keys, 3)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "files"], check=True)

    def status() -> str:
        return subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--ignored",
                               "--untracked-files=all"], capture_output=True, text=True,
                              check=True).stdout

    with locked(paths[0]), locked(repo / "new.sealed.yaml"):
        assert status() == ""
    set_value(paths[0], "k", "v", keys.ids)
    rekey_many(paths[1:], keys.ids)
    changed = sorted(line for line in status().splitlines())
    assert changed == [f" M {p.name}" for p in paths]


# -- batched bulk writes -----------------------------------------------------------------------


def test_bulk_rekey_and_recipients_change_every_file(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    paths = sealed(tmp_path, keys, 5)
    told: list[tuple[object, bool]] = []
    rekey_many(paths, keys.ids, done=lambda p, w: told.append((p, w.changed)))
    assert told == [(p, True) for p in paths] and {serial(p) for p in paths} == {2}
    extra = new_recipient()
    written = recipients_add_many([(p, [extra] if i != 2 else []) for i, p in enumerate(paths)],
                                  keys.ids)
    assert [w.changed for w in written] == [True, True, False, True, True]
    assert [serial(p) for p in paths] == [3, 3, 2, 3, 3]
    recipients_remove_many([(p, [extra]) for p in paths if p != paths[2]], keys.ids)
    for n, path in enumerate(paths):
        assert get_value(path, "token", keys.ids) == f"t-{n}"
        assert extra.text not in path.read_text()
    assert not [p for p in tmp_path.iterdir() if ".sealer-tmp-" in p.name]


def test_a_file_twice_in_one_batch_is_written_twice(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    (path,) = sealed(tmp_path, keys, 1)
    rekey_many([path, path, str(path)], keys.ids)
    assert serial(path) == 4


def test_a_failure_part_way_keeps_the_files_before_it(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    paths = sealed(tmp_path, keys, 5)
    extra = new_recipient()
    recipients_add_many([(p, [extra]) for p in paths[:2] + paths[3:]], keys.ids)
    told: list[object] = []
    with pytest.raises(UsageError, match="is not a recipient"):
        recipients_remove_many([(p, [extra]) for p in paths], keys.ids,
                               done=lambda p, _: told.append(p))
    assert told == paths[:2]
    assert [extra.text in p.read_text() for p in paths] == [False, False, False, True, True]


def test_a_batch_never_waits_holding_its_locks(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    first, busy = sealed(tmp_path, keys, 2)
    holder = subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + """
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
""", str(busy)], cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline() == "held\n"
    worker = threading.Thread(target=rekey_many, args=([first, busy], keys.ids))
    worker.start()
    try:
        wait_for(lambda: serial(first) == 2, "the batch to flush before it waits")
        assert child(TRY_LOCK, first).stdout == "locked\n"  # its lock is released too
        assert serial(busy) == 1
    finally:
        holder.stdin.close()
        holder.wait(timeout=SAFETY)
        worker.join(timeout=SAFETY)
    assert serial(busy) == 2


def test_an_interrupt_discards_the_pending_writes(tmp_path: Path) -> None:
    keys = Keys(tmp_path)
    paths = sealed(tmp_path, keys, 3)
    before = [p.read_bytes() for p in paths]
    with pytest.raises(KeyboardInterrupt), batched_writes():
        for path in paths:
            rekey_file(path, keys.ids)
        raise KeyboardInterrupt
    assert [p.read_bytes() for p in paths] == before
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["key.txt", *(p.name for p in paths)])
    assert child(TRY_LOCK, paths[0]).stdout == "locked\n"


BULK = """
from sealer.files import rekey_many
from sealer.fsio import batched_writes
ids = parse_identities(Path(sys.argv[1]).read_bytes(), source="key", prompt=None)
with batched_writes(size=int(sys.argv[2])):
    rekey_many(sorted(Path(sys.argv[3]).glob("*.sealed.yaml")), ids)
"""


def audit_entries(log: Path) -> int:
    try:
        return log.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("kill_after", ["read:1", "read:6", "read:13", "written:1",
                                        "written:9"])
def test_a_bulk_write_killed_leaves_every_file_old_or_new(tmp_path: Path,
                                                           kill_after: str) -> None:
    """SIGKILL when the child has opened N files (its audit log shows it) or after N files
    were seen replaced: every file opens, holds its values and is the old version or the new
    one; the new ones are the first files in order; nothing but a dead writer's temporary is
    left, and the next write there removes it."""
    keys = Keys(tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    paths = sealed(files, keys, 20)
    log = tmp_path / "audit.log"
    env = {**os.environ, "SEALER_AUDIT_LOG": str(log)}
    what, count = kill_after.split(":")
    inodes = [p.stat().st_ino for p in paths]

    def reached() -> bool:
        if what == "read":
            return audit_entries(log) >= int(count)
        return sum(p.stat().st_ino != i for p, i in zip(paths, inodes, strict=True)) >= int(count)

    proc = subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + BULK, str(keys.file), "4",
                             str(files)], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: reached() or proc.poll() is not None, kill_after)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=SAFETY)
    serials = [serial(p) for p in paths]
    assert set(serials) <= {1, 2}
    assert serials == sorted(serials, reverse=True), "only the first files may be new"
    for n, path in enumerate(paths):
        assert get_value(path, "token", keys.ids) == f"t-{n}"
    left = [p.name for p in files.iterdir() if not p.name.endswith(".sealed.yaml")]
    assert all(f".sealer-tmp-{proc.pid}-" in name for name in left), left
    set_value(paths[0], "after", 1, keys.ids)
    assert sorted(files.iterdir()) == paths
