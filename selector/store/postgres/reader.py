"""Every read of the decision log on PostgreSQL: :class:`~selector.store.LogReader`'s
methods and SQL, in PostgreSQL's dialect, where a feedback row's place in the log's
order is its :class:`~selector.store.postgres.cursor.Position` among finished
transactions (so every replica folds the same rows in the same order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.errors import StoreError
from selector.store.dialect import Dialect, Queries
from selector.store.joined import JOINED_QUERY
from selector.store.postgres.cursor import Position
from selector.store.reader import LogReader

__all__ = ["JOINED_CHUNK", "LAST_ROW", "POSTGRES", "PostgresReader", "connect", "where"]

JOINED_CHUNK = 5_000  # joined rows fetched at a time (export, training)

_FINISHED = "xid < pg_snapshot_xmin(pg_current_snapshot())"


class _Postgres(Dialect):
    start = Position()
    width = 2
    param = "(?::text::xid8, ?)"
    hidden = ("seq", "xid")

    def pos(self, t: str = "") -> str:
        return f"({t}xid, {t}seq)"

    def args(self, place: Any) -> tuple[Any, ...]:
        return (str(place.xid), place.seq)

    def select(self, t: str = "") -> str:
        return f"{t}xid::text::bigint, {t}seq"

    def finished(self, t: str = "") -> str:
        return t + _FINISHED

    def place(self, values: tuple[Any, ...] | list[Any]) -> Position:
        return Position(int(values[0]), int(values[1]))

    def dump(self, place: Any) -> Any:
        return [place.xid, place.seq]

    def load(self, saved: Any) -> Position:
        xid, seq = saved
        return Position(int(xid), int(seq))


POSTGRES = _Postgres()
_QUERIES = Queries(POSTGRES)
LAST_ROW = _QUERIES.last  # the last feedback row's position (no parameters)


def connect(url: str, timeout_s: float = 10.0) -> Any:
    """An autocommit psycopg connection to ``url``; a :class:`StoreError` naming the
    database (without its password) when it cannot be made."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout_s)))
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach the decision log at {where(url)}: {exc}") from exc


def where(url: str) -> str:
    """The database of ``url`` without its password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


class _Connection:
    """A psycopg connection taking the reads' ``?`` parameters."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), params)

    def close(self) -> None:
        self.conn.close()


class PostgresReader(LogReader):
    """Typed reads of the PostgreSQL log at ``url`` on a connection of their own (each
    read sees what was committed when it began)."""

    dialect = POSTGRES
    _sql = _QUERIES

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self._conn = _Connection(connect(url, timeout_s))

    def prunable_through(self, learned_through: Any | None) -> Any:
        """The online layer's cursor (None: none): the database's serials never repeat,
        so the newest row may go too."""
        return self.last_feedback_row() if learned_through is None else learned_through

    def _joined_rows(self, lo: str, hi: str) -> Iterator[tuple[list[str], Any]]:
        """The joined log through a server-side cursor: the rows come
        :data:`JOINED_CHUNK` at a time, however long the log."""
        conn = self._conn.conn
        with conn.transaction(), conn.cursor(name="joined") as cur:
            cur.itersize = JOINED_CHUNK
            cur.execute(JOINED_QUERY.replace("?", "%s"), (lo, hi))
            names = [c.name for c in cur.description]
            for row in cur:
                yield names, row

    def _row_number(self, table: str) -> str:
        return "seq" if table in ("decisions", "feedback") else "0"
