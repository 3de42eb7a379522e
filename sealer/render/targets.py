"""Named render targets from sealer.yaml: `sealer render --env prod` builds every prod target.

Paths in a target (files, output, template) are relative to the sealer.yaml that names them,
and must stay inside its directory: sealer.yaml comes from the repository, and a target must
not read a template or sealed file of the host, or write over one of its files (the
`~/.ssh/authorized_keys` of whoever deploys). So a path that is absolute, has a `..` or `.git`
component, or leads out through a symbolic link is a configuration error naming its line.
What the command line names (-o, --template) may point anywhere: the user chose it.
A target cannot allow the variables of sealer.render.controls either: `allow_env` comes only
from the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from ..config import Config
from ..errors import UsageError
from .spec import KubernetesOptions, NameRule, RenderSpec

__all__ = ["Target", "select_targets"]


class Target(NamedTuple):
    name: str
    files: list[Path]
    spec: RenderSpec


def _spec(config: Config, index: int, raw: dict[str, Any]) -> RenderSpec:
    kube = raw.get("kubernetes") or {}
    output, template = raw.get("output"), raw.get("template")
    return RenderSpec(  # never allow_env: sealer.yaml cannot widen what secrets may be named
        format=raw["format"],
        output=_inside(config, ("targets", index, "output"), output) if output else None,
        allow_override=bool(raw.get("allow_override", False)),
        select=raw.get("select"),
        names=NameRule(raw.get("separator", "_"), raw.get("prefix", ""),
                       bool(raw.get("upper", False))),
        kubernetes=KubernetesOptions(kube.get("name"), kube.get("namespace"),
                                     kube.get("type", "Opaque"), kube.get("labels", {}),
                                     kube.get("annotations", {}),
                                     bool(kube.get("string_data", False))),
        template=_inside(config, ("targets", index, "template"), template) if template else None,
        github=raw.get("github", "env"),
        origin=f"{config.path}: targets.{raw['name']}",
    )


def _targets(config: Config) -> list[Target]:
    out = []
    for index, raw in enumerate(config.raw.get("targets", [])):
        env = raw.get("environment")
        if env is not None and env not in config.environments:
            raise config.error(("targets", index, "environment"),
                               f"unknown environment {env!r}", hint="define it under "
                                                                    "environments:")
        files = [_inside(config, ("targets", index, "files", n), f)
                 for n, f in enumerate(raw["files"])]
        out.append(Target(raw["name"], files, _spec(config, index, raw)))
    return out


def _inside(config: Config, where: tuple[Any, ...], text: str) -> Path:
    """`text`, a path relative to sealer.yaml's directory, as a path that stays inside it."""
    relative = PurePath(text)
    parts = relative.parts
    if relative.is_absolute() or ".." in parts or any(p.casefold() == ".git" for p in parts):
        raise config.error(where, f"{text!r} is not inside the directory of sealer.yaml",
                           hint="a target's paths are relative to sealer.yaml, without .. or "
                                ".git; pass -o FILE or --template FILE on the command line "
                                "for other places")
    path = config.root / relative
    root = config.root.resolve()
    if not path.resolve().is_relative_to(root):  # a symbolic link on the way leads out
        raise config.error(where, f"{text!r} leads out of the directory of sealer.yaml "
                                  "through a symbolic link",
                           hint="targets read and write only inside the repository")
    return path


def select_targets(config: Config, *, environment: str | None,
                   names: Sequence[str] = ()) -> list[Target]:
    """The targets of `environment` and/or with the given names, in file order."""
    raws = {t["name"]: t for t in config.raw.get("targets", [])}
    unknown = [n for n in names if n not in raws]
    if unknown:
        raise UsageError(f"no target named {unknown[0]!r} in {config.path}",
                         hint=f"targets: {', '.join(raws) or '(none)'}")
    chosen = [t for t in _targets(config)
              if (not names or t.name in names)
              and (environment is None or raws[t.name].get("environment") == environment)]
    if not chosen:
        raise UsageError(f"no targets for environment {environment!r} in {config.path}",
                         hint="add them under targets: (docs/RENDER.md)")
    return chosen
