"""The bench (bench/run.py) runs and measures what it says; never how fast anything is.

Its data generators make files that sealer and the real sops both decrypt to the same keys,
its pairs alternate, it refuses a shim in place of sealer's console script, and a one-pair run
of a few comparisons writes every sample to --json. No assertion here is about time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from sops_helpers import sops_binary

from bench.data import Sizes, Workspace, check_floor_code
from bench.harness import (
    BenchError,
    Case,
    Comparison,
    Outcome,
    Sample,
    Tools,
    run_pairs,
    shebang_python,
)
from bench.run import OPTIONAL, judge, select

SIZES = Sizes(small=3, big=25, huge=60, check_files=6)


def expected(ws: Workspace, size: str) -> dict[str, str]:
    return {f"key{i}": ws.token(i) for i in range(SIZES.count(size))}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path, Tools(), SIZES)


def test_generated_files_decrypt_to_the_same_keys_with_sealer_and_sops(ws: Workspace) -> None:
    sops = Path(sops_binary())
    for size in ("small", "big", "huge"):
        unsealed = ws.run([str(ws.tools.sealer), "unseal", ws.sealed(size)], ws.sealer_env)
        decrypted = ws.run([str(sops), "decrypt", ws.sops_file(sops, size)], ws.sops_env)
        assert yaml.safe_load(unsealed) == expected(ws, size)
        assert yaml.safe_load(decrypted) == expected(ws, size)
        assert ws.last(size) == expected(ws, size)[f"key{SIZES.count(size) - 1}"]


def test_check_repository_is_clean_without_a_key_and_the_floor_parses_it(ws: Workspace) -> None:
    repo = ws.check_repo
    assert len(list(repo.rglob("*.sealed.yaml"))) == SIZES.check_files
    assert "SEALER_IDENTITY_FILE" not in ws.base_env
    done = subprocess.run([str(ws.tools.sealer), "check", "."], cwd=repo, env=ws.base_env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"{SIZES.check_files} sealed files checked: 0 errors" in done.stdout + done.stderr
    floor = [str(ws.tools.python), "-c", check_floor_code(SIZES.check_files)]
    assert subprocess.run(floor, cwd=repo, env=ws.base_env, check=False).returncode == 0
    wrong = [str(ws.tools.python), "-c", check_floor_code(SIZES.check_files + 1)]
    assert subprocess.run(wrong, cwd=repo, env=ws.base_env, capture_output=True,
                          check=False).returncode != 0


def test_pairs_alternate_sealer_and_peer_after_one_warm_up_each(tmp_path: Path) -> None:
    log = tmp_path / "order"

    def case(mark: str, warm_up: bool = True) -> Case:
        code = f"open({str(log)!r}, 'a').write({mark!r}); print('ok')"
        return Case(mark, [sys.executable, "-c", code], {}, tmp_path, "ok", warm_up=warm_up)

    outcome = run_pairs(Comparison("x/y", "x / y", case("s"), case("p")), 3, tmp_path / "out")
    assert log.read_text() == "sp" + "sp" * 3
    assert len(outcome.pairs) == 3 and len(outcome.ratios("time")) == 3
    assert all(pair[0].maxrss_kib > 0 and pair[1].maxrss_kib > 0 for pair in outcome.pairs)
    log.unlink()
    run_pairs(Comparison("x/y", "x / y", case("s"), case("p", warm_up=False)), 2,
              tmp_path / "out")
    assert log.read_text() == "s" + "sp" * 2


def test_a_figure_is_the_median_of_the_per_pair_ratios() -> None:
    def pair(mine: float, peer: float, mine_kib: int, peer_kib: int) -> tuple[Sample, Sample]:
        return Sample(mine, mine, mine_kib), Sample(peer, peer, peer_kib)

    decrypt = Outcome("decrypt/sops", "", [], "sops", [],
                      [pair(10, 20, 100, 100), pair(30, 20, 50, 100), pair(12, 100, 80, 100)])
    assert decrypt.ratio("time") == 0.5  # ratios 0.5, 1.5, 0.12 (medians: 12 / 20 = 0.6)
    assert decrypt.ratio("rss") == 0.8 and decrypt.median_ms(0) == 12
    render = Outcome("render/sops", "", [], "sops", [], [pair(30, 20, 60, 100)])
    rows = {row["name"]: row for row in judge({"decrypt/sops": decrypt, "render/sops": render})}
    assert rows["1,000-key decrypt: unseal / sops decrypt"]["verdict"] == "PASS"  # <= 0.8
    assert rows["render 1,000 keys to dotenv / sops"]["verdict"] == "MISS"  # 1.5 > 1.0
    assert rows["peak RSS, decrypt / sops"]["verdict"] == "MISS"  # 0.8 > 0.7
    assert rows["peak RSS, render / sops"]["verdict"] == "PASS"
    worst = rows["peak RSS, every scenario / sops (worst)"]
    assert (worst["ratio"], worst["verdict"]) == (0.8, "MISS")
    assert rows["get / dotenvx get"]["verdict"] == "n/a"


def test_a_failed_or_wrong_run_is_an_error(tmp_path: Path) -> None:
    fails = Case("t", [sys.executable, "-c", "raise SystemExit(3)"], {}, tmp_path)
    silent = Case("t", [sys.executable, "-c", "print('nothing')"], {}, tmp_path, "token")
    for bad in (fails, silent):
        with pytest.raises(BenchError):
            run_pairs(Comparison("x/y", "x / y", bad, bad), 1, tmp_path / "out")


def test_a_shim_is_refused_for_sealer(tmp_path: Path) -> None:
    shim = tmp_path / "sealer"
    shim.write_text('#!/usr/bin/env bash\nexec pyenv exec sealer "$@"\n')
    with pytest.raises(BenchError, match="shim"):
        shebang_python(shim)
    python_shim = tmp_path / "python3"
    python_shim.write_text("#!/usr/bin/env bash\nexec python3 \"$@\"\n")
    shim.write_text(f"#!{python_shim}\nimport sealer.cli\n")
    with pytest.raises(BenchError, match="shim"):
        shebang_python(shim)
    real = Tools()
    assert real.python.read_bytes()[:2] != b"#!" and real.sealer.name == "sealer"


def test_only_selects_scenarios_and_names_optional_ones_exactly() -> None:
    assert select(["get"]) == ["get/floor", "get/dotenvx", "get/sops"]
    assert "decrypt/dotenvx" not in select(["decrypt"]) and not OPTIONAL & set(select(None))
    assert select(["decrypt/dotenvx", "help"]) == ["help/get", "decrypt/dotenvx"]
    with pytest.raises(BenchError, match="no such scenario"):
        select(["nope"])


def test_one_pair_run_writes_every_sample_and_a_verdict(tmp_path: Path) -> None:
    sops_binary()  # the run needs sops: unavailable otherwise
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--runs", "1",
                           "--only", "get/floor,help,decrypt/sops,render", "--json", str(out)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    names = [row["name"] for row in report["comparisons"]]
    assert names == ["get/floor", "help/get", "decrypt/sops", "render/sops"]
    for row in report["comparisons"]:
        assert len(row["pairs"]) == 1 and len(row["time_ratios"]) == 1
        assert all(sample["wall_ms"] > 0 and sample["maxrss_kib"] > 0
                   for pair in row["pairs"] for sample in pair)
    verdicts = {row["comparison"]: row["verdict"] for row in report["targets"]}
    assert verdicts["decrypt/sops"] in ("PASS", "MISS")
    assert verdicts["check/floor"] == "n/a"
    assert report["machine"]["sealer_entry"].endswith("/sealer")
    assert "get / Python floor (same interpreter)" in done.stdout
