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


def _is_call(t: str = "") -> str:
    """SQL: the feedback row (of table alias ``t``) reports a call's result."""
    return "(" + " OR ".join(f"{t}{c} IS NOT NULL" for c in _CALL_COLUMNS) + ")"


_CALL_COLUMNS = ("latency_ms", "error", "cost_usd", "model")
_IS_CALL = _is_call()
_FEEDBACK_AFTER = f"""
SELECT f.rowid, f.decision_id, f.ts, f.late, o.event_id IS NOT NULL, f.resolved, f.reward,
       {_is_call("f.")}
FROM feedback f
LEFT JOIN outcomes o ON o.decision_id = f.decision_id AND o.event_id = f.event_id
WHERE f.rowid > ? ORDER BY f.rowid LIMIT ?
"""
# the call results of one decision up to a row (the index feedback_decision serves it)
_CALLS = f"""
SELECT latency_ms, error IS NOT NULL, cost_usd, override FROM feedback
WHERE decision_id = ? AND rowid <= ? AND late = 0 AND {_IS_CALL}
"""
# a decision's outcome, and the row of the event that brought it
_OUTCOME = """
SELECT f.rowid, o.resolved, o.reward FROM outcomes o JOIN feedback f ON f.event_id = o.event_id
WHERE o.decision_id = ?
"""
_CREDITED_WITH = """
SELECT CASE WHEN o.via = 'conversation' THEN (
    SELECT COUNT(*) FROM outcomes o2 JOIN decisions d2 USING (decision_id)
    WHERE o2.via = 'conversation' AND o2.ts = o.ts AND d2.conversation_id = d.conversation_id
  ) ELSE 1 END
FROM outcomes o JOIN decisions d USING (decision_id) WHERE o.decision_id = ?
"""
_WITHOUT_CALLS = f"""
SELECT o.decision_id, o.resolved, o.reward FROM outcomes o
WHERE o.decision_id >= ? AND o.decision_id < ?
  AND NOT EXISTS (
    SELECT 1 FROM feedback f
    WHERE f.decision_id = o.decision_id AND f.rowid < ? AND f.late = 0 AND {_is_call("f.")}
  )
ORDER BY o.decision_id
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
_RECENT_CALLS = """
SELECT f.ts, COALESCE(f.model, d.model), f.latency_ms, f.error IS NOT NULL
FROM feedback f JOIN decisions d USING (decision_id)
WHERE f.ts >= ? AND (f.latency_ms IS NOT NULL OR f.error IS NOT NULL)
ORDER BY f.ts
"""
TABLES = ("decisions", "feedback", "outcomes", "other_decisions")


class LogReader:
    """Typed reads of the log at ``path``; close it (or use it in ``with``) when done."""

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

    # -- the online layer ----------------------------------------------------------
    def feedback_after(self, row: int, limit: int) -> list[FeedbackRow]:
        """Feedback events committed after ``row``, in commit order, at most ``limit``."""
        return [
            FeedbackRow(r[0], r[1], r[2], bool(r[3]), bool(r[4]), r[5], r[6], bool(r[7]))
            for r in self._conn.execute(_FEEDBACK_AFTER, (row, limit))
        ]

    def calls(self, decision_id: str, upto_row: int) -> CallResults | None:
        """The decided model's call results among the events up to ``upto_row``, summed;
        None when the gateway overrode the decision (another model served)."""
        latency: float | None = None
        cost: float | None = None
        failed = reported = False
        for latency_ms, error, cost_usd, override in self._conn.execute(
            _CALLS, (decision_id, upto_row)
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

    def outcome(self, decision_id: str) -> tuple[int, Any] | None:
        """The row of the event that brought the decision's outcome, and the outcome (the
        ``reward`` sent, else ``resolved``); None without one."""
        found = self._conn.execute(_OUTCOME, (decision_id,)).fetchone()
        if found is None:
            return None
        row, resolved, reward = found
        return int(row), reward if reward is not None else resolved

    def credited_with(self, decision_id: str) -> int:
        """How many decisions the decision's outcome was credited to at once: those of its
        conversation credited by the same conversation-level outcome; 1 for an outcome of
        its own (or none)."""
        found = self._conn.execute(_CREDITED_WITH, (decision_id,)).fetchone()
        return max(1, int(found[0])) if found is not None else 1

    def answered_without_calls(
        self, from_id: str, below_id: str, before_row: int
    ) -> list[tuple[str, Any]]:
        """Decisions with ids in [``from_id``, ``below_id``) that have an outcome but no
        call result before ``before_row``, and their outcomes."""
        return [
            (did, reward if reward is not None else resolved)
            for did, resolved, reward in self._conn.execute(
                _WITHOUT_CALLS, (from_id, below_id, before_row)
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

    def unanswered(self, from_id: str, below_id: str) -> list[str]:
        """Decisions with ids in [``from_id``, ``below_id``) that have no outcome."""
        return [r[0] for r in self._conn.execute(_UNANSWERED, (from_id, below_id))]

    def last_feedback_row(self) -> int:
        return int(self._conn.execute("SELECT MAX(rowid) FROM feedback").fetchone()[0] or 0)

    def oldest_after(self, row: int) -> float | None:
        """The time of the first feedback event committed after ``row``."""
        found = self._conn.execute(
            "SELECT ts FROM feedback WHERE rowid > ? ORDER BY rowid LIMIT 1", (row,)
        ).fetchone()
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
        cur = self._conn.execute(JOINED_QUERY, (lo, hi))
        names = [c[0] for c in cur.description]
        for row in cur:
            try:
                out = joined_row(dict(zip(names, row, strict=True)))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                if skipped is not None:
                    skipped["unreadable"] += 1
                continue
            yield out

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
            (r[0], orjson.loads(r[1]))
            for r in self._conn.execute(
                "SELECT model, scores FROM decisions WHERE policy = ? ORDER BY rowid", (policy,)
            )
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

    def with_feedback_after(self, first_id: str, last_id: str, row: int) -> set[str]:
        """Decisions in [``first_id``, ``last_id``] with a feedback event after ``row``."""
        return {
            r[0]
            for r in self._conn.execute(
                "SELECT DISTINCT decision_id FROM feedback WHERE decision_id >= ? "
                "AND decision_id <= ? AND rowid > ?",
                (first_id, last_id, row),
            )
        }

    def raw_rows(self, first_id: str, last_id: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """(table, rowid, row) of every row of every table about decisions in
        [``first_id``, ``last_id``], as stored."""
        for table in TABLES:
            cur = self._conn.execute(
                f"SELECT rowid, * FROM {table} WHERE decision_id >= ? AND decision_id <= ?",
                (first_id, last_id),
            )
            names = [c[0] for c in cur.description]
            for row in cur:
                values = dict(zip(names, row, strict=True))
                yield table, int(values.pop("rowid")), values
