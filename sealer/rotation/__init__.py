"""Rotation: new values from generators, applied on real systems by rotators.

`generators` makes values (passwords, tokens, keys, certificates); `rotators` applies a new
credential on its target in AWS Secrets Manager's four steps (create, set, test, finish).
Nothing is imported here, so `import sealer.rotation` costs nothing until a module is used.
"""

from __future__ import annotations

__all__: list[str] = []
