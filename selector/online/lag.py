"""How far the online layer is behind the log, read on a connection of its own (it never
waits for the fold), kept open between reads and opened again after a failure."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from selector.store import READ_ERRORS, LogReader
from selector.store.base import DecisionLog

__all__ = ["LagReader"]


class LagReader:
    """Reads the lag behind a cursor in the log ``source``."""

    def __init__(self, source: DecisionLog) -> None:
        self.source = source
        self._reader: LogReader | None = None
        self._lock = threading.Lock()

    def lag(self, cursor: Any, keep: bool = True) -> tuple[int, float]:
        """Feedback rows after ``cursor`` and the age in seconds of the oldest of them;
        (0, 0.0) when the log cannot be read. ``keep``: keep the connection for the next
        read (until :meth:`close`)."""
        with self._lock:
            try:
                if self._reader is None:
                    self._reader = self.source.reader()
                rows = self._reader.rows_after(cursor)
                oldest = self._reader.oldest_after(cursor) if rows else None
            except READ_ERRORS:
                self._close()
                return 0, 0.0
            finally:
                if not keep:
                    self._close()
        return rows, 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(*READ_ERRORS):
                self._reader.close()
            self._reader = None
