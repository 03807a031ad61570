"""What both engines of the decision log offer to write with: the same five calls, from a
thread (a :class:`~concurrent.futures.Future`) or from an event loop (awaited), each
completing once the write is committed. An engine implements ``_submit`` and
``_submit_async``: how a command reaches its writer."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from selector.store import records as rec

__all__ = ["LogWrites"]


class LogWrites:
    """The decision log's write calls, over an engine's ``_submit`` / ``_submit_async``;
    its health, from its writer thread (``_thread``) and last failure (``_error``)."""

    _thread: threading.Thread | None = None
    _error: str | None = None

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
        raise NotImplementedError

    def _submit_async(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        raise NotImplementedError
