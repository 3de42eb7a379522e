"""What every rotator provides, the error it raises, and the registry of rotators by name.

A rotator applies a new credential on its target system in AWS Secrets Manager's four steps:
**create** the PENDING value, **set** it on the target, **test** that it works, **finish** (any
clean-up on the target). The orchestrator records progress between steps, so each step must
be safe to run again after an interruption.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any, Literal, Protocol

from ...errors import SealerError, UsageError

__all__ = [
    "ROTATORS",
    "STEPS",
    "RotationError",
    "RotationStep",
    "Rotator",
    "check_settings",
    "get_rotator",
    "redact",
    "secret_texts",
]

RotationStep = Literal["create", "set", "test", "finish"]
STEPS: tuple[RotationStep, ...] = ("create", "set", "test", "finish")

# name -> "module:class" under sealer.rotation.rotators, imported only when asked for.
ROTATORS = {
    "command": "command:CommandRotator",
    "mysql": "mysql:MysqlRotator",
    "postgres": "postgres:PostgresRotator",
}


class RotationError(SealerError):
    """A rotation step failed on its target. The message names the step and the target (host,
    database, role, or command) and never holds a secret value."""

    def __init__(self, step: RotationStep, target: str, reason: str, *,
                 hint: str | None = None, file: str | None = None) -> None:
        super().__init__(f"rotation step {step!r} failed for {target}: {reason}",
                         file=file, hint=hint)
        self.step = step
        self.target = target
        self.reason = reason


class Rotator(Protocol):
    """One kind of target. `settings` are the rotator's own settings from the rotation config
    (an unknown setting is a UsageError). Secrets are plain values as stored (the postgres
    rotator needs a mapping; the command rotator takes any JSON value)."""

    name: str

    def create(self, current: Any, settings: Mapping[str, Any]) -> Any:
        """The PENDING value, made from CURRENT; touches nothing outside sealer."""
        ...

    def set_secret(self, current: Any, pending: Any, settings: Mapping[str, Any]) -> None:
        """Apply PENDING on the target; a no-op if it is already applied."""
        ...

    def test_secret(self, pending: Any, settings: Mapping[str, Any]) -> None:
        """Prove that PENDING works on the target; RotationError otherwise."""
        ...

    def finish_secret(self, current: Any, pending: Any, settings: Mapping[str, Any]) -> None:
        """Clean-up on the target once PENDING is about to become CURRENT; may do nothing."""
        ...


def get_rotator(name: str) -> Rotator:
    """The rotator called `name`; UsageError listing the valid names otherwise."""
    if name not in ROTATORS:
        raise UsageError(f"unknown rotator {name!r}", hint=f"use one of: {', '.join(ROTATORS)}")
    module_name, class_name = ROTATORS[name].split(":")
    module = import_module(f"{__package__}.{module_name}")
    rotator: Rotator = getattr(module, class_name)()
    return rotator


def check_settings(rotator: str, settings: Mapping[str, Any], known: tuple[str, ...]) -> None:
    """UsageError for a setting `rotator` does not know (usually a typo)."""
    for name in settings:
        if name not in known:
            raise UsageError(f"rotator {rotator!r} has no setting {name!r}",
                             hint=f"its settings: {', '.join(known)}")


def secret_texts(*values: Any) -> set[str]:
    """Every scalar inside `values` as text (strings, numbers; not booleans), to keep out of
    messages. Texts shorter than 4 characters are left out: they would hide every message and
    protect nothing."""
    return {text for value in values for text in _leaves(value) if len(text) >= 4}


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")


def redact(text: str, secrets: set[str]) -> str | None:
    """`text` if it holds none of `secrets` (compared case-insensitively, also JSON- and
    repr-escaped); None when it might leak one."""
    folded = text.casefold()
    for secret in secrets:
        forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
        if any(form.casefold() in folded for form in forms):
            return None
    return text
