"""The asyncio client (``httpx.AsyncClient``), for async gateways (LiteLLM's Router and
proxy)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from model_selector_gateway.results import Accepted, Decision, SelectorUnavailableError
from model_selector_gateway.wire import (
    ClientBase,
    catalog_names,
    conversation_body,
    decision_id_of,
    feedback_body,
    left,
    route_body,
    wait_or_raise,
)

__all__ = ["AsyncSelectorClient"]


class AsyncSelectorClient(ClientBase):
    """Asks the service which model answers, and reports how it went.

    The same methods as :class:`~model_selector_gateway.SelectorClient`, awaited.
    """

    http: httpx.AsyncClient

    def make_http(self, base_url: str, headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, headers=headers, trust_env=False)

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None, budget_s: float
    ) -> httpx.Response:
        """One call within ``budget_s`` (cancelled when it passes), connection failures
        retried; a failure to get any answer is counted by the breaker and raised."""
        self._admit(path)
        ends = time.monotonic() + budget_s
        try:
            async with asyncio.timeout(budget_s):
                for delay in self.options.delays():
                    try:
                        return await self.http.request(method, path, json=body, timeout=left(ends))
                    except httpx.HTTPError as exc:
                        await asyncio.sleep(wait_or_raise(path, exc, delay, ends))
        except TimeoutError as exc:
            self.breaker.failed()
            raise SelectorUnavailableError(f"{path}: no answer within {budget_s:g} s") from exc
        except SelectorUnavailableError:
            self.breaker.failed()
            raise
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
            answer = await self._send("POST", "/v1/route", body, self.options.timeout_s)
            return self._decided(answer)
        except SelectorUnavailableError as exc:
            return self._fallback(candidates, exc)

    async def report_call(self, decision: Decision | str | None, **fields: Any) -> Accepted | None:
        """A call's result (``model`` if not the decided one, ``latency_ms``, ``error``,
        ``prompt_tokens``, ``completion_tokens``, ``cost_usd``); ``None`` when there is
        no decision to report against (the client's own, or ``None``)."""
        decision_id = decision_id_of(decision)
        if decision_id is None:
            return None
        body = feedback_body(decision_id, **fields)
        budget = self.options.feedback_timeout_s
        return self._accepted(await self._send("POST", "/v1/feedback", body, budget))

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
        budget = self.options.feedback_timeout_s
        return self._accepted(await self._send("POST", "/v1/feedback", body, budget))

    async def catalog(self) -> tuple[str, ...]:
        """The names of the service's enabled catalog models (``GET /v1/models``)."""
        budget = self.options.feedback_timeout_s
        return self._read(await self._send("GET", "/v1/models", None, budget), catalog_names)

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncSelectorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
