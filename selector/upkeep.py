"""The service's periodic chores, on one thread: retention runs of the decision log
(``SELECTOR_PRUNE_EVERY_S``), and watching how far the online layer lags behind the
log (logged when it starts and stops lagging beyond ``SELECTOR_LEARNER_MAX_LAG_S``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from selector.health import LearnerStatus, Problem
from selector.retention import PruneResult

__all__ = ["Upkeep"]

log = logging.getLogger(__name__)


class Upkeep:
    """Runs ``prune`` every ``every_s`` (the first time ``first_after_s`` after start) and
    looks at ``lag()`` every ``tick_s``."""

    def __init__(
        self,
        prune: Callable[[], PruneResult | None],
        every_s: float,
        lag: Callable[[], LearnerStatus | None] = lambda: None,
        max_lag_s: float = 60.0,
        first_after_s: float = 30.0,
        tick_s: float = 5.0,
    ) -> None:
        self._prune = prune
        self.every_s = every_s
        self._lag = lag
        self.max_lag_s = max_lag_s
        self.first_after_s = min(first_after_s, every_s)
        self.tick_s = min(tick_s, every_s)
        self.prune_failure: str | None = None
        self._lagging = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="upkeep", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._thread = None

    def problems(self) -> list[Problem]:
        if self.prune_failure is None:
            return []
        return [Problem("retention", f"the last run failed: {self.prune_failure}")]

    def _run(self) -> None:
        next_prune = time.monotonic() + self.first_after_s
        while not self._stop.wait(self.tick_s):
            self.watch_lag()
            if time.monotonic() >= next_prune:
                self.run_prune()
                # a failed run (the database away, say) is tried again within a minute
                again = self.every_s if self.prune_failure is None else min(self.every_s, 60.0)
                next_prune = time.monotonic() + again

    def run_prune(self) -> PruneResult | None:
        try:
            result = self._prune()
        except Exception as exc:  # nothing is deleted before it is archived: retry later
            self.prune_failure = f"{type(exc).__name__}: {exc}"
            again = min(self.every_s, 60.0)
            log.exception("retention run failed; it runs again in %.0f s", again)
            return None
        self.prune_failure = None
        return result

    def watch_lag(self) -> None:
        try:
            st = self._lag()
        except Exception as exc:
            log.error("could not read the online layer's lag: %s", exc)
            return
        if st is None:
            return
        lagging = st.lag_s > self.max_lag_s
        if lagging and not self._lagging:
            log.warning(
                "online layer lagging: %d feedback events not learned yet, the oldest %.0f s old",
                st.lag_rows,
                st.lag_s,
                extra={"lag_rows": st.lag_rows, "lag_s": round(st.lag_s, 1)},
            )
        elif self._lagging and not lagging:
            log.info("online layer caught up with the decision log")
        self._lagging = lagging
