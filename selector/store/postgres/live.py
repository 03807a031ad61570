"""What replicas sharing a PostgreSQL log tell each other besides the log's records: the
call results the others stored (read in the log's order, after a position), who
holds each model's half-open probe (a lease in table ``probes``, taken by one replica
at a time, on the database's clock), and each one's spend per budget and period (table
``budget_spend``)."""

from __future__ import annotations

from typing import Any

from selector.store.postgres.cursor import Position
from selector.store.postgres.reader import LAST_ROW
from selector.store.postgres.statements import NOW

__all__ = ["claim_probe", "log_end", "others_results", "release_probe", "share_spend"]

_OTHERS = """
SELECT f.xid::text::bigint, f.seq, COALESCE(f.model, d.model), f.latency_ms,
       f.error IS NOT NULL
FROM feedback f JOIN decisions d USING (decision_id)
WHERE (f.xid, f.seq) > (%s::text::xid8, %s)
  AND f.xid < pg_snapshot_xmin(pg_current_snapshot())
  AND (f.latency_ms IS NOT NULL OR f.error IS NOT NULL) AND f.late = 0
  AND f.origin IS DISTINCT FROM %s
ORDER BY f.xid, f.seq LIMIT %s
"""
_CLAIM = f"""
INSERT INTO probes VALUES (%s, %s, {NOW} + %s)
ON CONFLICT (model) DO UPDATE SET holder = excluded.holder, until = excluded.until
WHERE probes.until < {NOW}
RETURNING holder
"""


_SPEND = """
INSERT INTO budget_spend VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (origin, ledger, period) DO UPDATE
SET spent = excluded.spent, decisions = excluded.decisions
"""
_OTHERS_SPEND = """
SELECT ledger, period, SUM(spent), SUM(decisions) FROM budget_spend
WHERE origin <> %s AND period = ANY(%s) GROUP BY ledger, period
"""


def share_spend(
    conn: Any, origin: str, own: list[tuple[str, int, float, int]]
) -> dict[tuple[str, int], tuple[float, int]]:
    """Store this replica's spend and decisions per (ledger, period) of ``own``, forget
    its rows of earlier periods, and return the others' sums for the same periods."""
    if not own:
        return {}
    with conn.transaction():
        for ledger, period, spent, decisions in own:
            conn.execute(_SPEND, (origin, ledger, period, spent, decisions))
        oldest = min(period for _, period, _, _ in own)
        conn.execute(
            "DELETE FROM budget_spend WHERE origin = %s AND period < %s", (origin, oldest - 1)
        )
        periods = sorted({period for _, period, _, _ in own})
        rows = conn.execute(_OTHERS_SPEND, (origin, periods)).fetchall()
    return {(str(r[0]), int(r[1])): (float(r[2]), int(r[3])) for r in rows}


def log_end(conn: Any) -> Position:
    """The position of the last feedback row of a finished transaction (where a replica
    starting now begins to read the others' results)."""
    found = conn.execute(LAST_ROW).fetchone()
    return Position() if found is None else Position(int(found[0]), int(found[1]))


def others_results(
    conn: Any, after: Position, origin: str, limit: int = 1000
) -> tuple[list[tuple[str, float | None, bool]], Position]:
    """The call results (model, latency_ms, error) replicas other than ``origin`` stored
    after ``after``, in the log's order, and the position after them."""
    rows = conn.execute(_OTHERS, (str(after.xid), after.seq, origin, limit)).fetchall()
    if not rows:
        return [], after
    last = rows[-1]
    return [(r[2], r[3], bool(r[4])) for r in rows], Position(int(last[0]), int(last[1]))


def claim_probe(conn: Any, model: str, holder: str, hold_s: float) -> bool:
    """Take ``model``'s probe lease for ``hold_s`` seconds unless another holds it."""
    return conn.execute(_CLAIM, (model, holder, hold_s)).fetchone() is not None


def release_probe(conn: Any, model: str, holder: str) -> None:
    """Give the lease back (its probe has ended), if ``holder`` still holds it."""
    conn.execute("UPDATE probes SET until = 0 WHERE model = %s AND holder = %s", (model, holder))
