"""Every read of the decision log, typed: a read-only connection (WAL lets it read while
the writer writes) with one method per question the service, the online layer, the
export, retention and off-policy evaluation ask.

A row the reads cannot make sense of (JSON an older build or a hand wrote differently,
text where a number belongs) raises :class:`~selector.reward.UnusableRecordError` or a
parse error from the method that reads it, so its caller can skip that one decision;
:meth:`LogReader.joined` skips and counts such rows itself.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from selector.store.dialect import SQLITE, Dialect, Queries
from selector.store.joined import JOINED_QUERY, joined_row
from selector.store.records import (
    CallResults,
    FeedbackRow,
    LoggedDecision,
    LoggedRequest,
    finite,
    id_prefix,
)

__all__ = ["LogReader"]


_LAST = "\U0010ffff"  # sorts after every decision id
TABLES = ("decisions", "feedback", "outcomes", "other_decisions")


_CREDITED_WITH = """
SELECT CASE WHEN o.via = 'conversation' THEN (
    SELECT COUNT(*) FROM outcomes o2 JOIN decisions d2 USING (decision_id)
    WHERE o2.via = 'conversation' AND o2.ts = o.ts AND d2.conversation_id = d.conversation_id
  ) ELSE 1 END
FROM outcomes o JOIN decisions d USING (decision_id) WHERE o.decision_id = ?
"""
_DECISION = (
    "SELECT model, scores, features, request, propensity FROM decisions WHERE decision_id = ?"
)
_RECENT_CALLS = """
SELECT f.ts, COALESCE(f.model, d.model), f.latency_ms, f.error IS NOT NULL
FROM feedback f JOIN decisions d USING (decision_id)
WHERE f.ts >= ? AND (f.latency_ms IS NOT NULL OR f.error IS NOT NULL)
ORDER BY f.ts
"""
_SQLITE_QUERIES = Queries(SQLITE)


class LogReader:
    """Typed reads of the log at ``path``; close it (or use it in ``with``) when done.
    A feedback row's place in the log's order (``row``) is the engine's
    (:class:`Dialect`); the PostgreSQL reader is
    :class:`selector.store.postgres.reader.PostgresReader`."""

    dialect: Dialect = SQLITE
    _sql: Queries = _SQLITE_QUERIES
    _conn: Any

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self.path = path
        self._conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=timeout_s, check_same_thread=False
        )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _place(self, values: Any) -> Any:
        return self.dialect.place(values)

    # -- the online layer ----------------------------------------------------------
    def feedback_after(self, row: Any, limit: int) -> list[FeedbackRow]:
        """Feedback events committed after ``row``, in the log's order, at most ``limit``."""
        w = self.dialect.width
        rows = self._conn.execute(self._sql.feedback_after, (*self.dialect.args(row), limit))
        return [self._feedback_row(r, w) for r in rows]

    def _feedback_row(self, r: Any, w: int) -> FeedbackRow:
        late, is_outcome, is_call = bool(r[w + 2]), bool(r[w + 3]), bool(r[w + 6])
        return FeedbackRow(
            self._place(r[:w]), r[w], r[w + 1], late, is_outcome, r[w + 4], r[w + 5], is_call
        )

    def calls(self, decision_id: str, upto_row: Any, before: bool = False) -> CallResults | None:
        """The decided model's call results among the events up to ``upto_row`` (before
        it, with ``before``), summed; None when the gateway overrode the decision (another
        model served)."""
        latency: float | None = None
        cost: float | None = None
        failed = reported = False
        query = self._sql.calls["<" if before else "<="]
        for latency_ms, error, cost_usd, override in self._conn.execute(
            query, (decision_id, *self.dialect.args(upto_row))
        ):
            reported = True
            if override:
                return None
            if latency_ms is not None:
                latency = (latency or 0.0) + finite(latency_ms, "a call's latency_ms")
            if cost_usd is not None:
                cost = (cost or 0.0) + finite(cost_usd, "a call's cost_usd")
            failed = failed or bool(error)
        return CallResults(latency, cost, failed, reported)

    def outcome(self, decision_id: str) -> tuple[Any, Any] | None:
        """The place of the event that brought the decision's outcome, and the outcome
        (the ``reward`` sent, else ``resolved``); None without one."""
        found = self._conn.execute(self._sql.outcome, (decision_id,)).fetchone()
        if found is None:
            return None
        w = self.dialect.width
        resolved, reward = found[w], found[w + 1]
        return self._place(found[:w]), reward if reward is not None else resolved

    def credited_with(self, decision_id: str) -> int:
        """How many decisions the decision's outcome was credited to at once: those of its
        conversation credited by the same conversation-level outcome; 1 for an outcome of
        its own (or none)."""
        found = self._conn.execute(_CREDITED_WITH, (decision_id,)).fetchone()
        return max(1, int(found[0])) if found is not None else 1

    def answered_without_calls(
        self, from_id: str, below_id: str, before_row: Any
    ) -> list[tuple[str, Any]]:
        """Decisions with ids in [``from_id``, ``below_id``) that have an outcome before
        ``before_row`` but no call result before it, and their outcomes."""
        return [
            (did, reward if reward is not None else resolved)
            for did, resolved, reward in self._conn.execute(
                self._sql.without_calls,
                (from_id, below_id, *self.dialect.args(before_row) * 2),
            )
        ]

    def decision(self, decision_id: str) -> LoggedDecision | None:
        """The decision as logged (None: not in the log)."""
        found = self._conn.execute(_DECISION, (decision_id,)).fetchone()
        if found is None:
            return None
        model, scores, features, request, propensity = found
        vector = orjson.loads(features)
        return LoggedDecision(
            decision_id,
            model,
            propensity,
            LoggedRequest.from_json(orjson.loads(request)),
            list(orjson.loads(scores)),
            str(vector["intent_group"]),
            vector,
        )

    def unanswered(self, from_id: str, below_id: str, before_row: Any) -> list[str]:
        """Decisions with ids in [``from_id``, ``below_id``) that have no outcome before
        ``before_row``."""
        args = (from_id, below_id, *self.dialect.args(before_row))
        return [r[0] for r in self._conn.execute(self._sql.unanswered, args)]

    def last_feedback_row(self) -> Any:
        """The place of the last feedback row the log's order has reached."""
        found = self._conn.execute(self._sql.last).fetchone()
        return self.dialect.start if found is None else self._place(found)

    def rows_after(self, row: Any) -> int:
        """How many feedback rows come after ``row`` in the log's order."""
        found = self._conn.execute(self._sql.count_after, self.dialect.args(row)).fetchone()
        return int(found[0])

    def oldest_after(self, row: Any) -> float | None:
        """The time of the first feedback event committed after ``row``."""
        found = self._conn.execute(self._sql.oldest_after, self.dialect.args(row)).fetchone()
        return float(found[0]) if found and isinstance(found[0], int | float) else None

    # -- the service ---------------------------------------------------------------
    def recent_call_results(self, since: float) -> Iterator[tuple[Any, Any, Any, bool]]:
        """(ts, model, latency_ms, error) of call results since ``since``, oldest first,
        as stored; a result without ``model`` is attributed to the decided model."""
        yield from self._conn.execute(_RECENT_CALLS, (since,))

    def counts(self) -> dict[str, int]:
        return {
            t: int(self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in ("decisions", "feedback", "outcomes")
        }

    # -- export, training, off-policy evaluation -----------------------------------
    def joined(
        self,
        since: float = 0.0,
        skipped: Counter[str] | None = None,
        id_range: tuple[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The joined log (:mod:`selector.store.joined`), one row per decision, oldest
        first: decisions made at or after Unix time ``since`` (or with an id in
        ``id_range``, both ends included). Rows that cannot be parsed are counted in
        ``skipped['unreadable']`` and left out."""
        lo, hi = id_range or (id_prefix(since), _LAST)
        for names, row in self._joined_rows(lo, hi):
            values = dict(zip(names, row, strict=True))
            for column in self.dialect.hidden:
                values.pop(column, None)
            try:
                out = joined_row(values)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                if skipped is not None:
                    skipped["unreadable"] += 1
                continue
            yield out

    def _joined_rows(self, lo: str, hi: str) -> Iterator[tuple[list[str], Any]]:
        cur = self._conn.execute(JOINED_QUERY, (lo, hi))
        names = [c[0] for c in cur.description]
        for row in cur:
            yield names, row

    def other_decisions(self) -> dict[str, tuple[str, str, dict[str, float]]]:
        """The challenger's decision on each request where one ran: decision id →
        ("<policy> <version>", model, {model: probability})."""
        return {
            r[0]: (f"{r[1]} {r[2]}", r[3], orjson.loads(r[4]))
            for r in self._conn.execute(
                "SELECT decision_id, policy, policy_version, model, probabilities "
                "FROM other_decisions"
            )
        }

    def choices(self, policy: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """(chosen model, logged scores) of every decision ``policy`` served, in order."""
        return [
            (r[0], orjson.loads(r[1])) for r in self._conn.execute(self._sql.choices, (policy,))
        ]

    # -- retention -----------------------------------------------------------------
    def due(self, after_id: str, below_id: str, limit: int) -> list[str]:
        """Up to ``limit`` decision ids after ``after_id`` and below ``below_id``, in order."""
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT decision_id FROM decisions WHERE decision_id > ? AND decision_id < ? "
                "ORDER BY decision_id LIMIT ?",
                (after_id, below_id, limit),
            )
        ]

    def prunable_through(self, learned_through: Any | None) -> Any:
        """The last feedback place whose decisions retention may remove: the online
        layer's cursor (None: none), and never the newest row (SQLite would give its
        rowid again, and the online layer's cursor must keep growing)."""
        top = self.last_feedback_row() - 1
        return top if learned_through is None else min(learned_through, top)

    def with_feedback_after(self, first_id: str, last_id: str, row: Any) -> set[str]:
        """Decisions in [``first_id``, ``last_id``] with a feedback event after ``row``."""
        return {
            r[0]
            for r in self._conn.execute(
                self._sql.with_feedback_after, (first_id, last_id, *self.dialect.args(row))
            )
        }

    def raw_rows(self, first_id: str, last_id: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """(table, row number, row) of every row of every table about decisions in
        [``first_id``, ``last_id``], as stored."""
        for table in TABLES:
            cur = self._conn.execute(
                f"SELECT {self._row_number(table)} AS row_number, * FROM {table} "
                "WHERE decision_id >= ? AND decision_id <= ?",
                (first_id, last_id),
            )
            names = [c[0] for c in cur.description]
            for row in cur:
                values = dict(zip(names, row, strict=True))
                for column in self.dialect.hidden:
                    values.pop(column, None)
                yield table, int(values.pop("row_number")), values

    def _row_number(self, table: str) -> str:
        return "rowid"
