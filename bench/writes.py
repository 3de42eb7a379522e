"""Writers and bulk writes: the lock and the fsyncs (issue 17, lever 7).

    python bench/writes.py                   # both scenarios
    python bench/writes.py --writers 16 --seconds 5
    python bench/writes.py --files 1000 --only bulk
    python bench/writes.py --audit-log /dev/shm/audit.log   # without the audit log's fsyncs

`writers`: N processes, each `set`ting a key in its own sealed file, all files in one directory,
for a fixed time; the figure is the total ops/s (a file-per-file lock lets them run side by side,
a directory lock serialises them).

`bulk`: `rekey` and `recipients add` over FILES files in one directory, through the library:
one call per file (what the CLI's loop did) and, where this sealer has them, the many-file
calls that batch their fsyncs (`rekey_many`, `recipients_add_many`), each run on a fresh set
of identical files. Every process gets a private, empty HOME (the audit log is on, as by
default). Files live in a directory under bench/.work (the disk this checkout is on: a tmpfs
would hide what an fsync costs). See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "bench" / ".work"
sys.path.insert(0, str(ROOT))

import pyrage  # noqa: E402

from sealer import files  # noqa: E402
from sealer.keys import Identity, Recipient, parse_identities, parse_recipient  # noqa: E402


def new_identity() -> tuple[Identity, Recipient]:
    secret = str(pyrage.x25519.Identity.generate())
    identity = parse_identities(secret.encode(), source="bench", prompt=None)[0]
    return identity, parse_recipient(identity.recipient)


def make_files(directory: Path, count: int, recipient: Recipient, keys: int = 10) -> list[Path]:
    text = "".join(f"key{i}: value-{i}\n" for i in range(keys)).encode()
    out = []
    for n in range(count):
        path = directory / f"f{n:04d}.sealed.yaml"
        files.seal_file(text, path, source="bench", recipients=[recipient])
        out.append(path)
    return out


def _writer(path: Path, identity: Identity, start: float, stop_at: float, result: Any) -> None:
    time.sleep(max(0.0, start - time.monotonic()))
    ops = 0
    while time.monotonic() < stop_at:
        files.set_value(path, "counter", ops, [identity])
        ops += 1
    result.put(ops)


def bench_writers(directory: Path, writers: int, seconds: float) -> float:
    """Total ops/s of `writers` processes, each setting a key in its own file."""
    identity, recipient = new_identity()
    paths = make_files(directory, writers, recipient, keys=3)
    ctx = multiprocessing.get_context("fork")  # the writers inherit the identity
    result = ctx.Queue()
    start = time.monotonic() + 0.5  # every writer has started by then
    stop_at = start + seconds
    procs = [ctx.Process(target=_writer, args=(p, identity, start, stop_at, result)) for p in paths]
    for proc in procs:
        proc.start()
    total = sum(result.get() for _ in procs)
    for proc in procs:
        proc.join()
    return float(total) / seconds


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_bulk(directory: Path, count: int) -> dict[str, float]:
    """Seconds for rekey and recipients add over `count` files, one call per file and (where
    this sealer has them) batched; each run on its own fresh set of identical files."""
    identity, recipient = new_identity()
    ids = [identity]
    extra = new_identity()[1]
    runs: dict[str, Callable[[list[Path]], object]] = {
        "rekey, one call per file": lambda ps: [files.rekey_file(p, ids) for p in ps],
        "recipients add, one call per file":
            lambda ps: [files.recipients_add(p, [extra], ids) for p in ps],
    }
    if hasattr(files, "rekey_many"):
        runs["rekey_many"] = lambda ps: files.rekey_many(ps, ids)
        runs["recipients_add_many"] = lambda ps: files.recipients_add_many(
            [(p, [extra]) for p in ps], ids)
    out: dict[str, float] = {}
    for n, (name, run) in enumerate(runs.items()):
        where = directory / f"run{n}"
        where.mkdir()
        paths = make_files(where, count, recipient)
        out[name] = timed(lambda r=run, ps=paths: r(ps))  # type: ignore[misc]
        shutil.rmtree(where)
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--only", choices=("writers", "bulk"))
    parser.add_argument("--audit-log", type=Path, help="the audit log ($SEALER_AUDIT_LOG): "
                        "e.g. on /dev/shm, to see the writes without the audit's fsyncs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix="writes-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        for name in [k for k in os.environ if k.startswith(("SEALER_", "SOPS_"))]:
            del os.environ[name]
        os.environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                          XDG_STATE_HOME=str(home / ".local" / "state"))
        if args.audit_log is not None:
            os.environ["SEALER_AUDIT_LOG"] = str(args.audit_log)
        if args.only in (None, "writers"):
            where = Path(tmp) / "writers"
            where.mkdir()
            rate = bench_writers(where, args.writers, args.seconds)
            print(f"{args.writers} writers, distinct files, one directory: {rate:.1f} ops/s")
            shutil.rmtree(where)
        if args.only in (None, "bulk"):
            where = Path(tmp) / "bulk"
            where.mkdir()
            for name, seconds in bench_bulk(where, args.files).items():
                print(f"{name}, {args.files} files: {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
