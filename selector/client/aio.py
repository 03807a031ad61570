"""The asyncio client (``httpx.AsyncClient``), for async gateways (LiteLLM's Router)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from selector.client.results import Accepted, Decision, SelectorUnavailableError
from selector.client.wire import (
    ClientBase,
    accepted,
    conversation_body,
    decided,
    decision_id_of,
    fallback,
    feedback_body,
    left,
    route_body,
    wait_or_raise,
)

__all__ = ["AsyncSelectorClient"]


class AsyncSelectorClient(ClientBase):
    """Asks the service which model answers, and reports how it went.

    The same methods as :class:`~selector.client.SelectorClient`, awaited.
    """

    http: httpx.AsyncClient

    def make_http(self, base_url: str, headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, headers=headers)

    async def _post(self, path: str, body: dict[str, Any], budget_s: float) -> httpx.Response:
        started = time.monotonic()
        for delay in self.options.delays():
            try:
                return await self.http.post(path, json=body, timeout=left(started, budget_s))
            except httpx.HTTPError as exc:
                await asyncio.sleep(wait_or_raise(path, exc, delay, started, budget_s))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def route(
        self,
        conversation_id: str,
        messages: list[dict[str, Any]] | None = None,
        *,
        candidates: list[str] | None = None,
        **fields: Any,
    ) -> Decision:
        """The model for this turn. ``fields`` are the optional route fields (``turns``,
        ``prompt_tokens``, ``max_latency_ms``, ``max_cost_usd``, ``intent``, ...)."""
        body = route_body(conversation_id, messages, candidates=candidates, **fields)
        try:
            return decided(await self._post("/v1/route", body, self.options.timeout_s))
        except SelectorUnavailableError as exc:
            return fallback(self.options, candidates, exc)

    async def report_call(self, decision: Decision | str | None, **fields: Any) -> Accepted | None:
        """A call's result (``model`` if not the decided one, ``latency_ms``, ``error``,
        ``prompt_tokens``, ``completion_tokens``, ``cost_usd``); ``None`` when there is
        no decision to report against (the client's own, or ``None``)."""
        decision_id = decision_id_of(decision)
        if decision_id is None:
            return None
        body = feedback_body(decision_id, **fields)
        return accepted(await self._post("/v1/feedback", body, self.options.feedback_timeout_s))

    async def report_outcome(
        self,
        decision: Decision | str | None,
        *,
        resolved: bool | None = None,
        reward: float | None = None,
    ) -> Accepted | None:
        """The outcome of one decision (``resolved`` and/or a ``reward`` in [0, 1])."""
        return await self.report_call(decision, resolved=resolved, reward=reward)

    async def report_conversation(
        self, conversation_id: str, *, resolved: bool | None = None, reward: float | None = None
    ) -> Accepted:
        """The outcome of a whole conversation, credited to its decisions."""
        body = conversation_body(conversation_id, resolved, reward)
        return accepted(await self._post("/v1/feedback", body, self.options.feedback_timeout_s))

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncSelectorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
