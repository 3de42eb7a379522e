"""Deploy time: sealed files rendered into env files, manifests and templates, passed to a
process's environment, or loaded by an application.

    from sealer.render import RenderSpec, render, write_output
    out = render([Path("base.sealed.yaml"), Path("prod.sealed.yaml")],
                 RenderSpec("dotenv", output=Path("deploy/prod.env")))
    write_output(out)                      # atomic, mode 0600

One module per concern: `spec` (what to render), `merge` (files -> one tree), `flatten` (names
and text), `controls` (the names a secret may not take: PATH, LD_PRELOAD, BASH_ENV, …), one
module per format, `output` (writing and --check), `process` (exec), `targets` (sealer.yaml's
named targets, kept inside the repository) and `loading` (`load`, the read-only Python API).
Formats are imported only when used. See docs/RENDER.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported on first use below, so each command loads only what it needs
    from .engine import render, render_merged
    from .loading import Secrets, load
    from .merge import Merged, open_and_merge
    from .output import Rendered, is_current, write_output, write_outputs
    from .process import exec_command, secret_environment
    from .spec import FORMATS, SECRET_TYPES, KubernetesOptions, NameRule, RenderSpec, check_spec

_EXPORTS = {
    "render": "engine", "render_merged": "engine",
    "Secrets": "loading", "load": "loading",
    "Merged": "merge", "open_and_merge": "merge",
    "Rendered": "output", "is_current": "output", "write_output": "output",
    "write_outputs": "output",
    "exec_command": "process", "secret_environment": "process",
    "FORMATS": "spec", "SECRET_TYPES": "spec", "KubernetesOptions": "spec", "NameRule": "spec",
    "RenderSpec": "spec", "check_spec": "spec",
}

__all__ = [
    "FORMATS",
    "SECRET_TYPES",
    "KubernetesOptions",
    "Merged",
    "NameRule",
    "RenderSpec",
    "Rendered",
    "Secrets",
    "check_spec",
    "exec_command",
    "is_current",
    "load",
    "open_and_merge",
    "render",
    "render_merged",
    "secret_environment",
    "write_output",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sealer.render' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
