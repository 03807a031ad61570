"""The online layer's reads of the decision log: the feedback rows in the log's order,
a decision as logged, its call results and outcome, the decisions whose join window
closed without them, and how far the log has gone past the learner."""

from __future__ import annotations

from typing import Any

import orjson

from selector.store.reads import Reads
from selector.store.records import CallResults, FeedbackRow, LoggedDecision, LoggedRequest, finite

__all__ = ["LearnerReads"]

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


class LearnerReads(Reads):
    """What the online layer's fold asks of the log."""

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

    def rows_after(self, row: Any) -> int:
        """How many feedback rows come after ``row`` in the log's order."""
        found = self._conn.execute(self._sql.count_after, self.dialect.args(row)).fetchone()
        return int(found[0])

    def oldest_after(self, row: Any) -> float | None:
        """The time of the first feedback event committed after ``row``."""
        found = self._conn.execute(self._sql.oldest_after, self.dialect.args(row)).fetchone()
        return float(found[0]) if found and isinstance(found[0], int | float) else None
