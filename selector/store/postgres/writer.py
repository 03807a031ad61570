"""The decision log's writer on PostgreSQL: every decision and feedback event committed
before it is acknowledged, in groups.

One thread owns one connection. The commands queued meanwhile (up to 512) share one
transaction and one commit; an event that is refused (an unknown decision, a second
different outcome) leaves nothing behind and undoes nothing else. A waiter's future
completes only after the commit. When the commit fails (the server went away), every
command of the batch fails with a :class:`StoreError`, nothing is acknowledged, and the
next batch reconnects. While idle, the thread checks the database every second, so
health says it cannot be reached before the next write fails, and that it is back
before any write succeeds (a load balancer that stops sending on ``/readyz`` 503 starts
again). The writes themselves are :mod:`selector.store.postgres.statements`.
"""

from __future__ import annotations

import logging
import queue
import threading
from contextlib import suppress
from typing import Any

from core.errors import ConflictError, NotFoundError, StoreError
from selector.store.base import DecisionLog, unwritable
from selector.store.postgres import statements as sql
from selector.store.postgres.reader import POSTGRES, PostgresReader, connect, where
from selector.store.postgres.schema import prepare
from selector.store.waiters import Waiter, resolve

__all__ = ["CHANNEL", "PostgresLog"]

log = logging.getLogger(__name__)

_BATCH = 512  # commands committed together at most
_PING_S = 1.0  # an idle writer checks the database this often
#: notified at the commit of every batch that stored feedback (LISTEN wakes the replicas)
CHANNEL = "selector_log"
_Op = tuple[str, Any, Waiter]  # a queued command: kind, payload, who waits


class PostgresLog(DecisionLog):
    """The decision log's writes on the PostgreSQL database at ``url``; ``origin`` names
    this replica on the feedback rows it stores."""

    dialect = POSTGRES  # how its reads order feedback rows

    def __init__(self, url: str, join_window_s: float = 86_400.0, origin: str = "") -> None:
        import psycopg

        self.url = url
        self.where = where(url)
        self.origin = origin or None
        self.join_window_s = join_window_s
        self.commits = 0  # transactions committed (each holds a batch)
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._error: str | None = None
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                self.schema_found = prepare(conn, self.where)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the decision log at {self.where}: {exc}") from exc

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    # -- writes ------------------------------------------------------------------
    def _enqueue(self, op: _Op) -> None:
        self._queue.put(op)

    # -- the writer thread -------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=_PING_S)
            except queue.Empty:
                self._ping()
                continue
            if first is None:
                break
            batch, stop = [first], False
            while len(batch) < _BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            resolve(self._write_batch(batch), on_loop=False)
            if stop:
                break
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()

    def _ping(self) -> None:
        """While idle: find out whether the database is still (or again) reachable, so
        that health says so before the next write; after a failed write, whether it
        takes writes again (a write of its own: a database up on a full disk answers
        reads)."""
        import psycopg

        try:
            self._connection().execute(sql.MARK_WRITABLE if self._error else "SELECT 1")
            if self._error is not None:
                log.info("the decision log at %s takes writes again", self.where)
            self._error = None
        except psycopg.Error as exc:
            if self._error is None:
                log.error("the decision log at %s cannot be reached: %s", self.where, exc)
            self._error = f"the decision log at {self.where} cannot be reached: {exc}"
            with suppress(Exception):
                self._conn.close()

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        return self._conn

    def _write_batch(self, batch: list[_Op]) -> list[tuple[Waiter, Any, BaseException | None]]:
        """Run ``batch`` in one transaction, each event in a savepoint; each command's
        result or error, errors for all when the commit fails."""
        import psycopg

        results: list[tuple[Waiter, Any, BaseException | None]] = []
        try:
            conn = self._connection()
            with conn.transaction():
                decisions = [op for op in batch if op[0] == "decision"]
                if decisions:
                    sql.insert_decisions(conn, [r for _, r, _ in decisions])
                    results.extend((w, None, None) for _, _, w in decisions)
                events = [op for op in batch if op[0] != "decision"]
                results.extend(self._events(conn, events))
                if events:
                    conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            self.commits += 1
            self._error = None
        except psycopg.IntegrityError as exc:  # a record refused: the others, one by one
            if len(batch) > 1:
                return [r for op in batch for r in self._write_batch([op])]
            err = StoreError(f"the decision log refused the record: {exc}")
            results = [(w, None, err) for _, _, w in batch]
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.DataError) and len(batch) > 1:  # one record's fault
                return [r for op in batch for r in self._write_batch([op])]
            self._error = f"decision log write failed: {exc}"
            log.error("%s", self._error)
            with suppress(Exception):
                self._conn.close()
            err = StoreError(f"{self._error}; nothing from this request was acknowledged")
            results = [(w, None, err) for _, _, w in batch]
        except Exception as exc:  # a record no write can take: the others, one by one
            if len(batch) > 1:
                return [r for op in batch for r in self._write_batch([op])]
            err = StoreError(f"{unwritable(exc)}; nothing from this request was acknowledged")
            results = [(w, None, err) for _, _, w in batch]
        return results

    def _events(self, conn: Any, events: list[_Op]) -> list[tuple[Waiter, Any, Any]]:
        """Each event's result or the error that refused it: runs of feedback events
        sent together (:func:`~selector.store.postgres.statements.insert_feedbacks`), a
        conversation's outcome in a savepoint of its own."""
        out: list[tuple[Waiter, Any, Any]] = []
        run: list[_Op] = []
        for i, op in enumerate(events):
            if op[0] == "feedback":
                run.append(op)
            if run and (op[0] != "feedback" or i == len(events) - 1):
                out.extend(self._feedback_run(conn, run))
                run = []
            if op[0] == "conversation":
                out.append(self._conversation(conn, op))
        return out

    def _feedback_run(self, conn: Any, run: list[_Op]) -> list[tuple[Waiter, Any, Any]]:
        events = [payload for _, payload, _ in run]
        found = sql.insert_feedbacks(conn, events, self.join_window_s, self.origin)
        return [
            (w, None, r) if isinstance(r, Exception) else (w, r, None)
            for (_, _, w), r in zip(run, found, strict=True)
        ]

    def _conversation(self, conn: Any, op: _Op) -> tuple[Waiter, Any, Any]:
        _, outcome, waiter = op
        try:
            with conn.transaction():
                credit = sql.insert_conversation_outcome
                return waiter, credit(conn, outcome, self.join_window_s, self.origin), None
        except (NotFoundError, ConflictError) as exc:
            return waiter, None, exc

    # -- reads and deletes ---------------------------------------------------------
    def reader(self) -> PostgresReader:
        """Typed reads on a connection of their own (close it when done)."""
        return PostgresReader(self.url)

    def delete(self, ids: list[str]) -> int:
        """Remove decisions ``ids`` with everything that refers to them, in one
        transaction (retention); the number of feedback events removed."""
        with connect(self.url) as conn, conn.transaction():
            return sql.delete_decisions(conn, ids)
