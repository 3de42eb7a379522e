"""`sealer edit`: decrypt to a private temporary file, run the editor, re-seal what changed.

The plaintext lives only in a 0700 directory (in memory under /dev/shm where available) that is
removed when the edit ends, including on Ctrl-C and SIGTERM (the CLI turns those into
exceptions). A SIGKILL cannot be caught: the directory, `sealer-edit-PID-RANDOM`, then stays
until the next `sealer edit` (or any sealer command) starts and removes it, its process being
gone (sealer.fsio.remove_abandoned_tempdirs). Invalid YAML reopens the editor with the error
at the top of the file, a bounded number of times (MAX_ATTEMPTS, MAX_SAME).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import yamlio
from .access import Identities, WriteGate, Written, authorize_write, open_sealed
from .core import Opened, seal
from .document import read_sealed
from .envelope import Seam
from .errors import SealerError, UsageError
from .fsio import StrPath, as_path, locked, private_tempdir, remove_abandoned_tempdirs
from .keys import Recipient
from .plaintext import METADATA_KEY, parse_plaintext
from .rotation.versions import WriteIntent, versioned_write

__all__ = ["edit_file", "editor_command"]

_BANNER = (
    "# sealer edit {name}: change values, save and quit to re-seal.\n"
    "# Values you don't touch keep their ciphertext. The optional `sealer:` block holds\n"
    "# metadata. Quit without saving to leave the file as it was.\n"
)
_ERROR = "# ERROR: {message}\n# Fix it and save, or quit without saving to abandon the edit.\n"

RunEditor = Callable[[Path], None]


def editor_command(env: dict[str, str] | None = None) -> list[str]:
    """$SEALER_EDITOR, $VISUAL, $EDITOR, or vi — split like a shell would."""
    env = dict(os.environ) if env is None else env
    for name in ("SEALER_EDITOR", "VISUAL", "EDITOR"):
        if env.get(name, "").strip():
            return shlex.split(env[name])
    return ["vi"]


def _editor_environment() -> dict[str, str]:
    """The editor has no use for private keys: the key variables are not passed on."""
    from .environ import child_environment

    return child_environment()


def run_editor(command: Sequence[str]) -> RunEditor:
    def run(file: Path) -> None:
        with _terminal_signals_for_the_editor():
            try:
                status = subprocess.call([*command, str(file)], env=_editor_environment())
            except OSError as exc:
                raise UsageError(f"cannot run the editor {command[0]!r}: {exc.strerror}",
                                 hint="set $EDITOR (or $SEALER_EDITOR) to your editor") from None
        if status in (-signal.SIGINT, 128 + signal.SIGINT):  # Ctrl-C ended the editor
            raise KeyboardInterrupt
        if status != 0:
            raise SealerError(f"the editor exited with status {status}; nothing was changed")
    return run


@contextmanager
def _terminal_signals_for_the_editor() -> Iterator[None]:
    """While the editor owns the terminal, Ctrl-C is for it, not for us (like system(3) and
    git): sealer only notes a SIGINT, and acts on it when it ended the editor (`run` then
    raises KeyboardInterrupt: the plaintext copy is removed). A handler, not SIG_IGN, because
    execve resets a handled signal to its default and keeps an ignored one ignored: the editor
    starts with Ctrl-C working. SIGTERM and SIGHUP still stop sealer, and the editor with it."""
    def noted(signum: int, frame: object) -> None:
        pass

    old = signal.getsignal(signal.SIGINT)
    old = signal.SIG_DFL if old is None else old  # None: set outside Python
    if old is signal.SIG_IGN:  # sealer itself runs with Ctrl-C ignored (a background job)
        yield
        return
    signal.signal(signal.SIGINT, noted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _render(name: str, plain: dict[str, Any], metadata: dict[str, Any]) -> str:
    tree = dict(plain)
    if metadata:
        tree[METADATA_KEY] = metadata
    body = yamlio.dump(tree) if tree else "{}\n"
    return _BANNER.format(name=name) + body


# The editor is reopened on invalid YAML until the file parses, but not forever: an editor that
# cannot be used interactively (a script, `code` without --wait, a command that fails to open
# the file) hands back the same broken text at once, again and again.
MAX_ATTEMPTS = 20  # no person fixes one file this many times in a row
MAX_SAME = 3  # the same invalid text handed back this many times: the editor is not editing


Edited = tuple[dict[str, Any], dict[str, Any] | None]


def _edit_loop(file: Path, text: str, run: RunEditor, source: str,
               accept: Callable[[Edited], None] | None = None) -> Edited | None:
    """Run the editor until the file parses (and `accept` does not refuse it: a SealerError
    it raises is shown like a YAML error); None when the user quits without saving.
    SealerError, nothing changed, when the editor keeps handing back invalid YAML."""
    attempts, same, last = 0, 0, ""
    while True:
        _write_private(file, text)
        run(file)
        attempts += 1
        edited = _read_back(file)
        if edited == text.encode("utf-8"):
            return None
        try:
            result = parse_plaintext(edited, source=source)
            if accept is not None:
                accept(result)
            return result
        except SealerError as exc:  # invalid YAML or not UTF-8: show it and edit again
            shown = _strip_error(edited.decode("utf-8", errors="replace"))
            same, last = (same + 1 if shown == last else 1), shown
            if same >= MAX_SAME or attempts >= MAX_ATTEMPTS:
                raise _gave_up(exc, attempts, same if same >= MAX_SAME else 0) from None
            text = _ERROR.format(message=exc.message) + shown


def _gave_up(exc: SealerError, attempts: int, same: int) -> SealerError:
    why = (f"the editor handed back the same invalid text {same} times in a row" if same
           else f"it was still invalid after {attempts} attempts")
    hint = ("set $SEALER_EDITOR (or $VISUAL, $EDITOR) to an editor that waits until you close "
            "the file (e.g. \"code --wait\"), or change single values with `sealer set`" if same
            else "the edited copy was not kept; run `sealer edit` again")
    return SealerError(f"the edited copy is invalid ({exc.message}); {why}, so sealer stopped; "
                       "nothing was changed", hint=hint)


def _read_back(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:  # the editor deleted or replaced it with something unreadable
        raise SealerError(f"cannot read the edited copy: {exc.strerror or exc}; "
                          "nothing was changed") from None


def _write_private(file: Path, text: str) -> None:
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _strip_error(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(("# ERROR:", "# Fix it and save")):
        lines.pop(0)
    return "".join(lines)


def edit_file(path: StrPath, identities: Identities = None, *, run: RunEditor | None = None,
              recipients: Sequence[Recipient] | None = None,
              seam: Seam | None = None, intent: WriteIntent | None = None) -> Written | None:
    """Edit a sealed file (or create it when `recipients` are given); None if nothing changed.
    A change to a rotated key that a write may not make (FORMAT.md §10) is shown in the editor
    like invalid YAML, so the edit is never lost to it."""
    path = as_path(path)
    run = run or run_editor(editor_command())
    remove_abandoned_tempdirs()  # plaintext an edit killed with SIGKILL left behind
    opened = None
    gate = authorize_write(path, [r.text for r in recipients] if recipients else None)
    if path.exists():
        opened = open_sealed(path, identities, action="edit", resign_with=gate)
    if opened is None and not recipients:
        raise UsageError("no such file", file=str(path),
                         hint="to create it, pass the readers' keys: -r age1… or -R FILE")
    plain = opened.plaintext() if opened else {}
    metadata = opened.document.metadata if opened else {}
    with private_tempdir("edit") as tmp:
        try:
            result = _edit_loop(tmp / (path.name.removesuffix(".yaml") + ".plain.yaml"),
                                _render(path.name, plain, metadata), run, str(path),
                                _versions_check(opened, path, intent))
        except SealerError as exc:
            exc.file = exc.file or str(path)
            raise
    if result is None:
        return None
    data, new_metadata = result
    return _save(path, gate, opened, data, new_metadata or {}, recipients, seam, intent)


def _versions_check(opened: Opened | None, path: Path, intent: WriteIntent | None
                    ) -> Callable[[Edited], None]:
    """What the save would refuse, shown in the editor instead of losing the edit: a reader's
    limits (docs/LIMITS.md), and a change of a rotated key a write may not make."""
    from .core import check_limits

    def accept(edited: Edited) -> None:
        check_limits(edited[0], edited[1] or {}, None, None, str(path))
        if opened is not None:
            versioned_write(opened, edited[0], edited[1] or {}, file=path, intent=intent)
    return accept


def _save(path: Path, gate: WriteGate, opened: Opened | None, data: dict[str, Any],
          metadata: dict[str, Any], recipients: Sequence[Recipient] | None,
          seam: Seam | None, intent: WriteIntent | None) -> Written:
    with locked(path):
        if opened is not None and read_sealed(path).header.serial != opened.document.header.serial:
            raise SealerError(
                "changed on disk while you were editing; your edit was not saved",
                file=str(path), hint="run `sealer edit` again to edit the new version")
        if opened is None and path.exists():
            raise SealerError("was created while you were editing; your edit was not saved",
                              file=str(path))
        versioned = versioned_write(opened, data, metadata, file=path, intent=intent) \
            if opened is not None else None
        if versioned is not None:  # a rotated key changed: a new version (FORMAT.md §10)
            metadata = versioned[0]
        new = seal(data, previous=opened, recipients=recipients, metadata=metadata, seam=seam,
                   versions=versioned[1] if versioned else None, source=str(path))
        return gate.commit(opened.document if opened else None, new)
