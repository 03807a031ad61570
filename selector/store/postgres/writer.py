"""The decision log's writer on PostgreSQL: every decision and feedback event committed
before it is acknowledged, in groups.

One thread owns one connection. The commands queued meanwhile (up to 512) share one
transaction and one commit; each event runs in a savepoint of its own, so one refused
(an unknown decision, a second different outcome) undoes nothing else. A waiter's future
completes only after the commit. When the commit fails (the server went away), every
command of the batch fails with a :class:`StoreError`, nothing is acknowledged, and the
next batch reconnects. The writes themselves are :mod:`selector.store.postgres.statements`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import Any

from core.errors import ConflictError, NotFoundError, StoreError
from selector.store.commands import LogWrites
from selector.store.postgres import statements as sql
from selector.store.postgres.schema import prepare
from selector.store.waiters import Waiter, resolve

__all__ = ["PostgresLog"]

log = logging.getLogger("selector.store")

_BATCH = 512  # commands committed together at most
_Op = tuple[str, Any, Waiter]  # a queued command: kind, payload, who waits


class PostgresLog(LogWrites):
    """The decision log's writes on the PostgreSQL database at ``url``."""

    def __init__(self, url: str, join_window_s: float = 86_400.0) -> None:
        import psycopg

        self.url = url
        self.join_window_s = join_window_s
        self.commits = 0  # transactions committed (each holds a batch)
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._error: str | None = None
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                self.schema_found = prepare(conn, _where(url))
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the decision log at {_where(url)}: {exc}") from exc

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
    def _submit(self, kind: str, payload: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        if self._thread is None:
            fut.set_exception(StoreError("the decision log is not started"))
        else:
            self._queue.put((kind, payload, fut))
        return fut

    def _submit_async(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            fut.set_exception(StoreError("the decision log is not started"))
        else:
            self._queue.put((kind, payload, (loop, fut)))
        return fut

    # -- the writer thread -------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
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

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
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
                for kind, payload, waiter in batch:
                    if kind != "decision":
                        results.append((waiter, *self._event(conn, kind, payload)))
            self.commits += 1
            self._error = None
        except psycopg.IntegrityError as exc:  # a record refused: the others, one by one
            if len(batch) > 1:
                return [r for op in batch for r in self._write_batch([op])]
            err = StoreError(f"the decision log refused the record: {exc}")
            results = [(w, None, err) for _, _, w in batch]
        except psycopg.Error as exc:
            self._error = f"decision log write failed: {exc}"
            log.error("%s", self._error)
            with suppress(Exception):
                self._conn.close()
            err = StoreError(f"{self._error}; nothing from this request was acknowledged")
            results = [(w, None, err) for _, _, w in batch]
        return results

    def _event(self, conn: Any, kind: str, payload: Any) -> tuple[Any, BaseException | None]:
        """One feedback event or conversation outcome, in a savepoint of its own."""
        write: Callable[..., Any] = (
            sql.insert_conversation_outcome if kind == "conversation" else sql.insert_feedback
        )
        try:
            with conn.transaction():
                return write(conn, payload, self.join_window_s), None
        except (NotFoundError, ConflictError) as exc:
            return None, exc


def _where(url: str) -> str:
    """The database of ``url`` without its password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
