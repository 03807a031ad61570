"""What the sync and async clients share: the request bodies, the retry schedule, and how
an answer becomes a result or an error. Only connection failures are retried (the request
never reached the service, so nothing was decided or stored twice); a read timeout, a
5xx or a 4xx is not."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from selector.client.results import (
    Accepted,
    Decision,
    SelectorRejectedError,
    SelectorUnavailableError,
    decision_from,
    default_decision,
)

__all__ = [
    "RETRYABLE",
    "ClientBase",
    "Options",
    "accepted",
    "conversation_body",
    "decided",
    "decision_id_of",
    "fallback",
    "feedback_body",
    "headers",
    "left",
    "log",
    "route_body",
    "wait_or_raise",
]

log = logging.getLogger("selector.client")

# the request did not reach the service: retrying cannot decide or store anything twice
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass(frozen=True, slots=True)
class Options:
    """How a client talks to the service.

    - ``timeout_s``: the route call's budget, attempts and back-off included (a decision
      is on the gateway's hot path);
    - ``feedback_timeout_s``: the same for feedback, which is not;
    - ``default_model``: the model to answer with when the service cannot decide (``None``:
      raise :class:`SelectorUnavailableError` instead);
    - ``retries``, ``backoff_s``: connection failures are retried after ``backoff_s``,
      then twice that, and so on, while the budget lasts.
    """

    timeout_s: float = 0.25
    feedback_timeout_s: float = 5.0
    default_model: str | None = None
    retries: int = 2
    backoff_s: float = 0.02

    def __post_init__(self) -> None:
        for name in ("timeout_s", "feedback_timeout_s", "backoff_s"):
            value = getattr(self, name)
            if not value >= 0 or (name != "backoff_s" and value == 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, not {self.retries!r}")
        if self.default_model == "":
            raise ValueError("default_model is empty: name a catalog model, or pass None")

    def delays(self) -> Iterator[float | None]:
        """The wait before each retry; ``None`` after the last attempt."""
        for i in range(self.retries):
            yield self.backoff_s * 2**i
        yield None


def left(started: float, budget_s: float) -> float:
    """What remains of a call's budget (at least a millisecond, for the last attempt)."""
    return max(budget_s - (time.monotonic() - started), 1e-3)


def wait_or_raise(
    path: str, exc: httpx.HTTPError, delay: float | None, started: float, budget_s: float
) -> float:
    """How long to wait before retrying after ``exc``; raises
    :class:`SelectorUnavailableError` when it may not be retried: it may have reached the
    service, or it was the last attempt, or the wait would pass the budget."""
    retry = isinstance(exc, RETRYABLE) and delay is not None
    if not retry or delay is None or time.monotonic() - started + delay >= budget_s:
        raise SelectorUnavailableError(f"{path}: {exc!r}") from exc
    return delay


class ClientBase:
    """What both clients hold: their :class:`Options` and an httpx client (``http``, made
    by the subclass's ``make_http`` unless one is given, and then not closed by it)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        options: Options | None = None,
        http: Any = None,
        **option_fields: Any,
    ) -> None:
        self.options = options or Options(**option_fields)
        self._own = http is None
        self.http = http or self.make_http(base_url, headers(token))

    def make_http(self, base_url: str, headers: dict[str, str]) -> Any:
        raise NotImplementedError


def headers(token: str | None) -> dict[str, str]:
    """The request headers: the service's token, if it has one (an empty one is an
    error, not "no auth")."""
    if token is None:
        return {}
    if not token.strip():
        raise ValueError("token is empty: pass the service's SELECTOR_API_TOKEN, or None")
    return {"authorization": f"Bearer {token}"}


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def route_body(
    conversation_id: str, messages: list[dict[str, Any]] | None, **fields: Any
) -> dict[str, Any]:
    """A ``POST /v1/route`` body: the conversation, and whichever optional fields are set."""
    if messages is not None:
        messages = [{"role": m["role"], "content": m.get("content")} for m in messages]
    return _drop_none({"conversation_id": conversation_id, "messages": messages, **fields})


def decision_id_of(decision: Decision | str | None) -> str | None:
    """The id to report against: ``None`` when the service did not decide."""
    if decision is None or isinstance(decision, str):
        return decision
    return decision.decision_id


def feedback_body(decision_id: str, **fields: Any) -> dict[str, Any]:
    """A ``POST /v1/feedback`` body for one decision."""
    return _drop_none({"decision_id": decision_id, **fields})


def conversation_body(
    conversation_id: str, resolved: bool | None, reward: float | None
) -> dict[str, Any]:
    """A ``POST /v1/feedback`` body for a whole conversation's outcome."""
    return _drop_none({"conversation_id": conversation_id, "resolved": resolved, "reward": reward})


def _body(response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if status >= 500 or not isinstance(body, dict):
        raise SelectorUnavailableError(f"the service answered {status}: {response.text[:200]!r}")
    if status >= 400:
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        raise SelectorRejectedError(
            status,
            str(error.get("code", "rejected")),
            str(error.get("message", response.text[:200])),
            error.get("fields"),
        )
    return body


def decided(response: httpx.Response) -> Decision:
    """The decision in a route answer, or the error it carries."""
    return decision_from(_body(response))


def accepted(response: httpx.Response) -> Accepted:
    """The acknowledgement in a feedback answer, or the error it carries."""
    body = _body(response)
    return Accepted(
        decision_id=body.get("decision_id"),
        conversation_id=body.get("conversation_id"),
        duplicate=bool(body.get("duplicate", False)),
        late=bool(body.get("late", False)),
        override=bool(body.get("override", False)),
        credited=tuple(body.get("credited", ())),
    )


def fallback(options: Options, candidates: list[str] | None, error: Exception) -> Decision:
    """The default model's decision when the service could not decide; raises the
    error when the client has no default."""
    if options.default_model is None:
        raise error
    decision = default_decision(options.default_model, candidates, str(error))
    log.warning("selector unavailable (%s): %s answers", error, decision.model)
    return decision
