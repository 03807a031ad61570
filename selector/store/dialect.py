"""How each engine orders the log's feedback rows, and the reads' SQL that depends on
that order: SQLite places a row by its ``rowid`` (one writer commits in rowid order);
PostgreSQL by ``(xid, seq)`` among finished transactions
(:mod:`selector.store.postgres.cursor`), so that replicas read one order."""

from __future__ import annotations

import sqlite3
from typing import Any

from core.errors import StoreError

__all__ = ["READ_ERRORS", "SQLITE", "Dialect", "Queries", "is_call"]


def _read_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:  # the PostgreSQL extra is not installed
        return (sqlite3.Error, StoreError)
    return (sqlite3.Error, StoreError, psycopg.Error)


#: what a read of the log raises when the database itself fails (not a row's fault)
READ_ERRORS = _read_errors()

_CALL_COLUMNS = ("latency_ms", "error", "cost_usd", "model")


def is_call(t: str = "") -> str:
    """SQL: the feedback row (of table alias ``t``) reports a call's result."""
    return "(" + " OR ".join(f"{t}{c} IS NOT NULL" for c in _CALL_COLUMNS) + ")"


class Dialect:
    """How an engine places a feedback row in the log's one order: SQLite by its
    ``rowid`` (one writer commits in rowid order), PostgreSQL by ``(xid, seq)`` among
    finished transactions (:mod:`selector.store.postgres.cursor`). A row's place is an
    ``int`` or a :class:`~selector.store.postgres.cursor.Position`; both order."""

    start: Any = 0  # before every row
    width = 1  # columns a place takes in a SELECT

    def pos(self, t: str = "") -> str:
        """SQL: the place of the row of table alias ``t``."""
        return f"{t}rowid"

    param = "?"  # SQL: a place passed as parameters
    hidden: tuple[str, ...] = ()  # the place's columns, left out of rows read whole

    def args(self, place: Any) -> tuple[Any, ...]:
        return (int(place),)

    def select(self, t: str = "") -> str:
        return f"{t}rowid"

    def finished(self, t: str = "") -> str:
        """SQL: the row's transaction has finished (and no earlier place can appear)."""
        return "1 = 1"

    def place(self, values: tuple[Any, ...] | list[Any]) -> Any:
        return int(values[0])

    def dump(self, place: Any) -> Any:
        """The place as JSON (a saved state's cursor)."""
        return int(place)

    def load(self, saved: Any) -> Any:
        return int(saved)


class Queries:
    """The reads' SQL, in one engine's dialect (``?`` parameters)."""

    def __init__(self, d: Dialect) -> None:
        pf = d.pos("f.")
        self.feedback_after = f"""
SELECT {d.select("f.")}, f.decision_id, f.ts, f.late, o.event_id IS NOT NULL, f.resolved,
       f.reward, {is_call("f.")}
FROM feedback f
LEFT JOIN outcomes o ON o.decision_id = f.decision_id AND o.event_id = f.event_id
WHERE {pf} > {d.param} AND {d.finished("f.")} ORDER BY {pf} LIMIT ?
"""
        # the call results of one decision up to a place, or before it (the index
        # feedback_decision serves both)
        self.calls = {
            op: "SELECT latency_ms, error IS NOT NULL, cost_usd, override FROM feedback "
            f"WHERE decision_id = ? AND {d.pos()} {op} {d.param} AND late = 0 AND {is_call()}"
            for op in ("<=", "<")
        }
        # a decision's outcome, and the place of the event that brought it
        self.outcome = f"""
SELECT {d.select("f.")}, o.resolved, o.reward
FROM outcomes o JOIN feedback f ON f.event_id = o.event_id WHERE o.decision_id = ?
"""
        # the window's close reads only what the log holds before the closing row (an
        # outcome committed after it is not seen, however early it is read)
        self.without_calls = f"""
SELECT o.decision_id, o.resolved, o.reward FROM outcomes o
JOIN feedback fo ON fo.event_id = o.event_id
WHERE o.decision_id >= ? AND o.decision_id < ? AND {d.pos("fo.")} < {d.param}
  AND NOT EXISTS (
    SELECT 1 FROM feedback f
    WHERE f.decision_id = o.decision_id AND {pf} < {d.param} AND f.late = 0
      AND {is_call("f.")}
  )
ORDER BY o.decision_id
"""
        self.unanswered = f"""
SELECT decision_id FROM decisions d
WHERE decision_id >= ? AND decision_id < ?
  AND NOT EXISTS (
    SELECT 1 FROM outcomes o JOIN feedback fo ON fo.event_id = o.event_id
    WHERE o.decision_id = d.decision_id AND {d.pos("fo.")} < {d.param}
  )
ORDER BY decision_id
"""
        self.last = (
            f"SELECT {d.select()} FROM feedback WHERE {d.finished()} "
            f"ORDER BY {d.pos()} DESC LIMIT 1"
        )
        self.count_after = (
            f"SELECT COUNT(*) FROM feedback WHERE {d.pos()} > {d.param} AND {d.finished()}"
        )
        self.oldest_after = (
            f"SELECT ts FROM feedback WHERE {d.pos()} > {d.param} AND {d.finished()} "
            f"ORDER BY {d.pos()} LIMIT 1"
        )
        self.choices = f"SELECT model, scores FROM decisions WHERE policy = ? ORDER BY {d.pos()}"
        self.with_feedback_after = (
            "SELECT DISTINCT decision_id FROM feedback WHERE decision_id >= ? "
            f"AND decision_id <= ? AND {d.pos()} > {d.param}"
        )


SQLITE = Dialect()
