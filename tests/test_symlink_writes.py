"""Writes through a symbolic link replace the file it points to and keep the link, and writers
through the link and through the target are serialised by one lock; a link leading out of the
repository is refused, nothing written (issue 18)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sealing import new_identity

from sealer.core import seal
from sealer.errors import BusyError, SealerError
from sealer.files import get_value, set_value
from sealer.fsio import locked
from sealer.keys import Identity


def sealed_pair(tmp_path: Path) -> tuple[Path, Path, Identity]:
    identity, recipient = new_identity()
    repo = tmp_path / "repo"
    (repo / "real").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    target = repo / "real" / "app.sealed.yaml"
    target.write_text(seal({"token": "t1"}, recipients=[recipient], source=str(target)).to_yaml())
    link = repo / "app.sealed.yaml"
    link.symlink_to(Path("real") / "app.sealed.yaml")
    return link, target, identity


def test_a_write_through_a_link_updates_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    link, target, identity = sealed_pair(tmp_path)
    set_value(link, "token", "t2", [identity])
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert get_value(target, "token", [identity]) == "t2"
    assert not [p for p in target.parent.iterdir() if ".sealer-tmp-" in p.name]


def test_the_link_and_its_target_share_one_lock(tmp_path: Path) -> None:
    link, target, _ = sealed_pair(tmp_path)
    with locked(target), pytest.raises(BusyError):  # noqa: SIM117 - the order matters
        with locked(link, timeout=0.2):
            pass


def test_a_link_out_of_the_repository_is_never_written_through(tmp_path: Path) -> None:
    link, target, identity = sealed_pair(tmp_path)
    outside = tmp_path / "outside.sealed.yaml"
    outside.write_bytes(target.read_bytes())
    link.unlink()
    link.symlink_to(outside)
    before = outside.read_bytes()
    with pytest.raises(SealerError, match="outside"):
        set_value(link, "token", "t2", [identity])
    assert outside.read_bytes() == before and link.is_symlink()
    loop = link.parent / "loop.sealed.yaml"
    os.symlink(loop.name, loop)
    with pytest.raises(SealerError):
        set_value(loop, "token", "t2", [identity])
