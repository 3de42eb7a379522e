"""The yaml format: the merged document as deterministic YAML (docs/FORMAT.md §8), binary
values as `!!binary`, strings quoted wherever a YAML 1.1 or 1.2 reader would misread them."""

from __future__ import annotations

from .merge import Merged
from .spec import RenderSpec

__all__ = ["render"]


def render(merged: Merged, spec: RenderSpec) -> bytes:
    from ..yamlio import dump

    return dump(merged.tree).encode("utf-8")
