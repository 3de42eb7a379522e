"""Run sealer's fuzz targets with atheris (docs/FUZZING.md).

    python fuzz/run.py --target all --seconds 180     # the documented long run
    python fuzz/run.py --target yamlio --runs 2000    # bounded (the test suite's smoke run)

Each target runs in its own process, with HOME, the XDG directories and a scratch directory in
a private temporary directory and no SEALER_/SOPS_ variables. Seeds are read from the project's
vectors (written to the temporary directory by the harness itself), then fuzz/corpus/TARGET,
the regression seeds. New inputs libFuzzer finds stay in the temporary directory; a crash is
copied to fuzz/crashes/ and the run fails. One summary line per target: executions, coverage
(`cov:`, `ft:`), corpus size, and the outcome.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
TARGETS = ("yamlio", "sealed", "age", "config", "merge")
_STATS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", re.MULTILINE)


class Outcome(NamedTuple):
    target: str
    executions: int
    cov: int
    ft: int
    corpus: int
    code: int
    crashes: list[Path]

    def line(self) -> str:
        status = "ok" if self.code == 0 and not self.crashes else (
            f"FAILED (exit {self.code}; {', '.join(map(str, self.crashes)) or 'see the log'})")
        return (f"{self.target}: {self.executions} executions, cov {self.cov}, ft {self.ft}, "
                f"corpus {self.corpus}: {status}")


def _environment(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEALER_", "SOPS_"))}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "FUZZ_SCRATCH"):
        path = base / name.lower()
        path.mkdir(mode=0o700, exist_ok=True)
        env[name] = str(path)
    return env


def run_target(target: str, *, seconds: int | None, runs: int | None, max_len: int,
               log: Path | None) -> Outcome:
    harness = HERE / f"fuzz_{target}.py"
    with tempfile.TemporaryDirectory(prefix=f"sealer-fuzz-{target}-") as tmp:
        base = Path(tmp)
        env = _environment(base)
        seeds, work, artifacts = base / "seeds", base / "work", base / "artifacts"
        for directory in (work, artifacts):
            directory.mkdir()
        subprocess.run([sys.executable, str(harness), "--write-seeds", str(seeds)], env=env,
                       check=True, capture_output=True, timeout=600)
        corpus = HERE / "corpus" / target
        limit = [f"-max_total_time={seconds}"] if seconds else [f"-runs={runs}"]
        command = [sys.executable, str(harness), *limit, f"-max_len={max_len}", "-timeout=60",
                   "-rss_limit_mb=3072", "-print_final_stats=1", f"-artifact_prefix={artifacts}/",
                   str(work), *([str(corpus)] if corpus.is_dir() else []), str(seeds)]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                              cwd=base)
        output = proc.stdout + proc.stderr
        if log is not None:
            log.write_text(output, encoding="utf-8")
        crashes = _keep(sorted(artifacts.iterdir()), target)
    stats = _STATS.findall(output)
    last = [int(x) for x in stats[-1]] if stats else [0, 0, 0, 0]
    if proc.returncode != 0 and not log:
        sys.stderr.write(output[-6000:])
    return Outcome(target, last[0], last[1], last[2], last[3], proc.returncode, crashes)


def _keep(artifacts: list[Path], target: str) -> list[Path]:
    """Crash inputs, copied to fuzz/crashes/ (to become regression seeds once fixed)."""
    kept = []
    for artifact in artifacts:
        destination = HERE / "crashes" / f"{target}-{artifact.name}"
        destination.parent.mkdir(exist_ok=True)
        shutil.copyfile(artifact, destination)
        kept.append(destination)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="all", choices=("all", *TARGETS))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seconds", type=int, help="fuzz each target this long")
    group.add_argument("--runs", type=int, default=1000,
                       help="executions per target, the seeds included (default 1000)")
    parser.add_argument("--max-len", type=int, default=16384, help="largest input (bytes)")
    parser.add_argument("--log-dir", type=Path, help="keep each target's libFuzzer output here")
    args = parser.parse_args(argv)
    targets = TARGETS if args.target == "all" else (args.target,)
    failed = False
    for target in targets:
        log = args.log_dir / f"{target}.log" if args.log_dir else None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        outcome = run_target(target, seconds=args.seconds, runs=args.runs,
                             max_len=args.max_len, log=log)
        print(outcome.line(), flush=True)
        failed = failed or outcome.code != 0 or bool(outcome.crashes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
