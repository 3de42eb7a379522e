"""`bench/run.py --importtime`: the slowest imports of `sealer get`, and those beyond the floor."""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.data import Sizes, Workspace
from bench.harness import BenchError, Tools


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


def importtime(tools: Tools, floor_imports: str, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sealer-bench-") as tmp:
        ws = Workspace(Path(tmp), tools, Sizes())
        argv = [str(tools.python), "-X", "importtime", "-m", "sealer", "get",
                ws.sealed("small"), "key5"]
        medians = importtime_medians(argv, ws.sealer_env, ws.root, runs)
        floor = importtime_medians([str(tools.python), "-X", "importtime", "-c", floor_imports],
                                   ws.base_env, ws.root, runs)
    total = sum(c for name, (_, c) in medians.items() if not name.startswith(" "))
    floor_total = sum(c for name, (_, c) in floor.items() if not name.startswith(" "))
    print(f"{' '.join(argv[:5])} get small.sealed.yaml key5   (median of {runs} runs)")
    print(f"all imports: {total / 1000:.1f} ms;  Python floor ({floor_imports[7:]}): "
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
