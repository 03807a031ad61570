"""What every read of the decision log stands on: a connection, the engine's way of
ordering feedback rows (:class:`~selector.store.dialect.Dialect`) and the SQL of its
reads. The reads themselves are grouped by who asks (:mod:`selector.store.reader`)."""

from __future__ import annotations

from typing import Any

from selector.store.dialect import SQLITE, Dialect, Queries

__all__ = ["Reads"]


class Reads:
    """A connection to the log and what every group of reads needs of it."""

    dialect: Dialect = SQLITE
    _sql: Queries = Queries(SQLITE)
    _conn: Any

    def _place(self, values: Any) -> Any:
        return self.dialect.place(values)

    def last_feedback_row(self) -> Any:
        """The place of the last feedback row the log's order has reached."""
        found = self._conn.execute(self._sql.last).fetchone()
        return self.dialect.start if found is None else self._place(found)
