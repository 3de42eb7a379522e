"""The audit log under faults (issue 18): a full disk or a file-size limit cuts a write short, a
crash leaves a torn last line, sealer.yaml is broken or unreadable. Every value handed out has a
whole, chained entry; an entry that cannot be written whole is not written at all, and with
`audit.required` (stated, or assumed because sealer.yaml cannot be read) nothing is decrypted."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyrage
import pytest
from cli_helpers import SEALER, Result, run, sealer_env
from conftest import small_tmpfs

from sealer import yamlio
from sealer.audit import AuditError, Settings, record, verify
from sealer.files import get_value, seal_file
from sealer.keys import parse_identities, parse_recipient

SECRET = str(pyrage.x25519.Identity.generate())
ME = parse_identities(SECRET.encode(), source="test", prompt=None)[0]
ME_R = parse_recipient(ME.recipient)
VALUE = "hunter2-canary"


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    out = tmp_path / "app.sealed.yaml"
    seal_file(yamlio.dump({"db": {"password": VALUE}}).encode(), out, source="t",
              recipients=[ME_R])
    return out


def get(sealed: Path, env: dict[str, str], *, preexec: Callable[[], None] | None = None,
        prefix: tuple[str, ...] = ()) -> Result:
    """`sealer get FILE db.password` as its own process (a file-size limit or capabilities
    dropped apply to it alone)."""
    proc = subprocess.run([*prefix, *SEALER, "get", str(sealed), "db.password", "-i", "-"],
                          input=SECRET.encode(), capture_output=True, env=sealer_env(env),
                          preexec_fn=preexec, timeout=60, check=False)
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


# -- a write cut short: nothing of the entry stays, nothing is decrypted -------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real full disk."""
    with small_tmpfs(tmp_path / "disk", "64k") as disk:
        yield disk


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_a_full_disk_never_leaves_a_torn_entry(small_disk: Path, sealed: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The study's failure: on a nearly full disk 112 of 332 bytes were written, the value was
    printed and the chain was broken for good."""
    log = small_disk / "audit.log"
    monkeypatch.setenv("SEALER_AUDIT_LOG", str(log))
    monkeypatch.setenv("SEALER_AUDIT_REQUIRED", "1")
    assert get_value(sealed, "db.password", [ME]) == VALUE
    fill(small_disk)  # what is left is the rest of the log's last page
    served = 1
    for _ in range(100):  # a 4 KiB page holds about a dozen entries
        try:
            get_value(sealed, "db.password", [ME])
        except AuditError as exc:
            assert "nothing was decrypted" in exc.message
            break
        served += 1
    else:
        pytest.fail("the full disk never refused an entry")
    assert log.read_bytes().endswith(b"\n")
    assert verify(log)[0] == served  # every value handed out has its whole entry, no other
    env = {"SEALER_AUDIT_LOG": str(log), "SEALER_AUDIT_REQUIRED": "1"}
    refused = get(sealed, env)
    assert (refused.code, refused.out) == (1, "") and "nothing was decrypted" in refused.err
    (small_disk / "filler").unlink()
    assert get(sealed, env).out == VALUE
    assert verify(log)[0] == served + 1


def file_size_limit(limit: int) -> Callable[[], None]:
    """A child whose writes stop at `limit` bytes: a write crossing it is cut short, the next
    one fails (EFBIG, SIGXFSZ ignored)."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return apply


def test_a_short_write_is_cut_back_and_refuses_the_read(tmp_path: Path, sealed: Path) -> None:
    log = tmp_path / "state" / "audit.log"
    env = {"SEALER_AUDIT_LOG": str(log), "SEALER_AUDIT_REQUIRED": "1"}
    assert get(sealed, env).out == VALUE
    before = log.read_bytes()
    short = get(sealed, env, preexec=file_size_limit(len(before) + 100))
    assert (short.code, short.out) == (1, ""), short.err
    assert "cannot write the audit log" in short.err and VALUE not in short.err
    assert log.read_bytes() == before  # the 100 bytes written are cut back
    assert get(sealed, env).out == VALUE
    assert verify(log)[0] == 2


def test_a_short_write_of_a_best_effort_log_keeps_the_chain(tmp_path: Path,
                                                            sealed: Path) -> None:
    log = tmp_path / "state" / "audit.log"
    env = {"SEALER_AUDIT_LOG": str(log)}
    assert get(sealed, env).out == VALUE
    before = log.read_bytes()
    assert get(sealed, env, preexec=file_size_limit(len(before) + 100)).out == VALUE
    assert log.read_bytes() == before
    assert get(sealed, env).out == VALUE
    assert verify(log)[0] == 2


BATCH = """
import sys
from pathlib import Path
from sealer import audit
entries = [audit.Entry("get", Path(sys.argv[2]), keys=[f"k{i}"], recipient="age1x")
           for i in range(5)]
try:
    audit.record_many(entries, audit.Settings(Path(sys.argv[1]), True))
except audit.AuditError as exc:
    sys.exit(f"refused: {exc.message}")
"""


def test_a_batch_is_written_whole_or_not_at_all(tmp_path: Path, sealed: Path) -> None:
    log = tmp_path / "state" / "audit.log"
    assert get(sealed, {"SEALER_AUDIT_LOG": str(log)}).out == VALUE
    before = log.read_bytes()
    args = [sys.executable, "-c", BATCH, str(log), str(sealed)]
    cut = subprocess.run(args, capture_output=True, text=True, check=False,
                         preexec_fn=file_size_limit(len(before) + 2 * len(before) + 10))
    assert cut.returncode == 1 and "refused: cannot write the audit log" in cut.stderr
    assert log.read_bytes() == before  # two whole lines fitted: none of them stays
    whole = subprocess.run(args, capture_output=True, text=True, check=False)
    assert whole.returncode == 0, whole.stderr
    lines = log.read_bytes().splitlines()
    assert [json.loads(line)["keys"] for line in lines[1:]] == [[f"k{i}"] for i in range(5)]
    assert verify(log)[0] == 6


# -- a torn last line: reported precisely, moved aside, the chain kept --------------------


def torn_log(log: Path, sealed: Path, whole: int = 3) -> bytes:
    """A log of `whole` entries and the first 112 bytes of one more, as a crash leaves it."""
    for _ in range(whole + 1):
        record("get", sealed, keys=["db.password"], recipient=ME_R.text, outcome="ok",
               settings=Settings(log, True))
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:whole]) + lines[whole][:112])
    return lines[whole][:112]


def test_verify_reports_a_torn_last_entry_precisely(tmp_path: Path, sealed: Path) -> None:
    log = tmp_path / "audit.log"
    torn_log(log, sealed)
    offset = log.stat().st_size - 112
    result = run("audit", "verify", "--log", log)
    assert result.code == 1 and result.out == ""
    first = result.err.splitlines()[0]
    assert first == (f"sealer: error: {log}: line 4 (byte {offset}): the last entry is "
                     "incomplete (112 bytes without a line end)")
    assert "sealer audit repair" in result.err


def test_audit_repair_moves_the_torn_bytes_aside(tmp_path: Path, sealed: Path) -> None:
    log = tmp_path / "audit.log"
    torn = torn_log(log, sealed)
    repaired = run("audit", "repair", "--log", log)
    assert repaired.code == 0, repaired.err
    [side] = tmp_path.glob("audit.log.torn-*")
    assert side.read_bytes() == torn and side.stat().st_mode & 0o777 == 0o600
    assert f"moved 112 bytes of an incomplete entry to {side}" in repaired.err
    assert verify(log)[0] == 4
    last = json.loads(log.read_bytes().splitlines()[-1])
    assert (last["action"], last["file"]) == ("repair", str(side))
    again = run("audit", "repair", "--log", log)
    assert again.code == 0 and "nothing to repair" in again.err
    assert list(tmp_path.glob("audit.log.torn-*")) == [side]


def test_the_next_entry_moves_a_torn_tail_aside_itself(tmp_path: Path, sealed: Path) -> None:
    log = tmp_path / "audit.log"
    torn = torn_log(log, sealed)
    assert get(sealed, {"SEALER_AUDIT_LOG": str(log), "SEALER_AUDIT_REQUIRED": "1"}).out == VALUE
    [side] = tmp_path.glob("audit.log.torn-*")
    assert side.read_bytes() == torn
    assert verify(log)[0] == 5
    actions = [json.loads(line)["action"] for line in log.read_bytes().splitlines()]
    assert actions == ["get", "get", "get", "repair", "get"]


def test_audit_repair_of_a_missing_log_creates_nothing(tmp_path: Path) -> None:
    result = run("audit", "repair", "--log", tmp_path / "audit.log")
    assert result.code == 1 and "cannot repair the audit log" in result.err
    assert not (tmp_path / "audit.log").exists()


# -- a sealer.yaml that cannot be read: audit.required is assumed -------------------------

# sealer.yaml files nothing can be read from: readers stop (their signature rules are unknown
# too), naming the file, whether or not the log can be written
UNREADABLE = {
    "not YAML": "version: 1\naudit:\n  required: true\nprincipals: [\n",
    "a duplicate key": "version: 1\naudit:\n  required: true\nversion: 1\n",
    "a tab": "version: 1\naudit:\n\trequired: true\n",
    "not a mapping": "- version: 1\n",
}
# a readable sealer.yaml whose audit block is not valid: required is assumed
BROKEN = {
    "required as text": "version: 1\naudit:\n  required: 'true'\n",
    "audit not a mapping": "version: 1\naudit: required\n",
}


def blocked_log(tmp_path: Path) -> dict[str, str]:
    """A log nobody can write, even root: its directory is a regular file."""
    (tmp_path / "not-a-directory").write_text("")
    return {"SEALER_AUDIT_LOG": str(tmp_path / "not-a-directory" / "audit.log")}


def assert_refused_naming(result: Result, config: Path) -> None:
    assert (result.code, result.out) == (1, ""), result.err
    first = result.err.splitlines()[0]
    assert first.startswith(f"sealer: error: {config}: ") and "nothing was decrypted" in first
    assert "audit.required is assumed" in first and VALUE not in result.err


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_sealer_yaml_makes_audit_required(tmp_path: Path, sealed: Path,
                                                   text: str) -> None:
    config = tmp_path / "sealer.yaml"
    config.write_text(text)
    assert_refused_naming(get(sealed, blocked_log(tmp_path)), config)
    audited = get(sealed, {"SEALER_AUDIT_LOG": str(tmp_path / "audit.log")})
    assert audited.out == VALUE  # required is assumed, and the entry was written
    assert verify(tmp_path / "audit.log")[0] == 1


def assert_stopped_naming(result: Result, config: Path) -> None:
    assert result.code in (1, 2) and result.out == "", result.err
    first = result.err.splitlines()[0]
    assert first.startswith(f"sealer: error: {config}: ") and VALUE not in result.err
    assert "nothing was decrypted" in first


@pytest.mark.parametrize("text", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_sealer_yaml_that_cannot_be_read_stops_readers(tmp_path: Path, sealed: Path,
                                                         text: str) -> None:
    config = tmp_path / "sealer.yaml"
    config.write_text(text)
    assert_stopped_naming(get(sealed, blocked_log(tmp_path)), config)
    stopped = get(sealed, {"SEALER_AUDIT_LOG": str(tmp_path / "audit.log")})
    assert_stopped_naming(stopped, config)
    assert "require_signature" in stopped.err  # why it stops
    assert verify(tmp_path / "audit.log")[0] == 1  # the refusal is audited


def test_a_broken_nested_sealer_yaml_stops_readers(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "sealer.yaml").write_text("version: 1\naudit:\n  required: false\n")
    nested = tmp_path / "prod"
    nested.mkdir()
    sealed = nested / "app.sealed.yaml"
    seal_file(yamlio.dump({"db": {"password": VALUE}}).encode(), sealed, source="t",
              recipients=[ME_R])
    (nested / "sealer.yaml").write_text(UNREADABLE["not YAML"])
    assert_stopped_naming(get(sealed, blocked_log(tmp_path)), nested / "sealer.yaml")


def test_an_unreadable_sealer_yaml_makes_audit_required(tmp_path: Path, sealed: Path) -> None:
    config = tmp_path / "sealer.yaml"
    config.write_text("version: 1\n")
    config.chmod(0)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root reads a mode-000 file: take that power away from the child
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("as root, an unreadable file needs setpriv to drop CAP_DAC_OVERRIDE")
        prefix = (setpriv, "--bounding-set", "-dac_override,-dac_read_search")
    assert_stopped_naming(get(sealed, blocked_log(tmp_path), prefix=prefix), config)


def test_a_well_formed_sealer_yaml_still_decides(tmp_path: Path, sealed: Path) -> None:
    """An error elsewhere in the file (check reports it) does not hide `required: true`;
    without it, an unwritable log is best effort, as before."""
    config = tmp_path / "sealer.yaml"
    config.write_text("version: 1\naudit:\n  required: true\nenvironmentz: {}\n")
    refused = get(sealed, blocked_log(tmp_path))
    assert refused.code == 1 and "audit.required is assumed" not in refused.err
    config.write_text("version: 1\naudit:\n  required: false\n")
    assert get(sealed, blocked_log(tmp_path)).out == VALUE
    config.write_text("version: 1\n")
    assert get(sealed, blocked_log(tmp_path)).out == VALUE
