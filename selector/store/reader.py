"""Every read of the decision log, typed, on a read-only connection (WAL lets it read
while the writer writes), grouped by who asks: the online layer
(:mod:`~selector.store.learner_reads`), export, training and off-policy evaluation
(:class:`~selector.store.joined.JoinedReads`), retention
(:mod:`~selector.store.pruning_reads`), and the service itself (here: the recent call
results its latency tracker warms up from, the tables' sizes). Each consumer names the
group it reads through; :class:`LogReader` is a connection offering all of them.

A row the reads cannot make sense of (JSON an older build or a hand wrote differently,
text where a number belongs) raises :class:`~selector.reward.UnusableRecordError` or a
parse error from the method that reads it, so its caller can skip that one decision;
:meth:`JoinedReads.joined` skips and counts such rows itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selector.store.joined import JoinedReads
from selector.store.learner_reads import LearnerReads
from selector.store.pruning_reads import PruningReads

__all__ = ["LogReader"]

_RECENT_CALLS = """
SELECT f.ts, COALESCE(f.model, d.model), f.latency_ms, f.error IS NOT NULL
FROM feedback f JOIN decisions d USING (decision_id)
WHERE f.ts >= ? AND (f.latency_ms IS NOT NULL OR f.error IS NOT NULL)
ORDER BY f.ts
"""


class LogReader(LearnerReads, JoinedReads, PruningReads):
    """Typed reads of the log at ``path``; close it (or use it in ``with``) when done.
    A feedback row's place in the log's order (``row``) is the engine's
    (:class:`~selector.store.dialect.Dialect`); the PostgreSQL reader is
    :class:`selector.store.postgres.reader.PostgresReader`."""

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
