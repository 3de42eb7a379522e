"""The fuzz targets (fuzz/, docs/FUZZING.md) in a bounded smoke run: every target, seeded with
the project's vectors and fuzz/corpus/, for a fixed number of executions. atheris runs in its
own process (fuzz/run.py), so its instrumentation never reaches this one. The long run and its
figures are in docs/FUZZING.md."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import ROOT, unavailable

from sealer.git.drivers import merge_trees

RUNS = 1000  # per target, the seeds included: 5,000 executions in all, a few seconds
TARGETS = ("yamlio", "sealed", "age", "config", "merge")
_LINE = re.compile(r"^(\w+): (\d+) executions, cov (\d+), ft (\d+), corpus (\d+): (.*)$")


def test_every_target_survives_a_smoke_run() -> None:
    if importlib.util.find_spec("atheris") is None:
        unavailable("atheris is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([sys.executable, str(ROOT / "fuzz" / "run.py"), "--runs", str(RUNS)],
                          capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    lines = [m.groups() for m in map(_LINE.match, proc.stdout.splitlines()) if m]
    assert [line[0] for line in lines] == list(TARGETS), proc.stdout
    for target, executions, cov, _ft, _corpus, status in lines:
        assert status == "ok" and int(executions) == RUNS and int(cov) > 0, target


def test_harnesses_read_their_seeds_from_the_vectors() -> None:
    """Seeds are read where they live (tests/vectors, examples/, ../shared/vectors), never
    copied into fuzz/: fuzz/corpus holds only what fuzzing found."""
    for path in (ROOT / "fuzz" / "corpus").rglob("*"):
        assert not path.is_file() or path.stat().st_size < 4096, path
    for target in TARGETS:
        assert (ROOT / "fuzz" / f"fuzz_{target}.py").is_file(), target


def test_a_merge_keeps_empty_mappings_and_lists() -> None:
    """Found by fuzz_merge (issue 18): the merge driver dropped empty mappings and lists, as
    paths.leaves yields none for them."""
    seed = (ROOT / "fuzz" / "corpus" / "merge" / "empty-containers-dropped").read_bytes()
    from sealer import yamlio

    base, ours, theirs = (yamlio.load(part, source="side") for part in seed.split(b"\n#%%\n"))
    assert merge_trees(base, ours, theirs, "app.sealed.yaml") == {"a": 2, "e": {}, "l": []}


def test_the_runner_documents_its_use() -> None:
    text = (ROOT / "docs" / "FUZZING.md").read_text(encoding="utf-8")
    assert "python fuzz/run.py --target all --seconds 180" in text
    for target in TARGETS:
        assert f"`{target}`" in text, target
    assert Path(ROOT / "fuzz" / "run.py").read_text().startswith('"""Run sealer')


def test_a_merge_of_emptied_and_filled_containers() -> None:
    """One side empties a mapping (or list) while the other adds to it: key by key, the
    other side's new entries stay and the removed ones go; both emptied stays empty."""
    base = {"e": {"x": 1}, "l": ["a"], "k": {}}
    ours: dict[str, Any] = {"e": {}, "l": [], "k": {}}
    theirs = {"e": {"x": 1, "y": 2}, "l": ["a"], "k": {}}
    assert merge_trees(base, ours, theirs, "app.sealed.yaml") == {"e": {"y": 2}, "l": [],
                                                                  "k": {}}
    assert merge_trees({"e": {}}, {"e": {}}, {"e": {"z": 3}}, "f") == {"e": {"z": 3}}
