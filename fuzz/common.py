"""What the fuzz harnesses share: where the seeds are, reading them, and starting atheris.

Seeds are read from the project's vectors where they live — ../shared/vectors/age and
../shared/vectors/sops (other tools' files), examples/ and tests/vectors/ — never copied into
this directory; fuzz/corpus/TARGET holds only inputs this fuzzing found (regression seeds).
The property every harness checks: only sealer's own errors (`SealerError` and its subclasses)
may escape; anything else, a RecursionError included, is a crash that atheris reports.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import os
import sys
import types
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "vectors"
AGE_VECTORS = SHARED / "age"
SOPS_VECTORS = SHARED / "sops"
EXAMPLES = ROOT / "examples"
OWN_VECTORS = ROOT / "tests" / "vectors"
CORPUS = ROOT / "fuzz" / "corpus"

sys.path.insert(0, str(ROOT))  # run as `python fuzz/fuzz_x.py` from anywhere: this checkout


def files(directory: Path, suffixes: tuple[str, ...] = ()) -> Iterator[Path]:
    """Regular files under `directory` (recursively, sorted), optionally by suffix; none when the
    directory is missing (../shared is not part of every checkout)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*")):
        if path.is_file() and ".git" not in path.parts and (
                not suffixes or path.name.endswith(suffixes)):
            yield path


def vector(path: Path) -> tuple[dict[str, list[str]], bytes]:
    """A CCTV-style vector (age's suite, tests/vectors): `key: value` header lines, an empty
    line, the body (inflated when the header says `compressed: zlib`)."""
    head, _, body = path.read_bytes().partition(b"\n\n")
    fields: dict[str, list[str]] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return fields, body


def own_vectors() -> Iterator[tuple[dict[str, list[str]], bytes]]:
    """tests/vectors: sealed files with their expectations (the .py and .yaml files aside)."""
    for path in files(OWN_VECTORS):
        if path.suffix not in (".py", ".yaml"):
            yield vector(path)


def vector_identity() -> str:
    """The public test identity tests/vectors' golden files are sealed for."""
    fields, _ = vector(OWN_VECTORS / "golden_app")
    return fields["identity"][0]


def age_identities() -> list[str]:
    """The identities age's vectors are encrypted to (X25519 and post-quantum hybrid)."""
    found: dict[str, None] = {}
    for path in files(AGE_VECTORS):
        for identity in vector(path)[0].get("identity", []):
            found.setdefault(identity)
    return list(found)


def write_seeds(seeds: Iterable[bytes], directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in seeds:
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)  # noqa: S324 (a name)
        count += 1
    return count


def main(test_one_input: Callable[[bytes], None], seeds: Callable[[], Iterable[bytes]]) -> None:
    """`python fuzz/fuzz_x.py [libFuzzer options] [corpus dirs]`, or `--write-seeds DIR` (how
    fuzz/run.py gets the seeds without importing atheris or sealer itself).

    The target runs once on every seed before instrumentation, so the modules it imports lazily
    are loaded, and then every function of sealer's loaded modules is instrumented: coverage
    counts sealer's lazy imports too, and not the libraries (`atheris.instrument_all` would
    take half a minute on jsonschema, typer and the rest)."""
    if sys.argv[1:2] == ["--write-seeds"]:
        print(write_seeds(seeds(), Path(sys.argv[2])))
        return
    atheris = importlib.import_module("atheris")  # no type information: Any

    for seed in seeds():
        test_one_input(seed)
    instrument_sealer(atheris)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def instrument_sealer(atheris: Any) -> int:
    """Add atheris' coverage instrumentation to every function of the loaded sealer modules
    (nested functions and comprehensions included); the number instrumented."""
    count = 0
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and str(obj.__module__).startswith("sealer"):
            atheris.instrument_func(obj)
            count += 1
    sys.stderr.write(f"INFO: instrumented {count} functions of sealer\n")
    return count


def scratch() -> Path:
    """A private working directory for harnesses that need files (run.py sets $FUZZ_SCRATCH and
    HOME to temporary directories)."""
    path = Path(os.environ.get("FUZZ_SCRATCH") or "/tmp/sealer-fuzz")  # noqa: S108
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
