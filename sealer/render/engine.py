"""render(): sealed files and a RenderSpec in, the output's bytes out (in memory)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

from ..errors import UsageError
from ..keys import Identity
from .merge import Merged, open_and_merge
from .output import Rendered, refuse_sealed_output
from .spec import RenderSpec, check_spec

__all__ = ["render", "render_merged"]

_MODULES = {"dotenv": "dotenv", "dotenv-literal": "dotenv", "shell": "shell",
            "systemd": "systemd", "json": "jsonfile", "yaml": "yamlfile", "k8s": "kubernetes",
            "template": "template", "github": "github", "files": "files", "sops": "sops"}
_FUNCTIONS = {"dotenv-literal": "render_literal"}  # the module's `render` for the others


def render(files: Sequence[Path], spec: RenderSpec,
           identities: Sequence[Identity] | None = None) -> Rendered:
    """Render `files` (merged in order) as `spec` says, entirely in memory.

    Checks the spec and the output path first, then reads, verifies and decrypts every file;
    nothing is written (see `write_output`). `identities` None: found as the CLI finds them.
    """
    check_spec(spec)
    if not files:
        raise UsageError("no sealed files to render", file=spec.origin)
    output = _output(spec)
    if output is not None:
        refuse_sealed_output(output, files)
    merged = open_and_merge(files, identities, allow_override=spec.allow_override,
                            select=spec.select)
    return render_merged(merged, spec._replace(output=output))


def render_merged(merged: Merged, spec: RenderSpec) -> Rendered:
    """Render an already merged document (several targets from one decryption)."""
    module = import_module(f".{_MODULES[spec.format]}", __package__)
    if spec.format == "files":  # a directory: one file per secret
        rendered: Rendered = module.rendered(merged, spec)
        return rendered
    target: Callable[[Merged, RenderSpec], bytes] = getattr(
        module, _FUNCTIONS.get(spec.format, "render"))
    content = target(merged, spec)
    if spec.format != "github":
        return Rendered(content, spec.output, spec.format)
    return Rendered(content, spec.output, spec.format, append=True,
                    commands=module.mask_commands(merged, spec))


def _output(spec: RenderSpec) -> Path | None:
    if spec.format == "github":
        from .github import output_path

        return output_path(spec)
    return spec.output
