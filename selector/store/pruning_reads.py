"""Retention's reads of the decision log: which decisions are due, which the online
layer may still need, and every stored row of those it archives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from selector.store.reads import Reads

__all__ = ["TABLES", "PruningReads"]

TABLES = ("decisions", "feedback", "outcomes", "other_decisions")


class PruningReads(Reads):
    """What a retention run asks of the log."""

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
