"""Named render targets from sealer.yaml: `sealer render --env prod` builds every prod target.

Paths in a target (files, output, template) are relative to the sealer.yaml that names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
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
    root = config.root
    kube = raw.get("kubernetes") or {}
    return RenderSpec(
        format=raw["format"],
        output=root / raw["output"] if raw.get("output") else None,
        allow_override=bool(raw.get("allow_override", False)),
        select=raw.get("select"),
        names=NameRule(raw.get("separator", "_"), raw.get("prefix", ""),
                       bool(raw.get("upper", False))),
        kubernetes=KubernetesOptions(kube.get("name"), kube.get("namespace"),
                                     kube.get("type", "Opaque"), kube.get("labels", {}),
                                     kube.get("annotations", {}),
                                     bool(kube.get("string_data", False))),
        template=root / raw["template"] if raw.get("template") else None,
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
        out.append(Target(raw["name"], [config.root / f for f in raw["files"]],
                          _spec(config, index, raw)))
    return out


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
