"""A background thread that runs one step when told to (and every ``poll_s``), survives
any error (backing off, then retrying) and says what failed while it lasts: the online
layer's learning, and the replicas' sharing of live state."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["MAX_BACKOFF_S", "Runner"]

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 10.0  # the longest wait between two attempts after failures


class Runner:
    """Runs ``step`` on a thread of its own until :meth:`stop`; after a failure it waits
    ``backoff_s`` (default ``poll_s``), doubling up to :data:`MAX_BACKOFF_S` (so a
    database back after an outage is read again within that time). ``name`` names the thread
    and, in the log, what paused."""

    def __init__(
        self,
        step: Callable[[], None],
        poll_s: float = 0.5,
        name: str = "online learning",
        backoff_s: float | None = None,
    ) -> None:
        self.step = step
        self.poll_s = poll_s
        self.name = name
        self.backoff_s = poll_s if backoff_s is None else backoff_s
        self.failure: str | None = None  # the last step's error, while it lasts
        self.failing_since: float | None = None  # time.monotonic() of the first, meanwhile
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def notify(self) -> None:
        """Run a step soon (cheap; called on the request path)."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=self.name.replace(" ", "-"), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.step()
            except Exception as exc:  # keep serving and retry, backing off
                failures += 1
                self.failure = f"{type(exc).__name__}: {exc}"
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                if failures == 1 or failures % 60 == 0:
                    log.error(
                        "%s paused (attempt %d): %s",
                        self.name,
                        failures,
                        self.failure,
                        exc_info=failures == 1,
                    )
                self._stop.wait(min(MAX_BACKOFF_S, self.backoff_s * 2 ** min(failures, 6)))
            else:
                if failures:
                    log.info("%s resumed after %d failed attempts", self.name, failures)
                failures = 0
                self.failure = self.failing_since = None
