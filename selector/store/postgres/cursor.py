"""A cursor over a table that several writers append to, that never skips a row.

Tailing by a serial id misses rows: ids are drawn when a row is inserted, not when its
transaction commits, so a reader that has seen id 2 (committed) moves past id 1, whose
transaction commits a moment later, and never reads it. (Measured with the six writers
of ``tests/selector/store/postgres/test_cursor.py``: tailing by serial id read 188 of
their 360 rows; this cursor read all 360, in the same order on two readers.)

Here each row carries the id of the transaction that wrote it (``xid``, a 64-bit
``xid8``, set by default) beside its serial ``seq``, and a read returns only the rows of
transactions older than the oldest one still running
(``pg_snapshot_xmin(pg_current_snapshot())``): every such transaction has finished, so
no row can later appear before the cursor. Rows come in ``(xid, seq)`` order, the same
on every reader, and the cursor is the last ``(xid, seq)`` read. A long transaction
holds the readers back until it ends; it cannot make them skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TAIL_COLUMNS", "Position", "read_after"]

# the columns a tailed table carries (first in its definition, before its own)
TAIL_COLUMNS = "seq bigserial, xid xid8 NOT NULL DEFAULT pg_current_xact_id()"


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A row's place in the log's order: its transaction's id and its serial (0, 0:
    before every row). Positions compare in that order."""

    xid: int = 0
    seq: int = 0


def read_after(
    conn: Any, table: str, columns: str, after: Position, limit: int = 1000
) -> tuple[list[tuple[Any, ...]], Position]:
    """Up to ``limit`` rows of ``table`` (``columns`` of each, a trusted SQL list) written
    by finished transactions after ``after``, in ``(xid, seq)`` order, and the position
    after them. ``conn``: a psycopg connection."""
    sql = (
        f"SELECT xid::text::bigint, seq, {columns} FROM {table} "
        "WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) "
        "AND (xid, seq) > (%s::text::xid8, %s) ORDER BY xid, seq LIMIT %s"
    )
    rows = conn.execute(sql, (str(after.xid), after.seq, limit)).fetchall()
    if not rows:
        return [], after
    last = rows[-1]
    return [tuple(r[2:]) for r in rows], Position(int(last[0]), int(last[1]))
