"""The service's background parts, started and stopped as one: the decision log's
writer, the latency tracker's warm-up from the log, the online layer (its learner, where
it saves its state, its catch-up and thread), the live state shared with the other
replicas, and the upkeep thread (retention, the learner's lag).

Nothing the log holds can stop a start: unusable rows are skipped and counted, and a
database error is logged and retried by the parts that read."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from selector.health import LearnerStatus, Problem, learner_problems, learner_unready
from selector.latency import LatencyTracker
from selector.online import OnlineLearner, StateStore
from selector.retention import PruneResult, prune
from selector.store import READ_ERRORS
from selector.store.base import DecisionLog
from selector.upkeep import Upkeep

if TYPE_CHECKING:
    from pathlib import Path

    from selector.replicas import Replicas

__all__ = ["Background", "BackgroundConfig"]

log = logging.getLogger(__name__)
_SAVE_ERRORS: tuple[type[Exception], ...] = (OSError, *READ_ERRORS)  # a file, or the log's table


@dataclass(frozen=True)
class BackgroundConfig:
    """What the background parts are told by the settings."""

    latency_window_s: float  # how far back the tracker is warmed from the log
    learn_in_background: bool  # the learner's own thread (else inline, per feedback)
    save_every_s: float  # how often the learner saves its state
    prune_every_s: float
    retention_days: float  # 0: no retention
    archive: Path | None  # the folder retention archives into, if it does
    max_lag_s: float  # the learner is reported lagging beyond this
    max_failing_s: float  # the service stops being ready past this


class Background:
    """The decision log, the latency tracker, the online layer and the replicas' sharing,
    with one :meth:`start` and :meth:`stop` (built by :func:`selector.wiring.build_service`)."""

    def __init__(
        self,
        config: BackgroundConfig,
        decision_log: DecisionLog,
        tracker: LatencyTracker,
        learner: OnlineLearner | None = None,
        state_file: StateStore | None = None,
        replicas: Replicas | None = None,
    ) -> None:
        self.config = config
        self.log = decision_log
        self.tracker = tracker
        self.learner = learner
        self.state_file = state_file
        self.replicas = replicas
        self.upkeep = Upkeep(
            self.prune, config.prune_every_s, lag=self.learner_status, max_lag_s=config.max_lag_s
        )

    # -- start and stop ---------------------------------------------------------------
    def start(self) -> None:
        """Start the log writer, warm the latency tracker from the log's recent results,
        let the online layer read what it had not (and start its thread in background
        mode), start sharing live state with the other replicas, and start the upkeep."""
        self.log.start()
        self._warm()
        if self.learner is not None:
            self._catch_up(self.learner)
            if self.config.learn_in_background:
                self.learner.start(self.state_file, self.config.save_every_s)
        if self.replicas is not None:
            self.replicas.start()  # its thread reaches the database when it can; health says so
        self.upkeep.start()

    def stop(self) -> None:
        """Stop the upkeep and the sharing, then the learner (saving its state), then the
        log."""
        self.upkeep.stop()
        if self.replicas is not None:
            self.replicas.stop()
        # the learner first: its read-only connection must be closed before the log's last
        # one, which then checkpoints and removes the WAL file (what the log still commits
        # after this is read at the next start)
        if self.learner is not None:
            try:
                self.learner.stop(self.state_file)
            except _SAVE_ERRORS as exc:  # the log keeps everything: it is read again at start
                log.error("online layer state not saved: %s", exc)
        self.log.close()

    def _warm(self) -> None:
        since = time.time() - self.config.latency_window_s
        try:
            with self.log.reader() as reader:
                n, bad = self.tracker.warm(list(reader.recent_call_results(since)))
        except READ_ERRORS as exc:
            log.error("latency tracker not warmed from the decision log: %s", exc)
            return
        if n or bad:
            log.info(
                "latency tracker warmed with %d recent call results (%d unusable, skipped)",
                n,
                bad,
                extra={"results": n, "unusable": bad},
            )

    @staticmethod
    def _catch_up(learner: OnlineLearner) -> None:
        try:
            n = learner.catch_up()
            log.info(
                "online layer read %d feedback rows it had not learned from",
                n,
                extra={"rows": n, "skipped": learner.counts["skipped"]},
            )
        except Exception as exc:  # a database error: the thread retries
            log.error("online layer could not read the decision log at start: %s", exc)

    # -- while running -------------------------------------------------------------
    def learn_now(self, about: str) -> None:
        """New feedback is in the log: learn it now (inline) or tell the learner's
        thread."""
        if self.learner is None:
            return
        if self.config.learn_in_background:
            self.learner.notify()
            return
        try:
            self.learner.catch_up()
            self.learner.maybe_save(self.state_file, self.config.save_every_s)
        except Exception as exc:  # stored: learned with the next feedback
            log.error("online layer did not learn from feedback on %s yet: %s", about, exc)

    def learner_status(self) -> LearnerStatus | None:
        if self.learner is None:
            return None
        return self.learner.status(background=self.config.learn_in_background)

    def prune(self) -> PruneResult | None:
        """One retention run (``SELECTOR_RETENTION_DAYS``); None when retention is off."""
        c = self.config
        if not c.retention_days:
            return None
        return prune(
            self.log,
            c.retention_days * 86_400,
            c.archive,
            learned_through=self.learner.cursor if self.learner is not None else None,
        )

    def problems(self) -> tuple[list[Problem], str | None]:
        """What runs in a reduced form (the learner, retention, the sharing), and why the
        service is not ready because of the learner, if it is not."""
        learner = self.learner_status()
        problems = learner_problems(learner, self.config.max_lag_s)
        problems.extend(self.upkeep.problems())
        if self.replicas is not None and self.replicas.failure:
            problems.append(Problem("replicas", f"live state not shared: {self.replicas.failure}"))
        return problems, learner_unready(learner, self.config.max_failing_s)
