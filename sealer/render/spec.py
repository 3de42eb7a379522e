"""What to render: the typed specification that the CLI flags (and `targets:` in sealer.yaml)
build, and its validation, done before any file is opened.

A spec says nothing about which sealed files go in: `render(files, spec, identities)` takes
those separately, so one spec can be applied to a base file plus an environment overlay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from ..errors import UsageError

__all__ = [
    "ENV_FORMATS",
    "FORMATS",
    "SECRET_TYPES",
    "KubernetesOptions",
    "NameRule",
    "RenderSpec",
    "check_spec",
]

FORMATS = ("dotenv", "dotenv-literal", "shell", "systemd", "json", "yaml", "k8s", "template",
           "github", "files", "sops")
ENV_FORMATS = ("dotenv", "dotenv-literal", "shell", "systemd", "github")  # a variable per key
NAMED_FORMATS = (*ENV_FORMATS, "k8s", "files")  # the formats that flatten keys into names
GITHUB_FILES = ("env", "output")

# type -> keys it must hold (all of them; basic-auth: at least one, as Kubernetes checks)
SECRET_TYPES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "Opaque": (),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/basic-auth": ("username", "password"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
})

_EMPTY: Mapping[str, str] = MappingProxyType({})
# Kubernetes' name rules (patterns, compiled on first use by `re`'s cache)
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*"
_NAME_PART = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_VALUE = rf"(?:{_NAME_PART})?"
_TYPE = r"[\x21-\x7e]+"


class NameRule(NamedTuple):
    """How a nested key path becomes one flat name (env formats, and k8s data keys).

    `db.password` with the defaults is `db_password`; `admins[0]` is `admins_0`. `upper`
    uppercases the part that comes from the keys; `prefix` is put in front as given.
    """

    separator: str = "_"
    prefix: str = ""
    upper: bool = False


class KubernetesOptions(NamedTuple):
    """The Secret manifest's metadata and shape (format `k8s`)."""

    name: str | None = None  # default: the first file's name without .sealed.yaml
    namespace: str | None = None
    type: str = "Opaque"
    labels: Mapping[str, str] = _EMPTY
    annotations: Mapping[str, str] = _EMPTY
    string_data: bool = False  # `stringData` (plain text) instead of `data` (base64)


class RenderSpec(NamedTuple):
    """One output: its format, where it goes, and the options of that format.

    `output` None means "the caller prints it" (`--stdout`), except for `github`, whose output
    defaults to $GITHUB_ENV or $GITHUB_OUTPUT. `select` renders only the mapping at that key
    path. `allow_override` lets a later file redefine a key of an earlier one (an overlay);
    without it that is an error. `origin` names where the spec came from ("sealer.yaml:
    targets.prod-env", say) in its error messages; None for command-line flags.
    `allow_env` names the variables that change how programs run (sealer.render.controls)
    which the env formats may write all the same: only from outside the repository (the
    command line), never from sealer.yaml.
    """

    format: str
    output: Path | None = None
    allow_override: bool = False
    select: str | None = None
    names: NameRule = NameRule()
    kubernetes: KubernetesOptions = KubernetesOptions()
    template: Path | None = None
    github: str = "env"  # "env": $GITHUB_ENV (variables), "output": $GITHUB_OUTPUT (step outputs)
    origin: str | None = None
    allow_env: tuple[str, ...] = ()


def check_spec(spec: RenderSpec) -> None:
    """Refuse a spec that cannot work, before anything is decrypted."""
    if spec.format not in FORMATS:
        raise _bad(spec, f"unknown format {spec.format!r}",
                   hint=f"use one of: {', '.join(FORMATS)}")
    _check_applies(spec)
    if spec.allow_env:
        from .controls import check_allowed_names

        check_allowed_names(spec.allow_env, origin=spec.origin)
    if spec.select is not None:
        from ..paths import parse_path

        parse_path(spec.select)
    if spec.format in NAMED_FORMATS:
        _check_names(spec)
    if spec.format == "k8s":
        _check_kubernetes(spec, spec.kubernetes)
    if spec.format == "github" and spec.github not in GITHUB_FILES:
        raise _bad(spec, f"unknown github file {spec.github!r}", hint="use env or output")


def _bad(spec: RenderSpec, message: str, hint: str | None = None) -> UsageError:
    return UsageError(message, file=spec.origin, hint=hint)


def _check_applies(spec: RenderSpec) -> None:
    """Options of one format given with another are mistakes, not something to ignore."""
    fmt = spec.format
    if fmt == "template" and spec.template is None:
        raise _bad(spec, "the template format needs a template file", hint="pass --template FILE")
    wrong = [
        ("a template file (--template)", spec.template is not None and fmt != "template",
         "template"),
        ("Secret options (--name, --namespace, --type, --label, --annotation, --string-data)",
         spec.kubernetes != KubernetesOptions() and fmt != "k8s", "k8s"),
        ("--github-output", spec.github != "env" and fmt != "github", "github"),
        ("key naming options (--prefix, --separator, --upper)",
         spec.names != NameRule() and fmt not in NAMED_FORMATS, ", ".join(NAMED_FORMATS)),
    ]
    for what, misplaced, formats in wrong:
        if misplaced:
            raise _bad(spec, f"{what}: not used by the {fmt} format",
                       hint=f"it applies to: {formats}")


def _check_names(spec: RenderSpec) -> None:
    rule = spec.names
    if not rule.separator:
        raise _bad(spec, "the key separator must not be empty", hint="the default is _")
    allowed = r"[-._A-Za-z0-9]*" if spec.format in ("k8s", "files") else r"[A-Za-z0-9_]*"
    for what, text in (("key separator", rule.separator), ("prefix", rule.prefix)):
        if not re.fullmatch(allowed, text):
            raise _bad(spec, f"the {what} {text!r} would make invalid names for {spec.format}",
                       hint="environment names use letters, digits and _; Kubernetes keys "
                            "also - and .")


def _check_kubernetes(spec: RenderSpec, k8s: KubernetesOptions) -> None:
    if k8s.name is not None:
        _check_dns(spec, "name", k8s.name, subdomain=True)
    if k8s.namespace is not None:
        _check_dns(spec, "namespace", k8s.namespace, subdomain=False)
    if not re.fullmatch(_TYPE, k8s.type):
        raise _bad(spec, f"invalid Secret type {k8s.type!r}",
                   hint=f"known types: {', '.join(SECRET_TYPES)}")
    for key, value in k8s.labels.items():
        _check_qualified(spec, "label", key)
        if len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value):
            raise _bad(spec, f"invalid value for label {key}: at most 63 letters, digits, "
                             "-, _ and ., starting and ending with a letter or digit")
    for key in k8s.annotations:
        _check_qualified(spec, "annotation", key)


def check_dns_name(name: str, *, origin: str | None = None) -> None:
    """A Secret name: a DNS subdomain (lowercase letters, digits, - and ., at most 253)."""
    _check_dns(RenderSpec("k8s", origin=origin), "name", name, subdomain=True)


def _check_dns(spec: RenderSpec, what: str, value: str, *, subdomain: bool) -> None:
    limit = 253 if subdomain else 63
    ok = re.fullmatch(_DNS_SUBDOMAIN if subdomain else _DNS_LABEL, value)
    if not ok or len(value) > limit:
        dots = " and ." if subdomain else ""
        raise _bad(spec, f"invalid Kubernetes {what} {value!r}",
                   hint=f"use lowercase letters, digits, -{dots}, at most {limit} characters, "
                        "starting and ending with a letter or digit"
                        + ("; or pass --name" if what == "name" else ""))


def _check_qualified(spec: RenderSpec, what: str, key: str) -> None:
    """Kubernetes' qualified names: an optional DNS-subdomain prefix and '/', then a name."""
    prefix, _, name = key.rpartition("/")
    ok = len(name) <= 63 and re.fullmatch(_NAME_PART, name) is not None
    if prefix:
        ok = ok and len(prefix) <= 253 and re.fullmatch(_DNS_SUBDOMAIN, prefix) is not None
    if not ok:
        raise _bad(spec, f"invalid {what} key {key!r}",
                   hint="use [prefix/]name: a DNS prefix, then up to 63 letters, digits, "
                        "-, _ and .")
