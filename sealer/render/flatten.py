"""Nested keys -> flat names, and values -> text: the rules every flat format shares.

`db.password` becomes `db_password` (`DB_PASSWORD` with upper, `APP_DB_PASSWORD` with the
prefix `APP_`), and `admins[1]` becomes `admins_1`; empty mappings and lists give no name.
Values become text as `sealer get` prints them: strings as they are, `true`/`false`, integers
in decimal, floats in Python's shortest round-trip form (`0.25`, `inf`, `nan`), null as the
empty string, and binary values (`!!binary`) as standard base64.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, NamedTuple

from .. import paths
from ..errors import UsageError
from .controls import refuse_control
from .merge import Merged
from .spec import NameRule

__all__ = [
    "ENV_NAME", "K8S_KEY", "Entry", "banner", "env_entries", "flatten", "name_for", "text_of",
]

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
K8S_KEY = re.compile(r"[-._A-Za-z0-9]{1,253}\Z")
ENV_HINT = ("environment names are letters, digits and _, not starting with a digit; rename "
            "the key, or pass --prefix")
K8S_HINT = "Secret keys are letters, digits, -, _ and ., at most 253 characters; rename the key"


class Entry(NamedTuple):
    """One value with its flat name; `path` is its key path inside `Merged.tree`."""

    path: paths.Path
    name: str
    value: Any  # a scalar: str, int, float, bool, None or bytes


def name_for(path: paths.Path, rule: NameRule) -> str:
    joined = rule.separator.join(str(part) for part in path)
    return rule.prefix + (joined.upper() if rule.upper else joined)


def flatten(merged: Merged, rule: NameRule, *, valid: re.Pattern[str] = ENV_NAME,
            what: str = "environment variable name", hint: str = ENV_HINT) -> list[Entry]:
    """Every value of `merged` with its name, in document order; names are checked to be
    `valid` and distinct."""
    entries: list[Entry] = []
    seen: dict[str, paths.Path] = {}
    for path, value in paths.leaves(merged.tree):
        name = name_for(path, rule)
        if not valid.match(name) or name in (".", ".."):
            raise merged.error(path, f"{name!r} is not a valid {what}", hint=hint)
        if name in seen:
            raise merged.error(path, f"{merged.where(seen[name])} and this key both become "
                                     f"{name}", hint="rename one of them, or choose another "
                                                     "--separator")
        seen[name] = path
        entries.append(Entry(path, name, value))
    return entries


def text_of(value: Any) -> str:
    """A scalar as text (see the module doc)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    return repr(value)  # int: decimal; float: shortest round-trip form


def env_entries(merged: Merged, rule: NameRule,
                allow_env: Collection[str] | None = ()) -> list[Entry]:
    """Every value as text (`Entry.value` is a str), for the formats that become environment
    variables.

    A name that controls how programs run (sealer.render.controls) is refused unless it is in
    `allow_env`; None: the names do not become environment variables (GitHub step outputs).
    A NUL character cannot be in an environment variable, so it is an error, naming the key.
    """
    out: list[Entry] = []
    for entry in flatten(merged, rule):
        if allow_env is not None:
            _refuse_control(merged, entry, allow_env)
        text = text_of(entry.value)
        if "\x00" in text:
            raise merged.error(entry.path, "the value contains a NUL character, which an "
                                           "environment variable cannot hold",
                               hint="store binary data as !!binary: it renders as base64")
        out.append(entry._replace(value=text))
    return out


def _refuse_control(merged: Merged, entry: Entry, allow_env: Collection[str]) -> None:
    group = refuse_control(entry.name, allow_env)
    if group is not None:
        raise UsageError(f"{merged.where(entry.path)}: becomes {entry.name}, which changes how "
                         f"programs run ({group}); refused from a sealed file",
                         file=merged.origin(entry.path),
                         hint=f"if this file may set it, pass --allow-env {entry.name} (the "
                              "command line only: sealer.yaml cannot allow it)")


def banner(merged: Merged) -> str:
    """The comment line that opens the env-style files: where they came from, and a warning."""
    names = "".join(c if c.isprintable() and c != "\\" else "?"
                    for c in ", ".join(f.name for f in merged.files))  # never ends the comment
    from .banner import banner_line

    return banner_line(names)
