"""The blocking client (``httpx.Client``), for scripts, jobs and threaded gateways."""

from __future__ import annotations

import time
from typing import Any

import httpx

from model_selector_gateway import deadline
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

__all__ = ["SelectorClient"]


class SelectorClient(ClientBase):
    """Asks the service which model answers, and reports how it went.

    >>> c = SelectorClient("http://127.0.0.1:9", default_model="small", retries=0)
    >>> d = c.route("c-1", [{"role": "user", "content": "hi"}], candidates=["big", "small"])
    >>> d.model, d.fallbacks, d.from_default
    ('small', ('big',), True)
    >>> c.close()
    """

    http: httpx.Client

    def make_http(self, base_url: str, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=base_url, headers=headers, transport=deadline.transport())

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, budget_s: float
    ) -> httpx.Response:
        """One call within ``budget_s``, connection failures retried; a failure to get
        any answer is counted by the breaker and raised."""
        self._admit(path)
        ends = time.monotonic() + budget_s
        try:
            with deadline.until(ends):
                for delay in self.options.delays():
                    try:
                        return self.http.request(method, path, json=body, timeout=left(ends))
                    except httpx.HTTPError as exc:
                        time.sleep(wait_or_raise(path, exc, delay, ends))
        except SelectorUnavailableError:
            self.breaker.failed()
            raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def route(
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
            return self._decided(self._send("POST", "/v1/route", body, self.options.timeout_s))
        except SelectorUnavailableError as exc:
            return self._fallback(candidates, exc)

    def report_call(self, decision: Decision | str | None, **fields: Any) -> Accepted | None:
        """A call's result (``model`` if not the decided one, ``latency_ms``, ``error``,
        ``prompt_tokens``, ``completion_tokens``, ``cost_usd``); ``None`` when there is
        no decision to report against (the client's own, or ``None``)."""
        decision_id = decision_id_of(decision)
        if decision_id is None:
            return None
        body = feedback_body(decision_id, **fields)
        budget = self.options.feedback_timeout_s
        return self._accepted(self._send("POST", "/v1/feedback", body, budget))

    def report_outcome(
        self,
        decision: Decision | str | None,
        *,
        resolved: bool | None = None,
        reward: float | None = None,
    ) -> Accepted | None:
        """The outcome of one decision (``resolved`` and/or a ``reward`` in [0, 1])."""
        return self.report_call(decision, resolved=resolved, reward=reward)

    def report_conversation(
        self, conversation_id: str, *, resolved: bool | None = None, reward: float | None = None
    ) -> Accepted:
        """The outcome of a whole conversation, credited to its decisions."""
        body = conversation_body(conversation_id, resolved, reward)
        budget = self.options.feedback_timeout_s
        return self._accepted(self._send("POST", "/v1/feedback", body, budget))

    def catalog(self) -> tuple[str, ...]:
        """The names of the service's enabled catalog models (``GET /v1/models``)."""
        budget = self.options.feedback_timeout_s
        return self._read(self._send("GET", "/v1/models", None, budget), catalog_names)

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> SelectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
