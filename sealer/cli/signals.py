"""SIGINT, SIGTERM and SIGHUP at any moment of a `sealer` process: exit 130, one message, no
traceback, every clean-up run (docs/FAULTS.md).

Three phases, each entered by the entry point:

- `hold`, the first thing `python -m sealer` and `sealer.cli.main` do, before any heavy import:
  a signal is only recorded. An exception raised in the middle of an import would print a
  traceback (pyrage's module set-up even turns one into a Rust panic).
- `arm`, inside the handler's `try`: a recorded signal is raised now, and a new one raises
  `Terminated` (a KeyboardInterrupt) at the next bytecode, so `finally` blocks and context
  managers remove temporary files. Only the first is raised; later ones are recorded, so the
  clean-up is not interrupted in its turn. While a native extension module is being set up
  the raise waits for it (a 10 ms SIGALRM timer looks again).
- `block`, once the outcome is known: the signals are blocked until the process ends, which
  the CLI does with os._exit once the atexit handlers have run and stdout and stderr are
  flushed: Python's own shutdown, which resets the signals to their defaults (a SIGTERM would
  then end the process with 143, a SIGHUP with 129), never runs. A signal that arrived and was
  never raised (`late`) still makes the exit code 130.

A signal that is ignored when sealer starts (`nohup`, a background job) stays ignored.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

__all__ = ["Terminated", "arm", "block", "disarm", "hold", "interrupt_of", "late", "received",
           "remember", "restore"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                 if hasattr(signal, name))
_RETRY_SECONDS = 0.01


class Terminated(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: unwind like Ctrl-C so temporary plaintext is removed."""


class _State:
    armed = False
    raised = False  # the first signal has been raised: later ones are only recorded
    signum: int | None = None  # the first signal that arrived
    interrupt: KeyboardInterrupt | None = None  # what a command raised (see `remember`)
    saved: dict[int, Any] | None = None


_state = _State()


def hold() -> None:
    """Record SIGINT, SIGTERM and SIGHUP from now on (idempotent)."""
    if _state.saved is not None:
        return
    _state.saved = {}
    for signum in _SIGNALS:
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN:
            continue
        _state.saved[signum] = previous
        signal.signal(signum, _on_signal)


def arm() -> None:
    """Raise signals from now on; one that arrived while they were held is raised now."""
    _state.armed = True
    if _state.signum is not None and not _state.raised:
        _state.raised = True
        raise Terminated(_state.signum)


def disarm() -> None:
    """Only record signals again (while an outcome is reported)."""
    _state.armed = False


def received() -> bool:
    """Whether a signal arrived since `hold`."""
    return _state.signum is not None


def remember(exc: KeyboardInterrupt) -> None:
    """Keep what a command raised (click turns it into a bare exit code 130)."""
    _state.interrupt = exc


def interrupt_of(exc: KeyboardInterrupt | None = None) -> KeyboardInterrupt:
    """The interrupt to report: the one a command raised, else `exc`."""
    return _state.interrupt or exc or KeyboardInterrupt()


def block() -> set[int | signal.Signals]:
    """Block the signals (once the outcome is known); returns the mask before."""
    if not _SIGNALS or not hasattr(signal, "pthread_sigmask"):
        return set()
    return signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


def late() -> bool:
    """Whether a signal arrived (now blocked, or recorded, or raised and swallowed)."""
    if _state.signum is not None:
        return True
    return hasattr(signal, "sigpending") and bool(signal.sigpending() & set(_SIGNALS))


def restore(mask: set[int | signal.Signals]) -> None:
    """Put back the dispositions and the mask `hold` and `block` found (in-process callers)."""
    global _state
    signal.setitimer(signal.ITIMER_REAL, 0)
    for signum, handler in (_state.saved or {}).items():
        signal.signal(signum, handler)
    _state = _State()
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _state.signum is None:
        _state.signum = signum
    if _state.armed and not _state.raised:
        _raise_unless_importing(frame)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if _state.armed and not _state.raised and _state.signum is not None:
        _raise_unless_importing(frame)


def _raise_unless_importing(frame: FrameType | None) -> None:
    if _importing(frame):
        saved = _state.saved if _state.saved is not None else {}
        if signal.SIGALRM not in saved:
            saved[signal.SIGALRM] = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, _RETRY_SECONDS)
        return
    _state.raised = True
    raise Terminated(_state.signum)


def _importing(frame: FrameType | None) -> bool:
    """Whether `frame` runs in the import machinery, or inside the set-up of a native
    extension module (the innermost module loader on the stack loads one). Such set-up may
    call back into Python and turns an exception there into a panic (pyrage does); a module of
    Python source is safe to stop."""
    from importlib.machinery import ExtensionFileLoader

    if frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
        return True  # the import machinery itself (its callbacks print and drop exceptions)
    while frame is not None:
        code = frame.f_code
        if code.co_name in ("create_module", "exec_module") and \
                code.co_filename.startswith("<frozen importlib"):
            return isinstance(frame.f_locals.get("self"), ExtensionFileLoader)
        frame = frame.f_back
    return False
