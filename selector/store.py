"""The decision log: every decision and every feedback event, stored before the answer.

SQLite in WAL mode. One writer thread owns the write connection and commits in
groups: requests that arrive together share one commit (and one fsync with
``synchronous=FULL``), and each request is answered only after its commit. All the
checks that must not race — duplicate events, a second, different outcome — run in
that thread, one command at a time.

Tables: ``decisions`` (one row per decision), ``feedback`` (one row per distinct
event; ``event_id`` is a hash of the decision id and the event's fields, so a resent
event is recognised), ``outcomes`` (the one outcome a decision may have).
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from selector.errors import ConflictError, NotFoundError, StoreError

__all__ = ["DecisionLog", "DecisionRecord", "FeedbackEvent", "FeedbackResult"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id     TEXT PRIMARY KEY,
    ts              REAL NOT NULL,
    conversation_id TEXT NOT NULL,
    policy          TEXT NOT NULL,
    policy_version  TEXT NOT NULL,
    model           TEXT NOT NULL,
    propensity      REAL NOT NULL,
    fallbacks       TEXT NOT NULL,
    relaxed         TEXT NOT NULL,
    request         TEXT NOT NULL,
    features        TEXT NOT NULL,
    scores          TEXT NOT NULL,
    text            TEXT
);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions(ts);
CREATE TABLE IF NOT EXISTS feedback (
    event_id          TEXT PRIMARY KEY,
    decision_id       TEXT NOT NULL REFERENCES decisions(decision_id),
    ts                REAL NOT NULL,
    model             TEXT,
    latency_ms        REAL,
    error             TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost_usd          REAL,
    resolved          INTEGER,
    reward            REAL,
    late              INTEGER NOT NULL DEFAULT 0,
    override          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS feedback_decision ON feedback(decision_id);
CREATE INDEX IF NOT EXISTS feedback_ts ON feedback(ts);
CREATE TABLE IF NOT EXISTS outcomes (
    decision_id TEXT PRIMARY KEY REFERENCES decisions(decision_id),
    resolved    INTEGER,
    reward      REAL,
    event_id    TEXT NOT NULL,
    ts          REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', '1');
"""

FEEDBACK_FIELDS = (
    "model",
    "latency_ms",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "resolved",
    "reward",
)
_BATCH = 512


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: str
    ts: float
    conversation_id: str
    policy: str
    policy_version: str
    model: str
    propensity: float
    fallbacks: list[str]
    relaxed: list[str]
    request: dict[str, Any]
    features: dict[str, Any]
    scores: list[dict[str, Any]]
    text: str | None


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    decision_id: str
    fields: dict[str, Any]  # the subset of FEEDBACK_FIELDS that was sent

    @property
    def event_id(self) -> str:
        body = orjson.dumps([self.decision_id, self.fields], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(body).hexdigest()[:32]

    @property
    def has_outcome(self) -> bool:
        return "resolved" in self.fields or "reward" in self.fields


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    decision_id: str
    duplicate: bool
    late: bool
    override: bool
    decided_model: str


_Op = tuple[str, Any, Future[Any]]


class DecisionLog:
    """SQLite decision log with a group-committing writer thread."""

    def __init__(
        self,
        path: Path,
        sync: str = "full",
        join_window_s: float = 86_400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.sync = sync
        self.join_window_s = join_window_s
        self.clock = clock
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: str | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect()
            conn.executescript(SCHEMA)
            conn.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the decision log at {path}: {exc}") from exc

    # -- lifecycle -----------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.sync.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def healthy(self) -> tuple[bool, str]:
        if self._error:
            return False, self._error
        if self._thread is None or not self._thread.is_alive():
            return False, "the decision log writer is not running"
        return True, "ok"

    # -- writes ------------------------------------------------------------------
    def submit_decision(self, rec: DecisionRecord) -> Future[None]:
        return self._submit("decision", rec)

    def submit_feedback(self, event: FeedbackEvent) -> Future[FeedbackResult]:
        return self._submit("feedback", event)

    async def write_decision(self, rec: DecisionRecord) -> None:
        await asyncio.wrap_future(self.submit_decision(rec))

    async def write_feedback(self, event: FeedbackEvent) -> FeedbackResult:
        return await asyncio.wrap_future(self.submit_feedback(event))

    def _submit(self, kind: str, payload: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        if self._thread is None:
            fut.set_exception(StoreError("the decision log is not started"))
        else:
            self._queue.put((kind, payload, fut))
        return fut

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            self._error = f"cannot open the decision log: {exc}"
            return
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stop = False
            while len(batch) < _BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._write_batch(conn, batch)
            if stop:
                break
        conn.close()

    def _write_batch(self, conn: sqlite3.Connection, batch: list[_Op]) -> None:
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for kind, payload, fut in batch:
                try:
                    if kind == "decision":
                        self._insert_decision(conn, payload)
                        results.append((fut, None, None))
                    else:
                        results.append((fut, self._insert_feedback(conn, payload), None))
                except (NotFoundError, ConflictError) as exc:
                    results.append((fut, None, exc))
            conn.execute("COMMIT")
            self._error = None
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self._error = f"decision log write failed: {exc}"
            err = StoreError(f"{self._error}; nothing from this request was acknowledged")
            results = [(fut, None, err) for _, _, fut in batch]
        for fut, value, failure in results:
            if failure is None:
                fut.set_result(value)
            else:
                fut.set_exception(failure)

    @staticmethod
    def _insert_decision(conn: sqlite3.Connection, r: DecisionRecord) -> None:
        conn.execute(
            "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                r.decision_id,
                r.ts,
                r.conversation_id,
                r.policy,
                r.policy_version,
                r.model,
                r.propensity,
                orjson.dumps(r.fallbacks).decode(),
                orjson.dumps(r.relaxed).decode(),
                orjson.dumps(r.request).decode(),
                orjson.dumps(r.features).decode(),
                orjson.dumps(r.scores).decode(),
                r.text,
            ),
        )

    def _insert_feedback(self, conn: sqlite3.Connection, ev: FeedbackEvent) -> FeedbackResult:
        row = conn.execute(
            "SELECT ts, model FROM decisions WHERE decision_id = ?", (ev.decision_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"no decision with decision_id {ev.decision_id!r}: send the id that "
                "POST /v1/route returned"
            )
        decided_at, decided_model = row
        f = ev.fields
        event_id = ev.event_id
        override = "model" in f and f["model"] != decided_model
        if conn.execute("SELECT 1 FROM feedback WHERE event_id = ?", (event_id,)).fetchone():
            return FeedbackResult(ev.decision_id, True, False, override, decided_model)
        now = self.clock()
        late = now - decided_at > self.join_window_s
        resolved = f.get("resolved")
        resolved_i = None if resolved is None else int(resolved)
        if ev.has_outcome:
            prev = conn.execute(
                "SELECT resolved, reward FROM outcomes WHERE decision_id = ?", (ev.decision_id,)
            ).fetchone()
            if prev is not None:
                if (prev[0], prev[1]) != (resolved_i, f.get("reward")):
                    raise ConflictError(
                        f"decision {ev.decision_id} already has an outcome "
                        f"(resolved={_b(prev[0])}, reward={prev[1]}); an outcome is recorded once"
                    )
            elif not late:
                conn.execute(
                    "INSERT INTO outcomes VALUES (?,?,?,?,?)",
                    (ev.decision_id, resolved_i, f.get("reward"), event_id, now),
                )
        conn.execute(
            "INSERT INTO feedback VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event_id,
                ev.decision_id,
                now,
                f.get("model"),
                f.get("latency_ms"),
                f.get("error"),
                f.get("prompt_tokens"),
                f.get("completion_tokens"),
                f.get("cost_usd"),
                resolved_i,
                f.get("reward"),
                int(late),
                int(override),
            ),
        )
        return FeedbackResult(ev.decision_id, False, late, override, decided_model)

    # -- reads -------------------------------------------------------------------
    def reader(self) -> sqlite3.Connection:
        """A read-only connection (WAL lets it read while the writer writes)."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0)
        conn.row_factory = sqlite3.Row
        return conn

    def recent_call_results(self, since: float) -> Iterator[tuple[float, str, float | None, bool]]:
        """(ts, model, latency_ms, error) of call results since ``since``, oldest first;
        a result without ``model`` is attributed to the decided model."""
        with closing(self.reader()) as conn:
            yield from conn.execute(
                "SELECT f.ts, COALESCE(f.model, d.model), f.latency_ms, f.error IS NOT NULL "
                "FROM feedback f JOIN decisions d USING (decision_id) "
                "WHERE f.ts >= ? AND (f.latency_ms IS NOT NULL OR f.error IS NOT NULL) "
                "ORDER BY f.ts",
                (since,),
            )

    def counts(self) -> dict[str, int]:
        with closing(self.reader()) as conn:
            return {
                t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in ("decisions", "feedback", "outcomes")
            }


def _b(v: int | None) -> bool | None:
    return None if v is None else bool(v)
