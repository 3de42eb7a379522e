"""Load test of `sealer serve` beside moto's server, on loopback, serving the same secrets.

    python bench/serve.py                 # 1,000 secrets, 3 alternating rounds per server
    python bench/serve.py --quick         # 1 round, fewer requests
    python bench/serve.py --json out.json

Both servers hold the same 1,000 secrets (sealer: 1,000 sealed files `bench/NNNN`; moto: the
same names made with CreateSecret) and get the same GetSecretValue requests, signed once with
SigV4 by botocore and replayed (a signature is valid for 15 minutes), so the load generator's
own cost is one HTTP exchange per request and equal for both. The generator runs in this
process; each server is its own process started through the venv's console script (sealer)
or `moto_server`, so on a 2-core machine each side has about one core.

Measured per server and round: latency with one client (p50, p99 over sequential requests),
and throughput with CLIENTS concurrent keep-alive connections. The ratio is sealer's
throughput over moto's in the same round; the figure is the median over rounds. sealer runs
with its audit log on (not required, and again with SEALER_AUDIT_REQUIRED=1, where every answer
waits for its entry's fsync). See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRETS = 1000
CLIENTS = 8
REGION = "us-east-1"


@dataclass
class Round:
    server: str
    p50_ms: float
    p99_ms: float
    rps: float


def venv_bin(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.exists():
        sys.exit(f"bench/serve.py: {path} is missing: run it with the venv's python "
                 "(pip install -e '.[dev]')")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench/serve.py: the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("bench/serve.py: the server did not start")


def make_sealed(root: Path, values: dict[str, str]) -> Path:
    """`values` sealed into ROOT/secrets/NAME.sealed.yaml, through sealer's library."""
    import pyrage

    from sealer.files import seal_file
    from sealer.keys import parse_recipient

    identity = pyrage.x25519.Identity.generate()
    key = root / "key.txt"
    key.write_text(f"{identity}\n", encoding="utf-8")
    key.chmod(0o600)
    recipient = parse_recipient(str(identity.to_public()))
    for name, value in values.items():
        out = root / "secrets" / f"{name}.sealed.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        seal_file(json.dumps({"username": "app", "password": value}).encode(), out,
                  source=f"{name}.yaml", recipients=[recipient])
    return key


Request = tuple[bytes, dict[str, str]]  # body, headers


def signed_requests(port: int, names: Sequence[str], secret_key: str) -> list[Request]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials("AKIDBENCH", secret_key)
    out = []
    for name in names:
        body = json.dumps({"SecretId": name}).encode()
        request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                             headers={"Content-Type": "application/x-amz-json-1.1",
                                      "X-Amz-Target": "secretsmanager.GetSecretValue"})
        SigV4Auth(creds, "secretsmanager", REGION).add_auth(request)
        out.append((body, dict(request.headers.items())))
    return out


def one_client(port: int, requests: list[tuple[bytes, dict[str, str]]], count: int,
               latencies: list[float] | None, seed: int) -> int:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done = 0
    for _ in range(count):
        body, headers = requests[rng.randrange(len(requests))]
        start = time.perf_counter()
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200 or b"SecretString" not in data:
            raise SystemExit(f"bench/serve.py: a request failed: {response.status} "
                             f"{data[:200]!r}")
        if latencies is not None:
            latencies.append(elapsed)
        done += 1
    conn.close()
    return done


def measure(server: str, port: int, requests: list[tuple[bytes, dict[str, str]]],
            sequential: int, concurrent: int) -> Round:
    one_client(port, requests, 200, None, 0)  # warm up: connections, caches
    latencies: list[float] = []
    one_client(port, requests, sequential, latencies, 1)
    latencies.sort()
    threads = [threading.Thread(target=one_client, args=(port, requests, concurrent, None, i))
               for i in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return Round(server, statistics.median(latencies) * 1000,
                 latencies[int(len(latencies) * 0.99)] * 1000, CLIENTS * concurrent / elapsed)


def start_sealer(root: Path, key: Path, port: int, token: str, env: dict[str, str]
                 ) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(venv_bin("sealer")), "serve", str(root / "secrets"), "--port", str(port),
         "-i", str(key), "--reload-interval", "3600"],
        env={**os.environ, **env, "SEALER_SERVE_TOKEN": token}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def start_moto(port: int, values: dict[str, str], token: str) -> subprocess.Popen[bytes]:
    import boto3

    proc = subprocess.Popen([str(venv_bin("moto_server")), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    client = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{port}",
                          region_name=REGION, aws_access_key_id="AKIDBENCH",
                          aws_secret_access_key=token)
    for name, value in values.items():
        client.create_secret(Name=name, SecretString=json.dumps({"username": "app",
                                                                 "password": value}))
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, fewer requests")
    parser.add_argument("--json", type=Path, help="also write every round here")
    args = parser.parse_args(argv)
    rounds, sequential, concurrent = (1, 1000, 250) if args.quick else (3, 3000, 1000)
    names = [f"bench/{i:04d}" for i in range(SECRETS)]
    values = {n: f"pw-{i:04d}-{os.urandom(8).hex()}" for i, n in enumerate(names)}
    token = os.urandom(24).hex()
    work = Path(tempfile.mkdtemp(prefix="sealer-bench-serve-"))
    results: list[Round] = []
    try:
        key = make_sealed(work, values)
        home = work / "home"
        home.mkdir()
        audit_env = {"HOME": str(home), "XDG_STATE_HOME": str(home / "state")}
        setups: list[tuple[str, Any]] = [
            ("sealer", lambda port: start_sealer(work, key, port, token, audit_env)),
            ("sealer (audit required)", lambda port: start_sealer(
                work, key, port, token, {**audit_env, "SEALER_AUDIT_REQUIRED": "1"})),
            ("moto", lambda port: start_moto(port, values, token)),
        ]
        for number in range(rounds):
            order = setups if number % 2 == 0 else list(reversed(setups))
            for name, starter in order:
                port = free_port()
                proc = starter(port)
                try:
                    requests = signed_requests(port, names, token)
                    results.append(measure(name, port, requests, sequential, concurrent))
                finally:
                    stop(proc)
                print(f"round {number + 1}: {results[-1]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"GetSecretValue, {SECRETS} secrets loaded, {CLIENTS} keep-alive clients for "
          f"throughput, 1 for latency; median of {rounds} rounds")
    print(f"{'server':<26}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    by_server: dict[str, list[Round]] = {}
    for result in results:
        by_server.setdefault(result.server, []).append(result)
    for server, own in by_server.items():
        print(f"{server:<26}{statistics.median(r.rps for r in own):>10.0f}"
              f"{statistics.median(r.p50_ms for r in own):>10.2f}"
              f"{statistics.median(r.p99_ms for r in own):>10.2f}")
    ratios = [s.rps / m.rps for s, m in zip(by_server["sealer"], by_server["moto"],
                                            strict=True)]
    print(f"throughput ratio sealer / moto: {statistics.median(ratios):.2f}x "
          f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())

