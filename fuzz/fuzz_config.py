"""Fuzz target: the sealer.yaml loader (sealer.config): the validated load writers and `check`
use, the unvalidated raw read of readers' hot path, and the lookups a loaded file answers.

Property: nothing but SealerError escapes (a hostile repository's sealer.yaml is data)."""

from __future__ import annotations

from collections.abc import Iterator

import common

from sealer import config
from sealer.errors import SealerError

SCRATCH = common.scratch() / "repo"
SCRATCH.mkdir(exist_ok=True)
PATH = SCRATCH / "sealer.yaml"
FILES = [SCRATCH / name for name in ("app.sealed.yaml", "prod/db.sealed.yaml",
                                     "secrets/staging.sealed.yml")]


def seeds() -> Iterator[bytes]:
    for directory in (common.EXAMPLES, common.SOPS_VECTORS):
        for path in common.files(directory, (".yaml", ".yml")):
            yield path.read_bytes()


def test_one_input(data: bytes) -> None:
    config.parse_raw(data, source=str(PATH))  # returns None for anything it cannot use
    PATH.write_bytes(data)
    try:
        loaded = config.load_config(PATH)
        for file in FILES:
            loaded.environment_for(file)
            loaded.rule_for(file)
        loaded.secret_patterns()
    except SealerError:
        pass


if __name__ == "__main__":
    common.main(test_one_input, seeds)
