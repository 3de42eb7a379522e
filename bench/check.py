"""Benchmark `sealer check` over a repository of 2,000 sealed files against the floor of parsing
those files with PyYAML in one Python process (issue 3's target: within 2x of that floor).

    python bench/check.py [--files 2000] [--runs 5]

Each run is a fresh process; the figure is the median. The repository is generated once in a
temporary directory: a sealer.yaml with two environments and creation rules, and files of 8
keys each following the db-credentials schema, all sealed for one throwaway key.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CONFIG = """\
version: 1
principals:
  ci: {recipient}
environments:
  prod: {{recipients: [ci], require: [ci], max_rotation_age: 90d}}
  dev: {{recipients: [ci]}}
creation_rules:
  - {{path: "prod/**", environment: prod, schema: db-credentials}}
  - {{path: "dev/**", environment: dev, schema: db-credentials}}
policy:
  key_name: '^[a-zA-Z_]+$'
"""


def make_repository(root: Path, count: int) -> list[Path]:
    import pyrage

    from sealer import yamlio
    from sealer.core import seal
    from sealer.keys import parse_recipient

    recipient = parse_recipient(str(pyrage.x25519.Identity.generate().to_public()))
    (root / "sealer.yaml").write_text(CONFIG.format(recipient=recipient.text))
    files = []
    for i in range(count):
        env = "prod" if i % 2 else "dev"
        path = root / env / f"service-{i:05d}.sealed.yaml"
        path.parent.mkdir(exist_ok=True)
        data = {"engine": "postgres", "host": f"db{i}.internal", "port": 5432,
                "username": f"app{i}", "password": os.urandom(12).hex(), "dbname": f"db{i}",
                "dbInstanceIdentifier": f"db-{i}", "masterarn": "none"}
        path.write_text(seal(data, recipients=[recipient], source=str(path)).to_yaml())
        files.append(path)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert yamlio  # the same loader sealer uses reads them back in the test suite
    return files


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"{argv[:3]} failed: {result.stderr.decode()[-500:]}")
    return elapsed


def median_ms(argv: list[str], cwd: Path, runs: int) -> float:
    timed(argv, cwd)  # warm-up
    return statistics.median(timed(argv, cwd) for _ in range(runs)) * 1000


def floor_command(loader: str) -> list[str]:
    code = ("import sys, yaml, pathlib\n"
            "files = sorted(pathlib.Path('.').rglob('*.sealed.yaml'))\n"
            f"docs = [yaml.load(f.read_bytes(), Loader=yaml.{loader}) for f in files]\n")
    return [sys.executable, "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sealer = shutil.which("sealer") or sys.exit("sealer is not on PATH")
    with tempfile.TemporaryDirectory(prefix="sealer-bench-check-") as tmp:
        root = Path(tmp)
        make_repository(root, args.files)
        rows = {
            "sealer check (whole process)": median_ms([sealer, "check", "."], root, args.runs),
            "floor: PyYAML CSafeLoader, one process": median_ms(
                floor_command("CSafeLoader"), root, args.runs),
            "floor: PyYAML SafeLoader (pure Python)": median_ms(
                floor_command("SafeLoader"), root, args.runs),
        }
    for name, ms in rows.items():
        print(f"{name:42} {ms:9.1f} ms")
    ratio = rows["sealer check (whole process)"] / rows["floor: PyYAML CSafeLoader, one process"]
    print(f"sealer check / CSafeLoader floor: {ratio:.2f} (target <= 2.0: "
          f"{'PASS' if ratio <= 2.0 else 'MISS'})")


if __name__ == "__main__":
    main()
