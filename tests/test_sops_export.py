"""`sealer render --format sops`: a SOPS file the real `sops decrypt` opens, giving exactly the
sealed values; and the round trip sealer -> sops -> sealer."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run
from sops_helpers import identities, key_text, recipient_of, sops

from sealer.sops import decrypt_file
from sealer.yamlio import dump, load

pytest_plugins = ["cli_fixtures"]


def _env(key: str = "key1") -> dict[str, str | None]:
    return {"SEALER_IDENTITY": key_text(key)}


def _seal(cwd: Path, tree: dict[str, Any], *recipients: str) -> Path:
    (cwd / "app.yaml").write_text(dump(tree), encoding="utf-8")
    args = [a for r in recipients for a in ("-r", r)]
    result = run("seal", "app.yaml", *args, cwd=cwd, env=_env())
    assert result.code == 0, result.err
    return cwd / "app.sealed.yaml"


def _export(cwd: Path) -> Path:
    result = run("render", "app.sealed.yaml", "-f", "sops", "-o", "app.enc.yaml", cwd=cwd,
                 env=_env())
    assert result.code == 0, result.err
    assert "app.sealed.yaml -> app.enc.yaml (sops, mode 0600)" in result.err
    return cwd / "app.enc.yaml"


def _random(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(rng.randint(1, 6)):
        choice = rng.randrange(7 if depth < 3 else 5)
        key = f"key{i}"
        if choice == 0:
            out[key] = "".join(rng.choice("abc XYZ09:-_=äö\n") for _ in range(rng.randint(1, 20)))
        elif choice == 1:
            out[key] = rng.randint(-(2**63), 2**63 - 1)
        elif choice == 2:
            out[key] = rng.choice([0.5, -1e-7, 1e21, 123456.789, rng.uniform(-1e9, 1e9)])
        elif choice == 3:
            out[key] = rng.random() < 0.5
        elif choice == 4:
            out[key] = rng.choice(["yes", "017", "2024-01-01", "null", "1e3", "True"])
        elif choice == 5:
            out[key] = _random(rng, depth + 1)
        else:
            out[key] = [rng.randint(0, 9), "s", 2.5, False]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_sops_decrypt_gives_exactly_the_sealed_values(seed: int, tmp_path: Path) -> None:
    tree = _random(random.Random(seed))
    _seal(tmp_path, tree, recipient_of("key1"))
    exported = _export(tmp_path)
    assert exported.stat().st_mode & 0o777 == 0o600
    out = sops("decrypt", "--output-type", "json", exported, key=key_text("key1"),
               cwd=tmp_path)
    assert json.loads(out) == tree


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_sealer_sops_sealer_is_exact(seed: int, tmp_path: Path) -> None:
    tree = _random(random.Random(100 + seed))
    _seal(tmp_path, tree, recipient_of("key1"))
    exported = _export(tmp_path)
    back = run("import", "sops", "app.enc.yaml", "-o", "back.sealed.yaml", "-r",
               recipient_of("key1"), cwd=tmp_path, env=_env())
    assert back.code == 0, back.err
    unsealed = run("unseal", "back.sealed.yaml", "--format", "json", cwd=tmp_path, env=_env())
    assert unsealed.code == 0, unsealed.err
    assert json.loads(unsealed.out) == tree
    plain = decrypt_file(exported.read_bytes(), identities("key1"), source="app.enc.yaml")
    for got, want in zip(_leaves(plain.branches[0]), _leaves(tree), strict=True):
        assert type(got) is type(want) and (got == want or (math.isnan(got) and math.isnan(want)))


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [v for value in tree.values() for v in _leaves(value)]
    if isinstance(tree, list):
        return [v for value in tree for v in _leaves(value)]
    return [tree]


def test_every_recipient_the_files_share_can_decrypt(tmp_path: Path) -> None:
    _seal(tmp_path, {"token": "t0k"}, recipient_of("key1"), recipient_of("key2"))
    exported = _export(tmp_path)
    metadata = load(exported.read_bytes(), source="app.enc.yaml")
    assert isinstance(metadata, dict)
    assert [a["recipient"] for a in metadata["sops"]["age"]] == [recipient_of("key1"),
                                                                 recipient_of("key2")]
    for key in ("key1", "key2"):
        out = sops("decrypt", exported, key=key_text(key), cwd=tmp_path)
        assert out == b"token: t0k\n"


def test_nulls_empty_strings_and_inf_survive(tmp_path: Path) -> None:
    tree = {"a": None, "b": "", "c": math.inf, "d": [None, ""]}
    _seal(tmp_path, tree, recipient_of("key1"))
    exported = _export(tmp_path)
    out = sops("decrypt", exported, key=key_text("key1"), cwd=tmp_path)
    assert load(out, source="sops") == tree


def test_values_sops_cannot_hold_are_refused_by_key(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("blob: !!binary aGk=\n")
    assert run("seal", "app.yaml", "-r", recipient_of("key1"), cwd=tmp_path).code == 0
    result = run("render", "app.sealed.yaml", "-f", "sops", "-o", "app.enc.yaml", cwd=tmp_path,
                 env=_env())
    assert result.code == 1
    assert "blob: sops has no type for binary values" in result.err
    assert not (tmp_path / "app.enc.yaml").exists()


def test_check_does_not_apply(tmp_path: Path) -> None:
    _seal(tmp_path, {"a": "b"}, recipient_of("key1"))
    result = run("render", "app.sealed.yaml", "-f", "sops", "-o", "x.yaml", "--check",
                 cwd=tmp_path, env=_env())
    assert result.code == 2
    assert "--check does not apply to the sops format" in result.err
