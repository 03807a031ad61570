"""The decision log: every decision and every feedback event, stored before the answer.

SQLite in WAL mode, committed in groups: the commands queued during one turn of the
event loop share one transaction, and each request is answered only after its
commit. The checks that must not race (a duplicate event, a second, different
outcome) run inside that transaction, one command at a time. Two modes:

- ``sync="normal"`` (default): the loop's own thread writes each batch; a commit is an
  append to the WAL, without fsync. It survives a crash or ``kill -9`` of the process,
  not a power loss. WAL checkpoints (which do fsync) run on a background thread, so the
  loop never waits for the disk. Each round copies most frames beside the loop's
  writes, then the few left while the loop hands its batches to that thread (which
  commits them right after): a checkpoint with no write beside it copies every frame,
  so the next commit starts the WAL file over; the file stays about a second of writes
  long under load (when every checkpoint ran beside writes, it grew without bound).
- ``sync="full"``: a writer thread commits each batch with an fsync while the loop
  goes on serving; it survives a power loss too, at a cost in throughput.

Tables: :mod:`selector.store.schema`; the statements: :mod:`selector.store.statements`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

from core.errors import ConflictError, NotFoundError, StoreError
from selector.store import statements as sql
from selector.store.base import DecisionLog, unwritable
from selector.store.reader import LogReader
from selector.store.schema import check, connect, open_failure, prepare
from selector.store.waiters import Waiter, resolve

__all__ = ["SQLiteLog"]

log = logging.getLogger(__name__)

_BATCH = 512  # commands committed together at most
_CHECKPOINT_EVERY_S = 1.0
_Op = tuple[str, Any, Waiter]  # a queued command: kind, payload, who waits


class SQLiteLog(DecisionLog):
    """SQLite decision log, committed in groups (see the module docstring)."""

    dialect = LogReader.dialect  # how its reads order feedback rows

    def __init__(
        self,
        path: Path,
        sync: str = "normal",
        join_window_s: float = 86_400.0,
        clock: Callable[[], float] = time.time,
        check_s: float = 0.0,
    ) -> None:
        """``check_s``: check every page of the log at open, for up to this many seconds
        (:func:`~selector.store.schema.check`; 0: no check)."""
        if sync not in {"normal", "full"}:
            raise ValueError("sync must be 'normal' or 'full'")
        self.path = path
        self.where = str(path)
        self.sync = sync
        self.join_window_s = join_window_s
        self.clock = clock
        self._queue: queue.SimpleQueue[list[_Op] | None] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Op]] = {}
        self._inline: sqlite3.Connection | None = None
        # held by whoever writes on the loop's connection, by checkpoints and by retention;
        # while one of those two waits for it, the loop hands its batches to the thread
        # instead of taking the lock (the loop never waits on the disk)
        self._write_lock = threading.Lock()
        self._handoffs = 0  # how many wait for the write lock (checkpoint, retention)
        self._handoffs_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as conn:
                self.schema_found = prepare(conn, str(path))
                if check_s > 0 and not check(conn, path, check_s):
                    log.warning(
                        "the decision log at %s was checked for %g s (SELECTOR_DB_CHECK_S) "
                        "and not to its end: it is large; check it with `sqlite3 %s "
                        "'PRAGMA quick_check'` while the service is stopped",
                        path,
                        check_s,
                        path,
                    )
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(open_failure(path, exc)) from exc

    # -- lifecycle -----------------------------------------------------------------
    def _connect(self, autocheckpoint: bool = True) -> sqlite3.Connection:
        return connect(self.path, self.sync, autocheckpoint)

    def start(self) -> None:
        """Open the write connections and start the background thread."""
        if self.sync == "normal" and self._inline is None:
            self._inline = self._connect(autocheckpoint=False)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self._inline is not None:
            with suppress(sqlite3.Error):
                self._inline.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._inline.close()
            self._inline = None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the log's write lock (from a thread that is not the event loop's) for a
        short write of another connection, e.g. a retention batch: meanwhile the loop
        hands its batches to the log's thread, which commits them right after."""
        with self._handoff(), self._write_lock:
            yield

    @contextmanager
    def _handoff(self) -> Iterator[None]:
        """While this is held, the loop hands its batches to the log's thread."""
        with self._handoffs_lock:
            self._handoffs += 1
        try:
            yield
        finally:
            with self._handoffs_lock:
                self._handoffs -= 1

    # -- writes ------------------------------------------------------------------
    def _enqueue(self, op: _Op) -> None:
        """From another thread (or with sync='full'): the writer thread commits it."""
        self._queue.put([op])

    def _submit_async(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        """Queue a command; those queued in one turn of the loop are written together."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            fut.set_exception(StoreError("the decision log is not started"))
            return fut
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append((kind, payload, (loop, fut)))
        return fut

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        ops = self._pending.pop(loop, None)
        if not ops:
            return
        if (
            self._inline is not None
            and not self._handoffs
            and self._write_lock.acquire(blocking=False)
        ):
            try:
                results = self._write_batch(self._inline, ops)
            finally:
                self._write_lock.release()
            resolve(results, on_loop=True)
        else:  # a checkpoint or the thread's own write is running: it commits these next
            self._queue.put(ops)

    def _run(self) -> None:
        """The background thread: batches from other threads (and, with sync='full',
        from event loops); with sync='normal', the WAL checkpoints."""
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            self._error = f"cannot open the decision log: {exc}"
            return
        last_checkpoint = time.monotonic()
        while True:
            try:
                first = self._queue.get(timeout=_CHECKPOINT_EVERY_S)
            except queue.Empty:
                first = []
            now = time.monotonic()
            if self._inline is not None and now - last_checkpoint >= _CHECKPOINT_EVERY_S:
                with suppress(sqlite3.Error):  # most frames, beside the loop's writes
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                # the few left, with no write beside them
                with self._handoff(), self._write_lock, suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                last_checkpoint = now
            if first == [] and self._error is not None:
                self._check_writable(conn)
            if first is None:
                break
            batch = list(first)
            stop = False
            while batch and len(batch) < _BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.extend(nxt)
            if batch:
                with self._write_lock:
                    results = self._write_batch(conn, batch)
                resolve(results, on_loop=False)
            if stop:
                break
        conn.close()

    def _check_writable(self, conn: sqlite3.Connection) -> None:
        """While the last write failed (a full disk, say), once an idle second: a write
        of its own, so health says the log takes writes again before any client writes
        (a load balancer that stopped sending on ``/readyz`` 503 starts again)."""
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql.MARK_WRITABLE, (repr(self.clock()),))
                conn.execute("COMMIT")
            except sqlite3.Error:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                return
        log.info("the decision log at %s takes writes again", self.where)
        self._error = None

    def _write_batch(
        self, conn: sqlite3.Connection, batch: list[_Op]
    ) -> list[tuple[Waiter, Any, BaseException | None]]:
        """Run ``batch`` in one transaction; return each command's result or error."""
        results: list[tuple[Waiter, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Decisions first, in one statement: feedback never shares a batch with its
            # own decision, since it is sent only after the decision was acknowledged.
            decisions = [op for op in batch if op[0] == "decision"]
            if decisions:
                sql.insert_decisions(conn, [r for _, r, _ in decisions])
                results.extend((w, None, None) for _, _, w in decisions)
            for kind, payload, waiter in batch:
                if kind == "decision":
                    continue
                # both refuse an event (NotFound, Conflict) before writing any of its rows
                write: Callable[..., Any] = sql.insert_feedback
                if kind == "conversation":
                    write = sql.insert_conversation_outcome
                try:
                    fed = write(conn, payload, self.clock(), self.join_window_s)
                    results.append((waiter, fed, None))
                except (NotFoundError, ConflictError) as exc:
                    results.append((waiter, None, exc))
            conn.execute("COMMIT")
            self._error = None
        except Exception as exc:  # the database's error, or a record no write can take
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if len(batch) > 1:  # one bad command must not fail the others: one by one
                return [r for op in batch for r in self._write_batch(conn, [op])]
            if isinstance(exc, sqlite3.IntegrityError):
                message = f"the decision log refused the record: {exc}"
            elif isinstance(exc, sqlite3.Error):
                self._error = message = f"decision log write failed: {exc}"
                log.error("%s", message)
            else:
                message = unwritable(exc)
            err = StoreError(f"{message}; nothing from this request was acknowledged")
            results = [(w, None, err) for _, _, w in batch]
        return results

    # -- reads and deletes ---------------------------------------------------------
    def reader(self) -> LogReader:
        """Typed reads on a read-only connection of their own (close it when done)."""
        return LogReader(self.path)

    def delete(self, ids: list[str]) -> int:
        """Remove decisions ``ids`` with everything that refers to them, in one short
        transaction beside the traffic (retention); the number of feedback events
        removed."""
        with closing(self._connect()) as conn, self.exclusive():
            return sql.delete_decisions(conn, ids)
