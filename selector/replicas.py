"""Replicas sharing one PostgreSQL log keep each other's live state: one thread per
replica listens on the log's channel (``LISTEN``; every commit that stores feedback
notifies it) and, when woken or every ``SELECTOR_SHARED_POLL_S``:

- wakes the online layer, which folds the new feedback (the same rows in the same order
  on every replica: their states converge on a replay of the log);
- feeds the call results the other replicas stored to this replica's latency tracker,
  so a circuit that failures seen by one replica open is open on all (each replica
  reads the same results and applies the same rule);
- takes the half-open probe's lease for the models waiting for it: one replica probes,
  the others learn the probe's result from the log; and gives back a lease whose probe
  has ended;
- with a spend budget, stores this replica's spend per budget and period and reads the
  others' (table ``budget_spend``), so that the replicas pace one budget: each solves
  for λ on the whole spend and the whole traffic.

Decisions never wait for any of this: they read the tracker's local figures, which lag
the others' results by the time a notification takes (milliseconds), or by one poll
when notifications are lost. A database that cannot be reached pauses the thread (it
logs why and retries); nothing is lost, the log keeps every result."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import Any, TypeVar

from selector.latency import LatencyTracker
from selector.online import OnlineLearner
from selector.online.budget import BudgetPacer
from selector.online.runner import Runner
from selector.store.postgres import live
from selector.store.postgres.cursor import Position
from selector.store.postgres.reader import connect
from selector.store.postgres.writer import CHANNEL

__all__ = ["Replicas"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Replicas:
    """This replica's side of the shared live state (see the module docstring)."""

    def __init__(
        self,
        url: str,
        origin: str,
        tracker: LatencyTracker,
        learner: OnlineLearner | None,
        poll_s: float = 0.5,
    ) -> None:
        self.url = url
        self.origin = origin
        self.tracker = tracker
        self.learner = learner
        self.poll_s = poll_s
        self.hold_s = tracker.config.probe_timeout_s  # a probe's lease lasts as long as a probe
        self.position: Position | None = None  # the others' results read up to here
        self.budget: BudgetPacer | None = None  # set by the service when it has a budget
        self.fed = 0  # others' call results fed to the tracker
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._runner: Runner | None = None
        self._conn: Any = None

    def start(self) -> None:
        """Start from the log's end (the tracker was warmed from its recent results);
        when the database cannot be reached, the thread finds the end once it can."""
        with suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._stop.clear()
        # the round itself waits for a notification (up to poll_s): the thread does not
        self._runner = Runner(self._round, 0.0, "replica state sharing", self.poll_s)
        self._runner.start()

    @property
    def failure(self) -> str | None:
        """The last round's error, while it lasts."""
        return None if self._runner is None else self._runner.failure

    def stop(self) -> None:
        if self._runner is not None:
            self._stop.set()
            self._runner.stop()
            self._runner = None
        self._close()

    def _round(self) -> None:
        """Wait for a notification (or ``poll_s``), then one step; a connection lost
        raises (the runner backs off and retries on a new one)."""
        try:
            if self._conn is None:
                self._conn = connect(self.url)
                self._conn.execute(f"LISTEN {CHANNEL}")
                if self.position is None:
                    self.position = live.log_end(self._conn)
            for _ in self._conn.notifies(timeout=self.poll_s, stop_after=1):
                pass
            self.step()
        except _StoppingError:
            return
        except Exception:
            self._close()
            raise

    def _close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None

    def step(self) -> None:
        """One round: wake the learner, feed the others' results, settle probe leases."""
        if self.learner is not None:
            self.learner.notify()
        conn = self._conn
        results, self.position = live.others_results(conn, self.position or Position(), self.origin)
        wanted, released = self._on_loop(lambda: self._feed(results))
        for model in released:
            live.release_probe(conn, model, self.origin)
        granted = [m for m in wanted if live.claim_probe(conn, m, self.origin, self.hold_s)]
        if granted:
            self._on_loop(lambda: self._grant(granted))
        if self.budget is not None:
            self.budget.others(live.share_spend(conn, self.origin, self.budget.own()))

    def _feed(self, results: list[tuple[str, float | None, bool]]) -> tuple[list[str], list[str]]:
        for model, latency_ms, error in results:
            self.tracker.record(model, latency_ms, error)
        self.fed += len(results)
        return self.tracker.wanted(), self.tracker.released()

    def _grant(self, models: list[str]) -> None:
        for model in models:
            self.tracker.grant(model)
            log.info("this replica probes %s (it holds the probe's lease)", model)

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the event loop that serves decisions (the tracker is not shared
        between threads), or here when there is none."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return fn()
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        while True:  # the loop may be the one stopping this thread: do not wait on it then
            try:
                return done.result(timeout=0.1)
            except TimeoutError:
                if self._stop.is_set():
                    raise _StoppingError from None


class _StoppingError(Exception):
    """The replica is stopping: the round is dropped (its results are in the log)."""
