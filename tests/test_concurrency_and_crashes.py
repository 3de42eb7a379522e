"""Concurrent writers, a full disk, kills and signals, and the edit flow, on real processes.

Nothing here asserts on wall-clock time: timeouts are safety nets, and the random kill delays
come from a seeded generator (the outcome must hold whatever instant the kill lands on).
"""

from __future__ import annotations

import difflib
import os
import random
import re
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import EXAMPLE, TIMEOUT, Demo, Editor, Result, finish, start

from sealer import yamlio
from sealer.files import get_value
from sealer.keys import Identity, parse_identities

pytest_plugins = ["cli_fixtures"]

WRITERS = 8


def identity(demo: Demo) -> list[Identity]:
    return parse_identities(demo.key.read_bytes(), source="alice.key", prompt=None)


def value(demo: Demo, key: str) -> object:
    return get_value(demo.sealed, key, identity(demo))


def serial(path: Path) -> int:
    tree = yamlio.load(path.read_bytes(), source=str(path))
    assert isinstance(tree, dict)
    return int(tree["sealer"]["serial"])


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT  # a safety net, not a measurement
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- concurrent writers ----------------------------------------------------------------------


def set_concurrently(demo: Demo, writes: list[tuple[str, str]]) -> list[Result]:
    procs = [start("set", "app.sealed.yaml", key, "-i", "alice.key", cwd=demo.dir,
                   stdin=subprocess.PIPE) for key, _ in writes]
    return [finish(p, v.encode()) for p, (_, v) in zip(procs, writes, strict=True)]


@pytest.mark.slow
def test_concurrent_sets_of_different_keys_lose_no_update(demo: Demo) -> None:
    writes = [(f"new.k{i}", f"value-{i}") for i in range(WRITERS)]
    results = set_concurrently(demo, writes)
    assert [r.code for r in results] == [0] * WRITERS, [r.err for r in results]
    assert all(re.fullmatch(r"sealer: app\.sealed\.yaml: new\.k\d set\n", r.err)
               for r in results)
    for key, expected in writes:
        assert value(demo, key) == expected
    assert value(demo, "db.password") == "c0rrect-horse"
    assert serial(demo.sealed) == 1 + WRITERS
    assert listing(demo.dir) == ["alice.key", "app.sealed.yaml", "app.yaml", "mallory.key"]


@pytest.mark.slow
def test_concurrent_sets_of_one_key_leave_one_of_the_values(demo: Demo) -> None:
    writes = [("db.password", f"password-{i}") for i in range(WRITERS)]
    results = set_concurrently(demo, writes)
    assert [r.code for r in results] == [0] * WRITERS, [r.err for r in results]
    assert value(demo, "db.password") in {v for _, v in writes}
    assert serial(demo.sealed) == 1 + WRITERS  # every write started from the latest version
    assert value(demo, "api.token") == "tok-9f8e7d"


# -- a full disk -----------------------------------------------------------------------------


def small_file_limit() -> None:
    """In the child: files may not grow past 64 bytes; EFBIG instead of SIGXFSZ."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


FULL_DISK = {
    "set": (["set", "app.sealed.yaml", "db.password", "-i", "alice.key"], "app.sealed.yaml"),
    "rekey": (["rekey", "app.sealed.yaml", "-i", "alice.key"], "app.sealed.yaml"),
    "seal-update": (["seal", "changed.yaml", "-o", "app.sealed.yaml", "-i", "alice.key"],
                    "app.sealed.yaml"),
    "seal-new": (["seal", "app.yaml", "-o", "new.sealed.yaml", "-r", "@R@"], "new.sealed.yaml"),
    "unseal-output": (["unseal", "app.sealed.yaml", "-o", "plain.yaml", "-i", "alice.key"],
                      "plain.yaml"),
}


@pytest.mark.parametrize("command", sorted(FULL_DISK))
def test_a_full_disk_changes_nothing(demo: Demo, command: str) -> None:
    args, target = FULL_DISK[command]
    (demo.dir / "changed.yaml").write_text(EXAMPLE.replace("tok-9f8e7d", "tok-2"),
                                           encoding="utf-8")
    before = {p.name: p.read_bytes() for p in demo.dir.iterdir()}
    proc = start(*[a.replace("@R@", demo.recipient) for a in args], cwd=demo.dir,
                 stdin=subprocess.PIPE, preexec_fn=small_file_limit)
    result = finish(proc, b"a-new-password\n")
    assert (result.code, result.out) == (1, "")
    assert result.err == (f"sealer: error: {target}: cannot write: File too large; "
                          "the previous version is unchanged\n")
    assert {p.name: p.read_bytes() for p in demo.dir.iterdir()} == before  # no temp file


# -- killed mid-write ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_writer_killed_at_any_moment_leaves_the_old_or_the_new_file(demo: Demo) -> None:
    rng = random.Random(20261122)
    current = "c0rrect-horse"
    for attempt in range(30):
        new = f"password-{attempt}"
        proc = start("set", "app.sealed.yaml", "db.password", "-i", "alice.key", cwd=demo.dir,
                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
        assert proc.stdin is not None
        proc.stdin.write(new.encode())
        proc.stdin.close()
        time.sleep(rng.uniform(0.01, 0.25))  # a whole run takes about 0.1-0.4 s
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        found = value(demo, "db.password")  # parses, authenticates and decrypts
        assert found in (current, new), found
        assert value(demo, "api.token") == "tok-9f8e7d"
        current = str(found)
    # The new version has no name until it is linked and renamed (O_TMPFILE); a kill between
    # those two calls (or, without O_TMPFILE, between creating and renaming) leaves a marked
    # temporary file, which holds only sealed text and which the next write here removes.
    demo_files = ["alice.key", "app.sealed.yaml", "app.yaml", "mallory.key"]
    for name in set(listing(demo.dir)) - set(demo_files):
        assert re.fullmatch(r"\.app\.sealed\.yaml\.sealer-tmp-\d+-[0-9a-f]+", name), name
        assert b"password-" not in (demo.dir / name).read_bytes()
    last = demo.run("set", "app.sealed.yaml", "db.password", "-i", "alice.key", input="final")
    assert last.code == 0, last.err
    assert listing(demo.dir) == demo_files


# -- edit ------------------------------------------------------------------------------------


@pytest.fixture
def editor(demo: Demo, tmp_path: Path) -> Editor:
    return Editor(tmp_path / "tools")


def edit(demo: Demo, editor: Editor) -> Result:
    return demo.run("edit", "app.sealed.yaml", "-i", "alice.key",
                    env={"EDITOR": str(editor.path)})


def changed_lines(old: str, new: str) -> list[str]:
    """The `-`/`+` lines of a diff, without their values' noise: `key: ` prefixes only."""
    diff = difflib.ndiff(old.splitlines(), new.splitlines())
    return [line[:2] + line[2:].split(": ")[0] + ":" for line in diff if line[:2] in ("- ", "+ ")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_edit_removes_the_plaintext_and_writes_nothing(
        demo: Demo, editor: Editor, sig: signal.Signals) -> None:
    before = demo.sealed.read_bytes()
    editor.does(("tok-9f8e7d", "tok-never-saved"), sleep=TIMEOUT)
    proc = start("edit", "app.sealed.yaml", "-i", "alice.key", cwd=demo.dir,
                 env={"EDITOR": str(editor.path)})
    wait_for(lambda: len(editor.runs()) == 1, "the editor to start")
    (run,) = editor.runs()
    plaintext_dir = Path(run["dir"])
    assert plaintext_dir.is_dir()
    proc.send_signal(sig)
    result = finish(proc)
    assert (result.code, result.out) == (130, "")
    assert result.err.strip() == "sealer: error: interrupted; nothing was written"
    assert not plaintext_dir.exists()
    assert demo.sealed.read_bytes() == before
    wait_for(lambda: not _alive(run["pid"]), "the editor to be stopped")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_edit_changes_only_the_edited_token(demo: Demo, editor: Editor) -> None:
    before = demo.sealed.read_text(encoding="utf-8")
    editor.does(("c0rrect-horse", "n3w-horse"))
    result = edit(demo, editor)
    assert (result.code, result.out) == (0, "")
    assert result.err == "sealer: app.sealed.yaml: saved (serial 2)\n"
    after = demo.sealed.read_text(encoding="utf-8")
    changes = [c for c in changed_lines(before, after) if c not in ("-   modified:",
                                                                    "+   modified:")]
    assert changes == ["-   serial:", "+   serial:", "-     password:", "+     password:",
                       "- mac:", "+ mac:"]
    assert serial(demo.sealed) == 2
    assert value(demo, "db.password") == "n3w-horse"


def test_invalid_yaml_reopens_the_editor_with_the_error(demo: Demo, editor: Editor) -> None:
    # First save: a changed value and a duplicate key; second save: the duplicate removed.
    editor.does(("c0rrect-horse", "n3w-horse"), duplicate="  port: ")
    result = edit(demo, editor)
    assert result.code == 0, result.err
    assert result.err == "sealer: app.sealed.yaml: saved (serial 2)\n"
    first, second = editor.runs()
    assert first["first_lines"][0].startswith("# sealer edit app.sealed.yaml")
    assert second["first_lines"] == [
        "# ERROR: line 7: duplicate key 'port'",
        "# Fix it and save, or quit without saving to abandon the edit."]
    assert first["dir"] == second["dir"] and not Path(first["dir"]).exists()
    assert value(demo, "db.password") == "n3w-horse" and value(demo, "db.port") == 5432


def test_abandoning_an_invalid_edit_saves_nothing(demo: Demo, editor: Editor) -> None:
    before = demo.sealed.read_bytes()
    editor.does(("c0rrect-horse", "n3w-horse"), duplicate="  port: ", abandon_on_error=True)
    result = edit(demo, editor)
    assert (result.code, result.out) == (0, "")
    assert result.err == "sealer: app.sealed.yaml: no changes\n"
    assert demo.sealed.read_bytes() == before
    assert len(editor.runs()) == 2


def test_text_that_is_not_utf8_reopens_the_editor(demo: Demo, editor: Editor) -> None:
    # First save: a changed value and two bytes that are not UTF-8. Sealer shows them as
    # U+FFFD with the error; the second save replaces them.
    editor.does(("\ufffd\ufffd", "fixed"), ("c0rrect-horse", "n3w-horse"), garble=True)
    result = edit(demo, editor)
    assert result.err == "sealer: app.sealed.yaml: saved (serial 2)\n"
    _, second = editor.runs()
    assert re.fullmatch(r"# ERROR: not UTF-8 text \(byte \d+\)", second["first_lines"][0])
    assert value(demo, "db.password") == "n3w-horse" and value(demo, "garbled") == "fixed"


def test_an_editor_that_deletes_the_file_changes_nothing(demo: Demo, editor: Editor) -> None:
    before = demo.sealed.read_bytes()
    editor.does(delete=True)
    result = edit(demo, editor)
    assert (result.code, result.out) == (1, "")
    assert result.err == ("sealer: error: app.sealed.yaml: cannot read the edited copy: No such "
                          "file or directory; nothing was changed\n")
    assert demo.sealed.read_bytes() == before


def test_quitting_without_changes_writes_nothing(demo: Demo, editor: Editor) -> None:
    before = demo.sealed.read_bytes()
    editor.does(write=False)
    result = edit(demo, editor)
    assert (result.code, result.out) == (0, "")
    assert result.err == "sealer: app.sealed.yaml: no changes\n"
    assert demo.sealed.read_bytes() == before


def test_saving_the_same_values_differently_writes_nothing(demo: Demo, editor: Editor) -> None:
    before = demo.sealed.read_bytes()
    editor.does(("  port: 5432\n", "  port: 0x1538  # the same number\n"))
    result = edit(demo, editor)
    assert result.err == "sealer: app.sealed.yaml: no changes\n"
    assert demo.sealed.read_bytes() == before


def test_an_editor_that_fails_writes_nothing(demo: Demo, editor: Editor) -> None:
    before = demo.sealed.read_bytes()
    editor.does(("c0rrect-horse", "half-done"), exit=3)
    result = edit(demo, editor)
    assert (result.code, result.out) == (1, "")
    assert result.err == ("sealer: error: app.sealed.yaml: the editor exited with status 3; "
                          "nothing was changed\n")
    assert demo.sealed.read_bytes() == before
    (run,) = editor.runs()
    assert not Path(run["dir"]).exists()


def test_an_edit_that_raced_another_writer_is_refused(demo: Demo, editor: Editor,
                                                      tmp_path: Path) -> None:
    go = tmp_path / "go"
    editor.does(("c0rrect-horse", "from-the-editor"), wait_for=go)
    proc = start("edit", "app.sealed.yaml", "-i", "alice.key", cwd=demo.dir,
                 env={"EDITOR": str(editor.path)})
    wait_for(lambda: len(editor.runs()) == 1, "the editor to start")
    other = demo.run("set", "app.sealed.yaml", "api.token", "-i", "alice.key", input="tok-2")
    assert other.code == 0, other.err
    after_set = demo.sealed.read_bytes()
    go.touch()  # the editor saves and quits
    result = finish(proc)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "sealer: error: app.sealed.yaml: changed on disk while you were editing; your edit was "
        "not saved\nsealer: hint: run `sealer edit` again to edit the new version\n")
    assert demo.sealed.read_bytes() == after_set
    assert value(demo, "api.token") == "tok-2" and value(demo, "db.password") == "c0rrect-horse"


# -- seal onto an existing sealed file -------------------------------------------------------


def test_sealing_unchanged_input_again_is_byte_identical(demo: Demo) -> None:
    before = demo.sealed.read_bytes()
    result = demo.run("seal", "app.yaml", "-i", "alice.key")
    assert (result.code, result.out) == (0, "")
    assert result.err == "sealer: app.yaml -> app.sealed.yaml (unchanged)\n"
    assert demo.sealed.read_bytes() == before
    piped = demo.run("unseal", "app.sealed.yaml", "-i", "alice.key")
    result = demo.run("seal", "-", "-o", "app.sealed.yaml", "-i", "alice.key", input=piped.out)
    assert result.err == "sealer: - -> app.sealed.yaml (unchanged)\n"
    assert demo.sealed.read_bytes() == before


def test_sealing_one_changed_value_changes_only_its_token(demo: Demo) -> None:
    before = demo.sealed.read_text(encoding="utf-8")
    demo.plain.write_text(EXAMPLE.replace("tok-9f8e7d", "tok-2"), encoding="utf-8")
    result = demo.run("seal", "app.yaml", "-i", "alice.key")
    assert result.err == "sealer: app.yaml -> app.sealed.yaml (serial 2)\n"
    after = demo.sealed.read_text(encoding="utf-8")
    changes = [c for c in changed_lines(before, after) if "modified" not in c]
    assert changes == ["-   serial:", "+   serial:", "-     token:", "+     token:",
                       "- mac:", "+ mac:"]
