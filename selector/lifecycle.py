"""Starting and stopping the service's background parts, in order: the log writer, the
latency tracker's warm-up from the log, the online layer's catch-up and thread, the
upkeep thread. Nothing the log holds can stop a start: unusable rows are skipped and
counted, and a database error is logged and retried by the parts that read."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from selector.config import Settings
from selector.latency import LatencyTracker
from selector.online import OnlineLearner, StateStore
from selector.store import READ_ERRORS
from selector.store.base import DecisionLog
from selector.upkeep import Upkeep

if TYPE_CHECKING:
    from selector.replicas import Replicas

__all__ = ["start", "stop"]

log = logging.getLogger(__name__)
_SAVE_ERRORS: tuple[type[Exception], ...] = (OSError, *READ_ERRORS)  # a file, or the log's table


def _warm(decision_log: DecisionLog, tracker: LatencyTracker, window_s: float) -> None:
    since = time.time() - window_s
    try:
        with decision_log.reader() as reader:
            n, bad = tracker.warm(list(reader.recent_call_results(since)))
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


def start(
    settings: Settings,
    decision_log: DecisionLog,
    tracker: LatencyTracker,
    learner: OnlineLearner | None,
    upkeep: Upkeep,
    state_file: StateStore | None,
    replicas: Replicas | None = None,
) -> None:
    """Start the log writer, warm the latency tracker from the log's recent results,
    let the online layer read what it had not (and start its thread in background mode),
    start sharing live state with the other replicas, and start the upkeep thread."""
    decision_log.start()
    _warm(decision_log, tracker, settings.latency_window_s)
    if learner is not None:
        _catch_up(learner)
        if settings.bandit_updates == "background":
            learner.start(state_file, settings.bandit_save_every_s)
    if replicas is not None:
        replicas.start()  # its thread reaches the database when it can; health says so
    upkeep.start()


def stop(
    decision_log: DecisionLog,
    learner: OnlineLearner | None,
    upkeep: Upkeep,
    state_file: StateStore | None,
    replicas: Replicas | None = None,
) -> None:
    """Stop the upkeep and the sharing, then the learner (saving its state), then the
    log."""
    upkeep.stop()
    if replicas is not None:
        replicas.stop()
    # the learner first: its read-only connection must be closed before the log's last
    # one, which then checkpoints and removes the WAL file (what the log still commits
    # after this is read at the next start)
    if learner is not None:
        try:
            learner.stop(state_file)
        except _SAVE_ERRORS as exc:  # the log keeps everything: it is read again at start
            log.error("online layer state not saved: %s", exc)
    decision_log.close()
