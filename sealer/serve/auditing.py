"""The audit trail of `sealer serve`: one entry per secret value handed out, written in
batches so that the log's fsync does not cap the request rate.

A request thread hands its entry to one writer thread and, where the file's audit is required
(`audit.required`, SEALER_AUDIT_REQUIRED=1), waits until the batch holding it is on disk
(written and fsynced) before the value is sent: a value is never released unaudited. Where
audit is not required the request does not wait, and an entry that cannot be written is
reported on stderr. Entries queued when the server stops are written before it exits.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from pathlib import Path

from ..audit import AuditError, Entry, Settings, record_many, settings_for
from ..errors import SealerError
from ..printable import printable

__all__ = ["AuditBatcher"]

MAX_BATCH = 512  # entries per write: bounded, so one write stays far below the entry limit


class _Pending:
    __slots__ = ("done", "entry", "error", "settings")

    def __init__(self, entry: Entry, settings: Settings) -> None:
        self.entry, self.settings = entry, settings
        self.done = threading.Event()
        self.error: SealerError | None = None


class AuditBatcher:
    def __init__(self) -> None:
        self._queue: deque[_Pending] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._settings: dict[Path, Settings] = {}
        self._thread = threading.Thread(target=self._run, name="sealer-audit", daemon=True)
        self._thread.start()

    def settings(self, file: Path) -> Settings:
        found = self._settings.get(file)
        if found is None:
            found = self._settings[file] = settings_for(file)
        return found

    def forget(self) -> None:
        """sealer.yaml may have changed (a reload): look the settings up again."""
        self._settings = {}

    def record(self, entry: Entry) -> None:
        """Queue `entry`; where audit is required, return only once it is durable (else
        raise AuditError: the caller must not release the value)."""
        settings = self.settings(entry.file)
        item = _Pending(entry, settings)
        with self._wake:
            if self._stopping:
                raise AuditError("the server is stopping", file=str(settings.path))
            self._queue.append(item)
            self._wake.notify()
        if settings.required:
            item.done.wait()
            if item.error is not None:
                raise item.error

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if not self._queue and self._stopping:
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue),
                                                                  MAX_BATCH))]
            by_log: dict[Path, list[_Pending]] = {}
            for item in batch:
                by_log.setdefault(item.settings.path, []).append(item)
            for items in by_log.values():
                self._write(items)

    def _write(self, items: list[_Pending]) -> None:
        # one log: required if any entry's file requires it (keeping why, for the message)
        settings = next((i.settings for i in items if i.settings.required), items[0].settings)
        try:
            record_many([i.entry for i in items], settings)
        except SealerError as exc:
            for item in items:
                item.error = exc
            if not settings.required:
                print(f"sealer serve: warning: {printable(str(exc))}", file=sys.stderr,
                      flush=True)
        finally:
            for item in items:
                item.done.set()
