"""`sealer exec`: run a command with the secrets in its environment.

The command replaces the sealer process (execve), so its exit code, its signals and its
process id are the ones the caller sees, and no sealer process stays behind holding secrets.
Values go into the environment only, never into argv. The variables that hold or name
sealer's own keys are not passed on unless asked for. A secret may not take the name of a
variable that changes how the command runs (`LD_PRELOAD`, `BASH_ENV`, `PATH`, …:
sealer.render.controls) unless the caller allows that name.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from ..environ import KEY_VARIABLES, child_environment
from ..errors import SealerError, UsageError
from ..keys import Identity
from .flatten import env_entries
from .merge import open_and_merge
from .spec import NameRule

__all__ = ["EXIT_CANNOT_RUN", "EXIT_NOT_FOUND", "KEY_VARIABLES", "exec_command",
           "secret_environment"]

EXIT_NOT_FOUND = 127  # as env(1) and shells: the command was not found
EXIT_CANNOT_RUN = 126  # found, but could not be run


_DEFAULT_NAMES = NameRule()


class CommandError(SealerError):
    """The command could not be started; exit codes as env(1)."""

    def __init__(self, message: str, code: int, *, file: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, file=file, hint=hint)
        self.exit_code = code


def secret_environment(
    files: Sequence[Path],
    identities: Sequence[Identity] | None = None,
    *,
    names: NameRule = _DEFAULT_NAMES,
    allow_override: bool = False,
    select: str | None = None,
    base: Mapping[str, str] | None = None,
    keep_key_variables: bool = False,
    allow_env: Collection[str] = (),
) -> dict[str, str]:
    """The environment for a command: `base` (default: this process's environment; {} for a
    clean one) without sealer's key variables, then the secrets, flattened as for dotenv.

    A secret named like a variable that changes how programs run (sealer.render.controls) is
    a UsageError naming its file and key, unless its name is in `allow_env` — which must come
    from outside the repository (the command line), never from the sealed files or sealer.yaml.
    Returns a new dict; os.environ is never changed.
    """
    from .controls import check_allowed_names

    check_allowed_names(allow_env)
    merged = open_and_merge(files, identities, allow_override=allow_override, select=select,
                            action="exec")
    entries = env_entries(merged, names, allow_env)
    env = child_environment(base, keep_keys=keep_key_variables)
    env.update((e.name, e.value) for e in entries)
    return env


def find_command(name: str) -> str:
    """The program to run: a path as given, else looked up in this process's PATH."""
    import shutil

    if not name:
        raise UsageError("the command is empty", hint="sealer exec FILE... -- CMD [ARGS...]")
    if "/" in name:
        if not os.path.exists(name):
            raise CommandError("no such file", EXIT_NOT_FOUND, file=name)
        return name
    found = shutil.which(name)
    if found is None:
        raise CommandError("command not found", EXIT_NOT_FOUND, file=name,
                           hint="check the name, or give its path")
    return found


def exec_command(argv: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """Replace this process with `argv` in `env`. Returns only by raising CommandError."""
    if not argv:
        raise UsageError("no command given", hint="sealer exec FILE... -- CMD [ARGS...]")
    program = find_command(argv[0])
    sys.stdout.flush()
    sys.stderr.flush()
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; a child must not
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execve(program, list(argv), dict(env))  # noqa: S606 - argv list, no shell
    except OSError as exc:
        raise CommandError(f"cannot run: {exc.strerror or exc}", EXIT_CANNOT_RUN,
                           file=argv[0]) from None
