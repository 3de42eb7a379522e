"""The sops format: the merged document as a SOPS YAML file (docs/SOPS.md) for the age
recipients every rendered file shares, so whoever could read the sealed files can read it
with `sops decrypt`. A new data key each time: the output changes on every render."""

from __future__ import annotations

from .merge import Merged
from .spec import RenderSpec

__all__ = ["render"]


def render(merged: Merged, spec: RenderSpec) -> bytes:
    from ..document import read_sealed
    from ..keys import parse_recipient
    from ..sops.writer import encrypt_document
    from ..yamlio import dump

    shared: list[str] | None = None
    for file in merged.files:
        texts = [w.recipient for w in read_sealed(file).recipients]
        shared = texts if shared is None else [t for t in shared if t in texts]
    recipients = [parse_recipient(t, source=str(merged.files[-1])) for t in shared or []]
    document = encrypt_document(merged.tree, recipients, source=str(merged.files[-1]))
    return dump(document).encode("utf-8")
