"""What both engines of the decision log offer: the same write calls, from a thread (a
:class:`~concurrent.futures.Future`) or from an event loop (awaited), each completing
once the write is committed, and the same reads, deletes and lifecycle. An engine
implements ``_enqueue`` (how a command reaches its writer) and the methods below that
raise NotImplementedError."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from core.errors import StoreError
from selector.store import records as rec
from selector.store.dialect import Dialect
from selector.store.reader import LogReader

__all__ = ["DecisionLog", "unwritable"]

log = logging.getLogger(__name__)


class DecisionLog:
    """The decision log's write calls, over an engine's ``_submit`` / ``_submit_async``;
    its health, from its writer thread (``_thread``) and last failure (``_error``)."""

    dialect: Dialect  # how its reads order feedback rows
    where: str  # the log, for messages (never a password)
    #: the log's time, which decisions are stamped with (PostgreSQL stamps its rows with
    #: the database's own; a test or a simulation may give SQLite's another clock)
    clock: Callable[[], float] = staticmethod(time.time)
    _thread: threading.Thread | None = None
    _error: str | None = None

    def start(self) -> None:
        """Start the writer."""
        raise NotImplementedError

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        raise NotImplementedError

    def reader(self) -> LogReader:
        """Typed reads on a connection of their own (close it when done)."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        with self.reader() as r:
            return r.counts()

    def delete(self, ids: list[str]) -> int:
        """Remove decisions ``ids`` with everything that refers to them (retention); the
        number of feedback events removed."""
        raise NotImplementedError

    @property
    def healthy(self) -> tuple[bool, str]:
        if self._error:
            return False, self._error
        if self._thread is None or not self._thread.is_alive():
            return False, "the decision log writer is not running"
        return True, "ok"

    def submit_decision(self, record: rec.DecisionRecord) -> Future[None]:
        """From any thread: store ``record``; the future completes once it is committed."""
        return self._submit("decision", record)

    def submit_feedback(self, event: rec.FeedbackEvent) -> Future[rec.FeedbackResult]:
        """From any thread: store ``event`` (may fail with NotFound or Conflict)."""
        return self._submit("feedback", event)

    async def write_decision(self, record: rec.DecisionRecord) -> None:
        """From an event loop: store ``record``; returns once it is committed."""
        await self._submit_async("decision", record)

    async def write_feedback(self, event: rec.FeedbackEvent) -> rec.FeedbackResult:
        """From an event loop: store ``event``; returns once it is committed."""
        result: rec.FeedbackResult = await self._submit_async("feedback", event)
        return result

    async def write_conversation_outcome(
        self, event: rec.ConversationOutcome
    ) -> rec.ConversationResult:
        """From an event loop: credit a conversation's outcome to its decisions."""
        result: rec.ConversationResult = await self._submit_async("conversation", event)
        return result

    def _submit(self, kind: str, payload: Any) -> Future[Any]:
        """Queue a command from any thread (refused while the writer is not started)."""
        fut: Future[Any] = Future()
        if self._thread is None:
            fut.set_exception(_not_started())
        else:
            self._enqueue((kind, payload, fut))
        return fut

    def _submit_async(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        """Queue a command from an event loop; its future completes on that loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            fut.set_exception(_not_started())
        else:
            self._enqueue((kind, payload, (loop, fut)))
        return fut

    def _enqueue(self, op: tuple[str, Any, Any]) -> None:
        """Hand a command (kind, payload, who waits) to the writer."""
        raise NotImplementedError


def _not_started() -> StoreError:
    return StoreError("the decision log is not started")


def unwritable(exc: BaseException) -> str:
    """Why a record no write could take (a bug's error, not the database's) was refused:
    its waiter is answered with this, the writer goes on."""
    log.exception("the decision log could not store a record", exc_info=exc)
    return f"the decision log could not store the record ({type(exc).__name__}: {exc})"
