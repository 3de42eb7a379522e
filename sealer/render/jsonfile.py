"""The json format: the merged document as JSON (binary values as base64, as `sealer unseal
--format json` prints them). JSON has no infinity or NaN, so those are errors naming the key."""

from __future__ import annotations

import math
from typing import Any

from .. import paths
from .merge import Merged
from .spec import RenderSpec

__all__ = ["render"]


def render(merged: Merged, spec: RenderSpec) -> bytes:
    import json

    for path, value in paths.leaves(merged.tree):
        if isinstance(value, float) and not math.isfinite(value):
            raise merged.error(path, f"{value!r} cannot be written as JSON",
                               hint="store it as a string")
    text = json.dumps(merged.tree, indent=2, ensure_ascii=False, default=_base64)
    return (text + "\n").encode("utf-8")


def _base64(value: Any) -> str:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    raise TypeError(type(value).__name__)  # pragma: no cover - a plaintext tree has no others
