"""The online layer's learner: the fold over the decision log described in
:mod:`selector.online`."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections import Counter, deque
from dataclasses import asdict
from typing import Any

from selector.health import LearnerStatus
from selector.online.bandit import BanditParams, OnlineModel, Update
from selector.online.lag import LagReader
from selector.online.learners import build
from selector.online.runner import Runner
from selector.online.state import STATE_VERSION, StateError, StateStore
from selector.online.updates import UNUSABLE, due, reason, update_for
from selector.reward import RewardConfig
from selector.store import (
    FeedbackRow,
    LearnerReads,
    LogReader,
    UnusableRecordError,
    finite,
    id_prefix,
)
from selector.store.base import DecisionLog

__all__ = ["SKIPPED_KEPT", "OnlineLearner"]

log = logging.getLogger(__name__)
SKIPPED_KEPT = 50  # the most recent skipped events kept in the state
_LOGGED_SKIPS = 100  # skipped events logged one by one per process; then every 1,000th
_BATCH = 2_000


class OnlineLearner:
    """The fold of the module docstring over the log ``source``."""

    def __init__(
        self,
        bandit: OnlineModel,
        source: DecisionLog,
        reward: RewardConfig,
        join_window_s: float,
    ) -> None:
        self.bandit = bandit
        self.source = source
        self.reward = reward
        self.join_window_s = join_window_s
        self.cursor: Any = source.dialect.start  # the place of the last feedback row read
        self.time = 0.0  # the log's time: latest feedback ts read
        self.closed_below = ""  # decisions with smaller ids are closed
        self._closed_second = -math.inf
        self.counts: Counter[str] = Counter()
        self.skipped: deque[tuple[Any, str, str]] = deque(maxlen=SKIPPED_KEPT)
        self._lock = threading.Lock()
        self._log_reader: LogReader | None = None
        self._lag = LagReader(source)
        self._runner: Runner | None = None
        self._saved_cursor: Any = None
        self._last_save = time.monotonic()
        self._skips_logged = 0
        self.read_at = time.time()  # when it last read the log to its end (wall clock)

    # -- the fold ------------------------------------------------------------------
    def catch_up(self) -> int:
        """Read every feedback row committed since the last call; return how many.
        A database error propagates with the cursor before the row it hit, and the
        next call reads on a new connection (the database may have restarted)."""
        with self._lock:
            try:
                reader = self._reader()
                n = 0
                while True:
                    rows = reader.feedback_after(self.cursor, _BATCH)
                    for row in rows:
                        self._apply(reader, row)
                        n += 1
                    if len(rows) < _BATCH:
                        self.read_at = time.time()
                        return n
            except Exception:
                self._drop_reader()  # the next round reads on a new connection
                raise

    def _apply(self, reader: LearnerReads, row: FeedbackRow) -> None:
        try:
            at = finite(row.ts, "the event's ts")
        except UnusableRecordError as exc:
            self._skip(row.row, row.decision_id, str(exc))
            self.cursor = row.row
            return
        if at > self.time:
            self._close_windows(reader, at, row.row)
            self.time = at
        if row.late:
            self.counts["late"] += 1
        elif not str(row.decision_id) < self.closed_below:
            did = row.decision_id
            try:
                ready = due(reader, row)
                update = None if ready is None else self._update_for(reader, did, *ready)
            except UNUSABLE as exc:
                self._skip(row.row, did, reason(exc))
            else:
                self._learn(update)
        self.cursor = row.row

    def _update_for(self, reader: LearnerReads, did: str, outcome: Any, calls: Any) -> Any:
        return update_for(reader, did, calls, outcome, self.bandit.contextual)

    def _learn(self, update: Update | str | None) -> None:
        if update is None:
            return
        if isinstance(update, str):
            self.counts[update] += 1
            return
        self.bandit.learn(update)
        self.counts["learned"] += 1

    def _skip(self, rowid: Any, did: Any, reason: str) -> None:
        self.counts["skipped"] += 1
        rowid = self.source.dialect.dump(rowid)
        self.skipped.append((rowid, str(did), reason))
        self._skips_logged += 1
        if self._skips_logged <= _LOGGED_SKIPS or self._skips_logged % 1_000 == 0:
            extra = {"feedback_row": rowid, "decision_id": str(did)}
            extra["skipped"] = self.counts["skipped"]
            msg = "online layer skipped feedback row %s (decision %s): %s"
            log.warning(msg, rowid, did, reason, extra=extra)

    def _close_windows(self, reader: LearnerReads, now: float, rowid: Any) -> None:
        """Close the windows of decisions older than the log's time ``now`` − the join
        window (in whole seconds, so the fold does not depend on how rows are batched);
        the call results they had are those before row ``rowid``."""
        second = math.floor(now - self.join_window_s)
        if second <= self._closed_second:
            return
        hi = id_prefix(second)
        default = self.reward.default_outcome
        planned: list[tuple[str, Update | str | None, str]] = []  # the kind, or why skipped
        closing = [
            (did, outcome, "without_calls")
            for did, outcome in reader.answered_without_calls(self.closed_below, hi, rowid)
        ]
        if default is not None:
            closing += [
                (did, default, "defaults")
                for did in reader.unanswered(self.closed_below, hi, rowid)
            ]
        for did, outcome, kind in closing:
            try:
                calls = reader.calls(did, rowid, before=True)
                planned.append((did, self._update_for(reader, did, outcome, calls), kind))
            except UNUSABLE as exc:
                planned.append((did, None, reason(exc)))
        # every read is done: now change the state (a database error above changes nothing)
        self._closed_second = float(second)  # as a saved state restores it
        self.closed_below = hi
        for did, update, kind in planned:
            if update is None and kind not in ("defaults", "without_calls"):
                self._skip(rowid, did, kind)
                continue
            self.counts[kind] += 1
            self._learn(update)

    def _reader(self) -> LogReader:
        if self._log_reader is None:
            self._log_reader = self.source.reader()
        return self._log_reader

    def _drop_reader(self) -> None:
        if self._log_reader is not None:
            with contextlib.suppress(Exception):  # a connection already lost
                self._log_reader.close()
            self._log_reader = None

    # -- state ---------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """What the state depends on besides the log: a state saved under another
        configuration is not restored (the log is replayed instead)."""
        return {
            "bandit": self.bandit.params.as_state(),
            "reward": asdict(self.reward),
            "join_window_s": self.join_window_s,
        }

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": STATE_VERSION,
                "config": self.config(),
                "bandit": self.bandit.state(),
                "cursor": self.source.dialect.dump(self.cursor),
                "time": self.time,
                "closed_below": self.closed_below,
                "closed_second": self._closed_second
                if math.isfinite(self._closed_second)
                else None,
                "counts": dict(sorted(self.counts.items())),
                "skipped": [list(s) for s in self.skipped],
            }

    def save(self, store: StateStore) -> None:
        """Save the state in ``store`` (atomically, with its SHA-256)."""
        with self._lock:
            cursor = self.cursor
        store.write(self.state())
        self._saved_cursor = cursor
        self._last_save = time.monotonic()

    @classmethod
    def from_saved(
        cls,
        store: StateStore,
        params: BanditParams,
        source: DecisionLog,
        reward: RewardConfig,
        join_window_s: float,
    ) -> OnlineLearner:
        """The learner saved in ``store``; a StateError says why it cannot be used
        (missing, corrupt, failing its checksum, saved under another configuration)."""
        fresh = cls(build(params), source, reward, join_window_s)
        path = store.where
        state = store.read(fresh.config())
        if state.get("config") != json.loads(json.dumps(fresh.config())):
            raise StateError(f"{path} was saved under another configuration")
        try:
            fresh.bandit = build(params, state["bandit"])
            fresh.cursor = source.dialect.load(state["cursor"])
            fresh.time = float(state["time"])
            fresh.closed_below = str(state["closed_below"])
            closed = state["closed_second"]
            fresh._closed_second = -math.inf if closed is None else float(closed)
            fresh.skipped.extend((r, str(d), str(why)) for r, d, why in state["skipped"])
            fresh.counts = Counter({str(k): int(v) for k, v in state["counts"].items()})
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StateError(f"{path} is not a saved state: {exc!r}") from exc
        top = fresh._max_rowid()
        if fresh.cursor > top:
            raise StateError(
                f"{path} has read the log up to feedback row {fresh.cursor} but the log at "
                f"{source.where} ends at {top}: it belongs to another log"
            )
        fresh._saved_cursor = fresh.cursor
        return fresh

    def _max_rowid(self) -> Any:
        with self._lock:
            return self._reader().last_feedback_row()

    # -- background ----------------------------------------------------------------
    def notify(self) -> None:
        """New feedback is in the log (cheap; called on the request path)."""
        if self._runner is not None:
            self._runner.notify()

    def start(
        self, state_path: StateStore | None, save_every_s: float, poll_s: float = 0.5
    ) -> None:
        """Learn on a background thread; save in ``state_path`` every ``save_every_s``."""
        if self._runner is not None:
            return

        def step() -> None:
            self.catch_up()
            self.maybe_save(state_path, save_every_s)

        self._runner = Runner(step, poll_s)
        self._runner.start()

    @property
    def failure(self) -> str | None:
        """The background thread's last error, while it lasts."""
        return None if self._runner is None else self._runner.failure

    def status(self, background: bool = True) -> LearnerStatus:
        """Whether the thread runs (when ``background``), the last failure, and how far
        behind the log the learner is (read on a connection of its own: never waits for
        the fold)."""
        lag_rows, lag_s = self._lag.lag(self.cursor, keep=self._runner is not None)
        running = not background or (self._runner is not None and self._runner.running)
        since = None if self._runner is None else self._runner.failing_since
        failing_s = 0.0 if since is None else time.monotonic() - since
        age_s = max(0.0, time.time() - self.read_at)
        return LearnerStatus(running, self.failure, lag_rows, lag_s, failing_s, age_s)

    def maybe_save(self, path: StateStore | None, every_s: float) -> None:
        if path is None or self.cursor == self._saved_cursor:
            return
        if time.monotonic() - self._last_save >= every_s:
            self.save(path)

    def stop(self, state_path: StateStore | None) -> None:
        """Stop the thread, read what is left, save."""
        if self._runner is not None:
            self._runner.stop()
            self._runner = None
        try:
            self.catch_up()
        except Exception as exc:  # what is left is read at the next start
            log.error("online layer could not read the last feedback before stopping: %s", exc)
        if state_path is not None:
            self.save(state_path)
        self._drop_reader()
        self._lag.close()
