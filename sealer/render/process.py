"""`sealer exec`: run a command with the secrets in its environment, or in a file.

The command replaces the sealer process (execve), so its exit code, its signals and its
process id are the ones the caller sees, and no sealer process stays behind holding secrets.
Values go into the environment only, never into argv. The variables that hold or name
sealer's own keys are not passed on unless asked for. A secret may not take the name of a
variable that changes how the command runs (`LD_PRELOAD`, `BASH_ENV`, `PATH`, …:
sealer.render.controls) unless the caller allows that name.

With a file (`run_with_file`, `sealer exec --file FORMAT[:NAME]`) the secrets are rendered
into a private 0700 directory (sealer.fsio.private_tempdir) and every `{}` in the command's
arguments becomes the file's path. sealer cannot replace itself then: it starts the command,
forwards the signals sent to it, waits, removes the directory, and exits as the command did
(its exit code, or killed by the same signal). A sealer killed with SIGKILL leaves the
directory to the sweep the next sealer start does (fsio.remove_abandoned_tempdirs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, NoReturn

from ..environ import KEY_VARIABLES, child_environment
from ..errors import SealerError, UsageError
from ..keys import Identity
from .flatten import env_entries
from .merge import open_and_merge
from .spec import FORMATS, NameRule, RenderSpec

__all__ = ["EXIT_CANNOT_RUN", "EXIT_NOT_FOUND", "FILE_FORMATS", "KEY_VARIABLES", "PLACEHOLDER",
           "ExecFile", "check_placeholder", "exec_command", "exit_as", "parse_exec_file",
           "run_with_file", "secret_environment", "spawn_and_wait"]

EXIT_NOT_FOUND = 127  # as env(1) and shells: the command was not found
EXIT_CANNOT_RUN = 126  # found, but could not be run
PLACEHOLDER = "{}"  # in the command's arguments: the rendered file's path
# the formats exec can hand over as a file (every one but template and github), and the
# file's name when none is given: secrets.env for the env formats
_NAMES = {"shell": "secrets.sh", "json": "secrets.json", "yaml": "secrets.yaml",
          "k8s": "secret.yaml", "files": "secrets"}
FILE_FORMATS = {fmt: _NAMES.get(fmt, "secrets.env") for fmt in FORMATS
                if fmt not in ("template", "github", "sops")}
# sent to sealer by another process: passed on to the command (those from the terminal, a
# Ctrl-C, reach the command by themselves: it is in the same process group)
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGWINCH)
_RESET = (signal.SIGPIPE, signal.SIGXFSZ)  # Python ignores these; a command must not


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


# -- exec with a file ------------------------------------------------------------------------


class ExecFile(NamedTuple):
    """`--file FORMAT[:NAME]`: the format to render, and the file's name in its directory."""

    format: str
    name: str


def parse_exec_file(text: str) -> ExecFile:
    """`dotenv`, `json:creds.json`, … -> ExecFile; a UsageError for anything else."""
    fmt, colon, name = text.partition(":")
    if fmt not in FILE_FORMATS:
        raise UsageError(f"--file: unknown format {fmt!r}",
                         hint=f"use one of: {', '.join(FILE_FORMATS)}, optionally :NAME")
    if not colon:
        return ExecFile(fmt, FILE_FORMATS[fmt])
    if not name or name in (".", "..") or "/" in name or "\0" in name or len(name) > 255:
        raise UsageError(f"--file: {name!r} is not a file name",
                         hint="NAME is a plain file name (no /), e.g. --file json:creds.json")
    return ExecFile(fmt, name)


def check_placeholder(argv: Sequence[str]) -> None:
    """The command must say where the file goes: `{}` in one of its arguments."""
    if not any(PLACEHOLDER in arg for arg in argv[1:]):
        raise UsageError("--file: the command does not name the file",
                         hint="put {} where its path goes: sealer exec --file json FILE -- "
                              "CMD --config {}")


def run_with_file(argv: Sequence[str], files: Sequence[Path], spec: RenderSpec, name: str,
                  identities: Sequence[Identity] | None = None, *,
                  env: Mapping[str, str]) -> int:
    """Render `spec` into `name` in a private directory, run `argv` in `env` with every `{}` in
    its arguments replaced by the file's path, and remove the directory when it exits.

    Returns the command's status as os.waitstatus_to_exitcode does (negative: killed by that
    signal; see exit_as). CommandError when it cannot be started.
    """
    from ..fsio import private_tempdir
    from .engine import render_merged
    from .output import write_output

    check_placeholder(argv)
    program = find_command(argv[0])
    merged = open_and_merge(files, identities, allow_override=spec.allow_override,
                            select=spec.select, action="exec")
    with private_tempdir("exec") as directory:
        path = directory / name
        write_output(render_merged(merged, spec._replace(output=path)))
        args = [argv[0], *(arg.replace(PLACEHOLDER, str(path)) for arg in argv[1:])]
        return spawn_and_wait(program, args, env)


def spawn_and_wait(program: str, argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run `program` as a child, pass on the signals other processes send to sealer, and wait
    for it. Returns its status as os.waitstatus_to_exitcode does."""
    sys.stdout.flush()
    sys.stderr.flush()
    if not hasattr(signal, "sigtimedwait"):  # macOS
        return _spawn_and_wait_with_handlers(program, argv, env)
    watched = {*_FORWARDED, signal.SIGCHLD}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)  # no handler runs meanwhile
    try:
        pid = _spawn(program, argv, env, mask=previous)
        while True:
            info = signal.sigtimedwait(watched, 0.5)
            # si_code <= 0: sent by a process (kill, sigqueue); > 0: by the kernel (the
            # terminal's Ctrl-C or hangup, sent to the whole process group, command included)
            if info is not None and info.si_signo != signal.SIGCHLD and info.si_code <= 0:
                _forward(pid, info.si_signo)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _spawn_and_wait_with_handlers(program: str, argv: Sequence[str],
                                  env: Mapping[str, str]) -> int:
    """Where signals cannot be waited for: handlers forward them (Ctrl-C and SIGQUIT are left
    to the terminal, which sends them to the command too)."""
    pid = -1

    def forward(signum: int, frame: object) -> None:
        _forward(pid, signum)

    quiet = (signal.SIGINT, signal.SIGQUIT, signal.SIGWINCH)
    saved = {s: signal.signal(s, signal.SIG_IGN if s in quiet else forward) for s in _FORWARDED}
    try:  # the command gets the dispositions sealer had, not the SIG_IGN set here
        reset = [s for s in quiet if saved[s] is not signal.SIG_IGN]
        pid = _spawn(program, argv, env, mask=set(), reset=reset)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _spawn(program: str, argv: Sequence[str], env: Mapping[str, str], *,
           mask: Collection[int], reset: Sequence[int] = ()) -> int:
    """posix_spawn: the command starts with `mask` and, as after execve, with the signals that
    have handlers here at their defaults and ignored ones still ignored (but for _RESET)."""
    try:
        return os.posix_spawn(program, list(argv), dict(env), setsigmask=mask,
                              setsigdef=(*_RESET, *reset))
    except OSError as exc:
        code = EXIT_NOT_FOUND if isinstance(exc, FileNotFoundError) else EXIT_CANNOT_RUN
        raise CommandError(f"cannot run: {exc.strerror or exc}", code, file=argv[0]) from None


def _forward(pid: int, signum: int) -> None:
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):  # exited: waitpid will tell
            os.kill(pid, signum)


def exit_as(status: int) -> int:
    """Leave as the command did: return its exit code, or die of the signal that killed it
    (after every cleanup is done) so that the caller sees the same. 128 + N if that fails."""
    if status >= 0:
        return status
    signum = -status
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(OSError, ValueError):
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
    return 128 + signum
