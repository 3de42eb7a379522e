"""The `command` rotator: a user's executable does each step, for any system sealer does not know.

The contract mirrors AWS's rotation Lambda (createSecret, setSecret, testSecret, finishSecret).
For each step sealer runs `settings["command"]` (an argv list, no shell) with the step name
(`create`, `set`, `test` or `finish`) appended, and writes one JSON object to its stdin::

    {"step": "set", "current": {...}, "pending": {...}, "settings": {...}}

(`pending` is null at create, `current` is null at test). Secrets travel only on stdin, never in
argv or the environment; sealer's own key variables (SEALER_*, SOPS_*) are removed from the
command's environment. At create, the command prints the PENDING value as JSON on stdout. Exit
status 0 means the step succeeded.

A failure is reported by its exit status or signal and a fixed description only. The
command's stderr goes to /dev/null: it is never shown, and never reaches the reason that the
rotation records in the sealed file's metadata (`rotation.pending.error`, authenticated but
not encrypted), because a command may echo the value it was given, in any encoding, where no
scrubbing can be sure to find it. To see why a command fails, run it by hand.

Settings: `command` (required; argv list, or one program path), `timeout` (seconds, default
300), `cwd` (working directory, default the current one). Any other settings are the command's
own: they reach it in the JSON's `settings`, and are kept out of messages like the secret.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import UsageError
from .base import RotationError, RotationStep, Rotator

__all__ = ["CommandRotator"]

SETTINGS = ("command", "timeout", "cwd")
DEFAULT_TIMEOUT = 300.0
FAILURE_HINT = ("the command's stderr is not shown (it could hold a secret): run the command "
                "by hand, with the JSON on its stdin, to see why")


class CommandRotator:
    """Runs the user's rotation command once per step."""

    name = "command"

    def create(self, current: Any, settings: Mapping[str, Any]) -> Any:
        output = _run("create", current, None, settings)
        try:
            pending = json.loads(output)
        except ValueError:
            pending = None
        if pending is None:
            raise RotationError("create", _target(settings),
                                "the command printed no JSON value on stdout",
                                hint="at create, print the new (PENDING) secret as JSON")
        return pending

    def set_secret(self, current: Any, pending: Any, settings: Mapping[str, Any]) -> None:
        _run("set", current, pending, settings)

    def test_secret(self, pending: Any, settings: Mapping[str, Any]) -> None:
        _run("test", None, pending, settings)

    def finish_secret(self, current: Any, pending: Any, settings: Mapping[str, Any]) -> None:
        _run("finish", current, pending, settings)


def _run(step: RotationStep, current: Any, pending: Any, settings: Mapping[str, Any]) -> bytes:
    """Run the command for `step`; its stdout on success, RotationError otherwise."""
    argv, timeout, cwd = _parse_settings(settings)
    message = {"step": step, "current": current, "pending": pending, "settings": dict(settings)}
    target = _target(settings)
    try:
        result = subprocess.run([*argv, step], input=_encode(message), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, timeout=timeout, cwd=cwd,
                                env=_child_env(), check=False)
    except subprocess.TimeoutExpired:
        raise RotationError(step, target, f"the command did not finish within {timeout:g}s; "
                                          "it was stopped") from None
    except OSError as exc:
        raise RotationError(step, target, f"cannot run the command: {exc.strerror or exc}",
                            hint="check settings.command: an executable path and its "
                                 "arguments") from None
    if result.returncode != 0:
        raise RotationError(step, target, _failure(result.returncode), hint=FAILURE_HINT)
    return result.stdout


def _parse_settings(settings: Mapping[str, Any]) -> tuple[list[str], float, str | None]:
    command = settings.get("command")
    argv = [command] if isinstance(command, str) else command
    if not argv or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise UsageError("rotator 'command' needs settings.command: the program to run, as a "
                         "list of arguments", hint='e.g. command: ["./rotate-api-key", "--prod"]')
    timeout = settings.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise UsageError("rotator 'command': settings.timeout must be a positive number of "
                         "seconds")
    cwd = settings.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise UsageError("rotator 'command': settings.cwd must be a directory path")
    return argv, float(timeout), cwd


def _target(settings: Mapping[str, Any]) -> str:
    command = settings.get("command")
    program = command if isinstance(command, str) else (command or ["?"])[0]
    return f"command {program}"


def _encode(message: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n"
    except (TypeError, ValueError):
        raise UsageError("rotator 'command' passes the secret as JSON, and this one holds a "
                         "value JSON cannot carry (binary data?)",
                         hint="store binary values base64-encoded as strings") from None


def _child_env() -> dict[str, str]:
    """This process's environment without the key variables (sealer.environ)."""
    from ...environ import child_environment

    return child_environment()


def _failure(returncode: int) -> str:
    """The reason for a failed step: the status or signal only, never the command's output."""
    if returncode < 0:
        return f"the command was killed by {_signal_name(-returncode)}"
    return f"the command exited with status {returncode}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


if TYPE_CHECKING:
    _conforms: Rotator = CommandRotator()  # mypy checks that the class provides the protocol
