"""How the online layer learns: a deterministic fold over the decision log.

The learner reads feedback rows in the order the log committed them (their ``rowid``)
and keeps, for each decision still in its join window, the decided model's call result.
When the decision's outcome arrives, it computes the reward (:mod:`selector.reward`)
and updates the bandit with ``reward − utility`` of the decided model. The log's own
time (the latest feedback's ``ts``) closes join windows: a decision older than the
window without an outcome gets ``reward_default_outcome`` once, or is dropped.

- A feedback event the log marked ``late`` (after the window) is not learned from.
- A decision the gateway overrode (a call result names another ``model``) is not
  learned as the decided model's outcome; the latency of that call already counts for
  the model that served it, in the live statistics.

Because the fold reads only the log, in the log's order, a replay of the log from the
beginning reproduces the live state exactly (``selector bandit replay``), and a
restart loses nothing: the state saved on disk records how far it has read, and the
rest is read again at start. Decisions never wait for learning: in ``background``
mode a thread reads new feedback when told there is some (and every ``poll_s``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from models.bandit import BanditParams, OnlineModel, build
from selector.reward import RewardConfig, turn_reward
from selector.store import id_prefix

__all__ = ["OnlineLearner", "StateError"]

log = logging.getLogger("selector.online")
STATE_VERSION = 1
_BATCH = 2_000

_NEW_FEEDBACK = """
SELECT f.rowid, f.decision_id, f.ts, f.latency_ms, f.error, f.cost_usd, f.late, f.override,
       o.event_id IS NOT NULL, f.resolved, f.reward
FROM feedback f
LEFT JOIN outcomes o ON o.decision_id = f.decision_id AND o.event_id = f.event_id
WHERE f.rowid > ? ORDER BY f.rowid LIMIT ?
"""
_DECISION = (
    "SELECT model, scores, features, request, propensity FROM decisions WHERE decision_id = ?"
)
_UNANSWERED = """
SELECT decision_id FROM decisions d
WHERE decision_id >= ? AND decision_id < ?
  AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.decision_id = d.decision_id)
ORDER BY decision_id
"""


class StateError(ValueError):
    """A saved state that cannot be used (the message says why); the log is replayed."""


@dataclass
class _Pending:
    """The decided model's call results so far (``override``: another model served)."""

    latency_ms: float | None = None
    cost_usd: float | None = None
    failed: bool = False
    override: bool = False


class OnlineLearner:
    """The fold of the module docstring over the log at ``db_path``."""

    def __init__(
        self,
        bandit: OnlineModel,
        db_path: Path,
        reward: RewardConfig,
        join_window_s: float,
    ) -> None:
        self.bandit = bandit
        self.db_path = db_path
        self.reward = reward
        self.join_window_s = join_window_s
        self.cursor = 0  # rowid of the last feedback row read
        self.time = 0.0  # the log's time: latest feedback ts read
        self.closed_below = ""  # decisions with smaller ids are closed
        self._closed_second = -math.inf
        self.pending: dict[str, _Pending] = {}
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_cursor = -1
        self._last_save = time.monotonic()

    # -- the fold ------------------------------------------------------------------
    def catch_up(self) -> int:
        """Read every feedback row committed since the last call; return how many."""
        with self._lock:
            conn = self._reader()
            n = 0
            while True:
                rows = conn.execute(_NEW_FEEDBACK, (self.cursor, _BATCH)).fetchall()
                for row in rows:
                    self._apply(conn, row)
                n += len(rows)
                if len(rows) < _BATCH:
                    return n

    def _apply(self, conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
        rowid, did, ts, latency, error, cost, late, override, is_outcome, resolved, reward = row
        self.cursor = rowid
        if ts > self.time:
            self.time = ts
            self._close_windows(conn)
        if late:
            self.counts["late"] += 1
            return
        if did < self.closed_below:
            return
        p = self.pending.get(did) or _Pending()
        if override:
            p.override = True
        else:
            if latency is not None:
                p.latency_ms = (p.latency_ms or 0.0) + latency
            if cost is not None:
                p.cost_usd = (p.cost_usd or 0.0) + cost
            p.failed = p.failed or error is not None
        if is_outcome:
            self.pending.pop(did, None)
            self._learn(conn, did, p, float(reward) if reward is not None else float(resolved))
        else:
            self.pending[did] = p

    def _close_windows(self, conn: sqlite3.Connection) -> None:
        """Close the windows of decisions older than the log's time − the join window (in
        whole seconds, so the fold does not depend on how rows are batched)."""
        second = math.floor(self.time - self.join_window_s)
        if second <= self._closed_second:
            return
        self._closed_second = second
        hi = id_prefix(second)
        default = self.reward.default_outcome
        if default is not None:
            for (did,) in conn.execute(_UNANSWERED, (self.closed_below, hi)).fetchall():
                self.counts["defaults"] += 1
                self._learn(conn, did, self.pending.pop(did, _Pending()), default)
        self.closed_below = hi
        for did in [d for d in self.pending if d < hi]:
            del self.pending[did]

    def _learn(self, conn: sqlite3.Connection, did: str, p: _Pending, outcome: float) -> None:
        if p.override:
            self.counts["overridden"] += 1
            return
        found = conn.execute(_DECISION, (did,)).fetchone()
        if found is None:
            return
        model, scores_blob, features_blob, request_blob, propensity = found
        request = orjson.loads(request_blob)
        scores = orjson.loads(scores_blob)
        chosen = next((s for s in scores if s["model"] == model), None)
        if chosen is None or "lambda" not in request:
            self.counts["unscored"] += 1  # decided by a build that did not log its weights
            return
        group = orjson.loads(features_blob)["intent_group"]
        latency = p.latency_ms if p.latency_ms is not None else chosen["expected_latency_ms"]
        cost = p.cost_usd if p.cost_usd is not None else chosen["expected_cost_usd"]
        r = turn_reward(
            outcome,
            cost,
            latency,
            p.failed or latency > request["deadline_ms"],
            request["lambda"],
            request["latency_weight_per_s"],
            self.reward.late_penalty,
        )
        # the candidates the decision chose among (every one, if the log has no flags)
        among = [x for x in scores if x.get("eligible", True)]
        if chosen not in among:
            among = scores
        names = [x["model"] for x in among]
        self.bandit.learn(
            names, group, [x["utility"] for x in among], names.index(model), float(propensity), r
        )
        self.counts["learned"] += 1

    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"file:{self.db_path}?mode=ro", uri=True, timeout=30.0, check_same_thread=False
            )
        return self._conn

    # -- state ---------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """What the state depends on besides the log: a state saved under another
        configuration is not restored (the log is replayed instead)."""
        return {
            "bandit": asdict(self.bandit.params),
            "reward": asdict(self.reward),
            "join_window_s": self.join_window_s,
        }

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": STATE_VERSION,
                "config": self.config(),
                "bandit": self.bandit.state(),
                "cursor": self.cursor,
                "time": self.time,
                "closed_below": self.closed_below,
                "closed_second": self._closed_second
                if math.isfinite(self._closed_second)
                else None,
                "pending": {
                    d: [p.latency_ms, p.cost_usd, p.failed, p.override]
                    for d, p in self.pending.items()
                },
                "counts": dict(sorted(self.counts.items())),
            }

    def save(self, path: Path) -> None:
        """Write the state atomically, with its SHA-256, to ``path``."""
        state = self.state()
        body = json.dumps(state, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(body.encode()).hexdigest()
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(f'{{"sha256":"{digest}","state":{body}}}\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._saved_cursor = state["cursor"]
        self._last_save = time.monotonic()

    @classmethod
    def from_saved(
        cls,
        path: Path,
        params: BanditParams,
        db_path: Path,
        reward: RewardConfig,
        join_window_s: float,
    ) -> OnlineLearner:
        """The learner saved at ``path``; a StateError says why it cannot be used (missing,
        corrupt, failing its checksum, saved under another configuration)."""
        fresh = cls(build(params), db_path, reward, join_window_s)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            state = raw["state"]
            body = json.dumps(state, sort_keys=True, separators=(",", ":"))
        except FileNotFoundError as exc:
            raise StateError(f"no saved state at {path}") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{path} is not a saved state: {exc}") from exc
        if hashlib.sha256(body.encode()).hexdigest() != raw.get("sha256"):
            raise StateError(f"{path} fails its checksum: the file is corrupt or was changed")
        if state.get("version") != STATE_VERSION:
            raise StateError(f"{path} has state version {state.get('version')}")
        if state.get("config") != json.loads(json.dumps(fresh.config())):
            raise StateError(f"{path} was saved under another configuration")
        try:
            fresh.bandit = build(params, state["bandit"])
            fresh.cursor = int(state["cursor"])
            fresh.time = float(state["time"])
            fresh.closed_below = str(state["closed_below"])
            closed = state["closed_second"]
            fresh._closed_second = -math.inf if closed is None else float(closed)
            fresh.pending = {
                d: _Pending(v[0], v[1], bool(v[2]), bool(v[3])) for d, v in state["pending"].items()
            }
            fresh.counts = Counter({str(k): int(v) for k, v in state["counts"].items()})
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StateError(f"{path} is not a saved state: {exc!r}") from exc
        top = fresh._max_rowid()
        if fresh.cursor > top:
            raise StateError(
                f"{path} has read {fresh.cursor} feedback rows but the log at {db_path} "
                f"has {top}: it belongs to another log"
            )
        fresh._saved_cursor = fresh.cursor
        return fresh

    def _max_rowid(self) -> int:
        with self._lock:
            found = self._reader().execute("SELECT MAX(rowid) FROM feedback").fetchone()
        return int(found[0] or 0)

    # -- background ----------------------------------------------------------------
    def notify(self) -> None:
        """New feedback is in the log (cheap; called on the request path)."""
        self._wake.set()

    def start(self, state_path: Path | None, save_every_s: float, poll_s: float = 0.5) -> None:
        """Learn on a background thread; save to ``state_path`` every ``save_every_s``."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                self._wake.wait(poll_s)
                self._wake.clear()
                try:
                    self.catch_up()
                    self.maybe_save(state_path, save_every_s)
                except (sqlite3.Error, OSError) as exc:  # keep serving; retry next round
                    log.error("online learning paused: %s", exc)

        self._thread = threading.Thread(target=run, name="online-learner", daemon=True)
        self._thread.start()

    def maybe_save(self, path: Path | None, every_s: float) -> None:
        if path is None or self.cursor == self._saved_cursor:
            return
        if time.monotonic() - self._last_save >= every_s:
            self.save(path)

    def stop(self, state_path: Path | None) -> None:
        """Stop the thread, read what is left, save."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=30)
            self._thread = None
        with contextlib.suppress(sqlite3.Error):
            self.catch_up()
        if state_path is not None:
            self.save(state_path)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
