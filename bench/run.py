"""Benchmark sealer against sops, dotenvx and the Python floor, as whole processes, in pairs.

    python bench/run.py                    # every comparison: 1 warm-up + 7 pairs (~5 min)
    python bench/run.py --quick            # 3 pairs, 1 for the slow ones (~2-3 min)
    python bench/run.py --only get,help    # chosen scenarios (or scenario/peer, e.g. get/floor)
    python bench/run.py --json out.json    # also write every sample
    python bench/run.py --importtime       # the 15 slowest imports of `sealer get`

Each comparison runs sealer and its peer alternately (sealer, peer, sealer, peer, ...); its
figure is the median of the per-pair ratios of wall time, and of peak RSS (os.wait4's
ru_maxrss). Run it with the interpreter sealer is installed in: sealer is timed through its
console script, and the Python floor uses that script's shebang interpreter.
See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable (after site-packages,
    sys.path.append(str(Path(__file__).resolve().parent.parent))  # so sealer is the installed one)

from bench.data import Sizes, Workspace, base_env, check_floor_code
from bench.harness import (
    BenchError,
    Case,
    Comparison,
    Outcome,
    Tools,
    find_sealer,
    find_sops,
    machine,
    run_pairs,
)

# bench/memory.py and bench/writes.py take these from here
__all__ = ["BenchError", "base_env", "find_sealer", "find_sops", "main"]

FLOOR_IMPORTS = "import yaml, pyrage, cryptography.hazmat.primitives.ciphers.aead"
SLOW_PAIRS = 3  # at most this many pairs when a pair takes seconds (1 with --quick)

# --------------------------------------------------------------------------- comparisons
#
# Each maker returns one comparison, or None when its peer is not installed; it makes the test
# data it needs on first use. OPTIONAL ones run only when --only names them exactly.


def sealer_case(ws: Workspace, argv: list[str], expect: str | None = None,
                env: dict[str, str] | None = None, cwd: Path | None = None) -> Case:
    return Case("sealer", [str(ws.tools.sealer), *argv], env or ws.sealer_env, cwd or ws.root,
                expect)


def get_floor(ws: Workspace) -> Comparison:
    floor = Case("Python floor", [str(ws.tools.python), "-c", FLOOR_IMPORTS], ws.base_env,
                 ws.root)
    return Comparison("get/floor", "get 1 of 10 keys / Python floor", get_case(ws), floor)


def get_case(ws: Workspace) -> Case:
    return sealer_case(ws, ["get", ws.sealed("small"), "key5"], ws.token(5))


def get_dotenvx(ws: Workspace) -> Comparison | None:
    if ws.tools.dotenvx is None:
        return None
    peer = Case("dotenvx", [*ws.tools.dotenvx, "get", "KEY5", "-f", ".env"], ws.dotenvx_env,
                ws.dotenvx_dir("small"), ws.token(5))
    return Comparison("get/dotenvx", "get 1 of 10 keys / dotenvx get", get_case(ws), peer)


def get_sops(ws: Workspace) -> Comparison | None:
    if ws.tools.sops is None:
        return None
    peer = Case("sops", [str(ws.tools.sops), "decrypt", "--extract", '["key5"]',
                         ws.sops_file(ws.tools.sops, "small")], ws.sops_env, ws.root, ws.token(5))
    return Comparison("get/sops", "get 1 of 10 keys / sops decrypt --extract", get_case(ws),
                      peer)


def help_get(ws: Workspace) -> Comparison:
    helped = sealer_case(ws, ["--help"], "Usage")
    return Comparison("help/get", "sealer --help / sealer get", helped,
                      replace(get_case(ws), tool="sealer get"))


def decrypt_sops(ws: Workspace, size: str = "big") -> Comparison | None:
    if ws.tools.sops is None:
        return None
    count, slow = ws.sizes.count(size), size == "huge"
    mine = sealer_case(ws, ["unseal", ws.sealed(size)], ws.last(size))
    peer = Case("sops", [str(ws.tools.sops), "decrypt", ws.sops_file(ws.tools.sops, size)],
                ws.sops_env, ws.root, ws.last(size), warm_up=not slow)
    name = "decrypt-100k/sops" if slow else "decrypt/sops"
    return Comparison(name, f"decrypt {count:,} keys: unseal / sops decrypt", mine, peer, slow)


def decrypt_huge(ws: Workspace) -> Comparison | None:
    return decrypt_sops(ws, "huge")


def encrypt_case(ws: Workspace) -> Case:
    """The previous output stays: --replace starts a new file over it, as a re-seal does."""
    return sealer_case(ws, ["seal", ws.plain("big"), "-R", ws.recipients_file(), "-o",
                            "new.sealed.yaml", "--replace"], "new.sealed.yaml")


def encrypt_sops(ws: Workspace) -> Comparison | None:
    if ws.tools.sops is None:
        return None
    peer = Case("sops", [str(ws.tools.sops), "encrypt", "--age", ws.recipient, ws.plain("big")],
                ws.sops_env, ws.root, "ENC[AES256_GCM")
    return Comparison("encrypt/sops", f"encrypt {ws.sizes.big:,} keys: seal --replace / sops "
                      "encrypt", encrypt_case(ws), peer)


def render_sops(ws: Workspace) -> Comparison | None:
    if ws.tools.sops is None:
        return None
    mine = sealer_case(ws, ["render", ws.sealed("big"), "--format", "dotenv", "--stdout"],
                       ws.last("big"))
    peer = Case("sops", [str(ws.tools.sops), "decrypt", "--output-type", "dotenv",
                         ws.sops_file(ws.tools.sops, "big")], ws.sops_env, ws.root,
                ws.last("big"))
    return Comparison("render/sops", f"render {ws.sizes.big:,} keys to dotenv / sops", mine,
                      peer)


def check_floor(ws: Workspace) -> Comparison:
    count, repo = ws.sizes.check_files, ws.check_repo
    mine = sealer_case(ws, ["check", "."], f"{count} sealed files checked: 0 errors",
                       env=ws.base_env, cwd=repo)
    floor = Case("CSafeLoader floor", [str(ws.tools.python), "-c", check_floor_code(count)],
                 ws.base_env, repo)
    return Comparison("check/floor", f"check {count:,} files (keyless) / CSafeLoader parse",
                      mine, floor)


def decrypt_dotenvx(ws: Workspace) -> Comparison | None:
    if ws.tools.dotenvx is None:
        return None
    peer = Case("dotenvx", [*ws.tools.dotenvx, "decrypt", "--stdout", "-f", ".env"],
                ws.dotenvx_env, ws.dotenvx_dir("big"), ws.last("big"), warm_up=False)
    return Comparison("decrypt/dotenvx", f"decrypt {ws.sizes.big:,} keys: unseal / dotenvx",
                      sealer_case(ws, ["unseal", ws.sealed("big")], ws.last("big")), peer, True)


def encrypt_dotenvx(ws: Workspace) -> Comparison | None:
    if ws.tools.dotenvx is None:
        return None
    env, folder = ws.dotenvx_env, ws.path("dx-encrypt")
    folder.mkdir(exist_ok=True)
    source = ws.path(ws.dotenv("big"))

    def fresh() -> None:  # dotenvx encrypts in place: start from the plaintext every run
        (folder / ".env").write_bytes(source.read_bytes())

    peer = Case("dotenvx", [*ws.tools.dotenvx, "encrypt", "-f", ".env", "--with",
                            env["DOTENV_PUBLIC_KEY"]], env, folder, prepare=fresh, warm_up=False)
    return Comparison("encrypt/dotenvx", f"encrypt {ws.sizes.big:,} keys: seal / dotenvx",
                      encrypt_case(ws), peer, True)


Maker = Callable[[Workspace], Comparison | None]
COMPARISONS: dict[str, Maker] = {
    "get/floor": get_floor, "get/dotenvx": get_dotenvx, "get/sops": get_sops,
    "help/get": help_get,
    "decrypt/sops": decrypt_sops, "encrypt/sops": encrypt_sops, "render/sops": render_sops,
    "check/floor": check_floor, "decrypt-100k/sops": decrypt_huge,
    "decrypt/dotenvx": decrypt_dotenvx, "encrypt/dotenvx": encrypt_dotenvx,
}
OPTIONAL = {"decrypt/dotenvx", "encrypt/dotenvx"}  # ~15 s a run


def select(only: Sequence[str] | None) -> list[str]:
    """The comparisons named by --only (scenarios or scenario/peer), in the table's order."""
    if not only:
        return [name for name in COMPARISONS if name not in OPTIONAL]
    chosen = []
    for word in only:
        hits = [n for n in COMPARISONS if n == word or (n.split("/")[0] == word
                                                         and n not in OPTIONAL)]
        if not hits:
            raise BenchError(f"--only {word}: no such scenario; choose from "
                             f"{', '.join(scenario_names())}")
        chosen += hits
    return [name for name in COMPARISONS if name in chosen]


def scenario_names() -> list[str]:
    return list(dict.fromkeys([n.split("/")[0] for n in COMPARISONS] + list(COMPARISONS)))


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    name: str
    comparison: str
    metric: str  # "time" or "rss"
    bound: float | None  # None: reported, no target


TARGETS = [
    Target("1,000-key decrypt: unseal / sops decrypt", "decrypt/sops", "time", 0.8),
    Target("1,000-key encrypt: seal / sops encrypt", "encrypt/sops", "time", 0.9),
    Target("render 1,000 keys to dotenv / sops", "render/sops", "time", 1.0),
    Target("get / Python floor (same interpreter)", "get/floor", "time", 1.2),
    Target("get / dotenvx get", "get/dotenvx", "time", 0.12),
    Target("check 2,000 files / CSafeLoader parse", "check/floor", "time", 1.3),
    Target("100,000-key decrypt / sops", "decrypt-100k/sops", "time", 0.1),
    *(Target(f"peak RSS, {name.split('/')[0]} / sops", name, "rss", 0.7)
      for name in COMPARISONS if name.endswith("/sops")),
    Target("sealer --help / get (time)", "help/get", "time", None),
    Target("sealer --help / get (peak RSS)", "help/get", "rss", None),
]


def judge(outcomes: dict[str, Outcome]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for target in TARGETS:
        outcome = outcomes.get(target.comparison)
        ratio = None if outcome is None else outcome.ratio(target.metric)
        if target.bound is None or ratio is None:
            verdict = "-" if ratio is not None else "n/a"
        else:
            verdict = "PASS" if ratio <= target.bound else "MISS"
        rows.append({"name": target.name, "comparison": target.comparison,
                     "metric": target.metric, "ratio": ratio, "bound": target.bound,
                     "verdict": verdict})
    rss = [row for row in rows if row["metric"] == "rss" and row["bound"] is not None]
    measured = [row for row in rss if row["ratio"] is not None]
    if measured:
        worst = max(measured, key=lambda row: float(str(row["ratio"])))
        rows.append({**worst, "name": "peak RSS, every scenario / sops (worst)",
                     "verdict": "MISS" if any(r["verdict"] == "MISS" for r in rss) else "PASS"})
    return rows


# --------------------------------------------------------------------------- report


def print_outcome(outcome: Outcome) -> None:
    print(f"  {outcome.name:<18} sealer {outcome.median_ms(0):9.1f} ms  "
          f"{outcome.peer_tool} {outcome.median_ms(1):9.1f} ms  "
          f"ratio {outcome.ratio('time'):.3f}  (pairs: {len(outcome.pairs)})")


def print_table(outcomes: dict[str, Outcome]) -> None:
    print(f"\n{'comparison':<18} {'peer':<17} {'sealer ms':>10} {'peer ms':>10} "
          f"{'ratio':>6} {'sealer MiB':>10} {'peer MiB':>9} {'ratio':>6} {'pairs':>5}")
    for o in outcomes.values():
        print(f"{o.name:<18} {o.peer_tool:<17} {o.median_ms(0):>10.1f} {o.median_ms(1):>10.1f} "
              f"{o.ratio('time'):>6.3f} {o.median_rss_mib(0):>10.1f} {o.median_rss_mib(1):>9.1f} "
              f"{o.ratio('rss'):>6.2f} {len(o.pairs):>5}")
    print("(ms and MiB: medians over the pairs; ratios: medians of the per-pair ratios)")


def print_targets(rows: list[dict[str, object]]) -> None:
    print(f"\n{'ratio':<44} {'value':>7} {'target':>8}  verdict")
    for row in rows:
        ratio, bound = row["ratio"], row["bound"]
        shown = "-" if ratio is None else f"{float(str(ratio)):.3f}"
        target = "-" if bound is None else f"≤ {bound}"
        print(f"{row['name']!s:<44} {shown:>7} {target:>8}  {row['verdict']}")


def write_json(path: Path, info: dict[str, str], sizes: Sizes, outcomes: dict[str, Outcome],
               targets: list[dict[str, object]]) -> None:
    rows = [{**asdict(o), "time_ratio": o.ratio("time"), "rss_ratio": o.ratio("rss"),
             "time_ratios": o.ratios("time"), "rss_ratios": o.ratios("rss"),
             "sealer_median_ms": o.median_ms(0), "peer_median_ms": o.median_ms(1),
             "sealer_median_rss_mib": o.median_rss_mib(0),
             "peer_median_rss_mib": o.median_rss_mib(1)} for o in outcomes.values()]
    path.write_text(json.dumps({"machine": info, "sizes": asdict(sizes), "comparisons": rows,
                                "targets": targets}, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {path}")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="pairs per comparison (default 7)")
    parser.add_argument("--quick", action="store_true",
                        help=f"3 pairs per comparison, 1 for the slow ones (else {SLOW_PAIRS})")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run these comparisons (comma-separated, repeatable): "
                             + ", ".join(scenario_names())
                             + f"; {' and '.join(sorted(OPTIONAL))} run only when named")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every sample")
    parser.add_argument("--importtime", action="store_true",
                        help="show the 15 slowest imports of `sealer get` instead")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 3)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    args.only = [w.strip() for words in args.only or [] for w in words.split(",") if w.strip()]
    return args


def benchmark(tools: Tools, names: list[str], pairs: int, slow_pairs: int,
              sizes: Sizes | None = None) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="sealer-bench-") as tmp:
        ws = Workspace(Path(tmp), tools, sizes)
        print(f"test data in {ws.root}; 1 warm-up per command, then pairs "
              f"(sealer, peer, sealer, peer, ...)")
        for name in names:
            comparison = COMPARISONS[name](ws)
            if comparison is None:
                print(f"  {name:<18} skipped: peer not installed")
                continue
            count = slow_pairs if comparison.slow else pairs
            outcomes[name] = run_pairs(comparison, count, ws.path("stdout.txt"))
            print_outcome(outcomes[name])
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tools = Tools()
        if args.importtime:
            from bench.importtime import importtime

            importtime(tools, FLOOR_IMPORTS, max(args.runs, 1))
            return 0
        names = select(args.only)
        slow_pairs = 1 if args.quick else min(args.runs, SLOW_PAIRS)
        outcomes = benchmark(tools, names, args.runs, slow_pairs)
        info = machine(tools)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    for key, value in info.items():
        print(f"  {key:<13} {value}")
    print_table(outcomes)
    targets = judge(outcomes)
    print_targets(targets)
    if args.json is not None:
        write_json(args.json, info, Sizes(), outcomes, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
