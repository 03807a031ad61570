"""What the sync and async clients share: their options, the request bodies, the retry
schedule, and how an answer becomes a result or an error.

Only connection failures are retried (the request never reached the service, so nothing
was decided or stored twice); a read timeout, a 5xx or a 4xx is not. ``timeout_s`` is a
deadline for the whole call: connecting, every read, the retries and the waits between
them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from model_selector_gateway.breaker import Breaker
from model_selector_gateway.results import (
    Accepted,
    Decision,
    SelectorRejectedError,
    SelectorUnavailableError,
    accepted_from,
    decision_from,
    default_decision,
)

__all__ = [
    "RETRYABLE",
    "ClientBase",
    "Options",
    "catalog_names",
    "conversation_body",
    "decision_id_of",
    "feedback_body",
    "headers",
    "left",
    "log",
    "route_body",
    "wait_or_raise",
]

log = logging.getLogger("selector.client")
T = TypeVar("T")

# the request did not reach the service: retrying cannot decide or store anything twice
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass(frozen=True, slots=True)
class Options:
    """How a client talks to the service.

    - ``timeout_s``: the deadline of a route call, from its start to its answer: the
      connection, every read, retries and back-off included (a decision is on the
      gateway's hot path);
    - ``feedback_timeout_s``: the same for feedback, which is not;
    - ``default_model``: the model to answer with when the service cannot decide (``None``:
      raise :class:`SelectorUnavailableError` instead);
    - ``retries``, ``backoff_s``: connection failures are retried after ``backoff_s``,
      then twice that, and so on, while the deadline allows;
    - ``breaker_failures``, ``breaker_cooldown_s``: after that many calls in a row that
      could not be answered, the client answers without the service for the cool-down,
      then lets one call through as a probe (:mod:`model_selector_gateway.breaker`;
      ``breaker_failures=0``: no breaker).
    """

    timeout_s: float = 0.25
    feedback_timeout_s: float = 5.0
    default_model: str | None = None
    retries: int = 2
    backoff_s: float = 0.02
    breaker_failures: int = 3
    breaker_cooldown_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("timeout_s", "feedback_timeout_s", "backoff_s", "breaker_cooldown_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number of seconds, not {value!r}")
            if not value >= 0 or (name != "backoff_s" and value == 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, not {self.retries!r}")
        if self.breaker_failures < 0:
            raise ValueError(
                f"breaker_failures must be 0 (no breaker) or more, not {self.breaker_failures!r}"
            )
        if self.default_model == "":
            raise ValueError("default_model is empty: name a catalog model, or pass None")

    def delays(self) -> Iterator[float | None]:
        """The wait before each retry; ``None`` after the last attempt."""
        for i in range(self.retries):
            yield self.backoff_s * 2**i
        yield None


def left(deadline: float) -> float:
    """What remains until ``deadline`` (at least a millisecond, for the last attempt)."""
    return max(deadline - time.monotonic(), 1e-3)


def wait_or_raise(path: str, exc: Exception, delay: float | None, deadline: float) -> float:
    """How long to wait before retrying after ``exc``; raises
    :class:`SelectorUnavailableError` when it may not be retried: it may have reached the
    service, or it was the last attempt, or the wait would pass the deadline."""
    retry = isinstance(exc, RETRYABLE) and delay is not None
    if not retry or delay is None or time.monotonic() + delay >= deadline:
        raise SelectorUnavailableError(f"{path}: {exc!r}") from exc
    return delay


class ClientBase:
    """What both clients hold: their :class:`Options`, their :class:`Breaker` and an
    httpx client (``http``, made by the subclass's ``make_http`` unless one is given,
    and then not closed by it)."""

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
        self.breaker = Breaker(self.options.breaker_failures, self.options.breaker_cooldown_s)
        self._own = http is None
        self.http = http or self.make_http(base_url, headers(token))

    @property
    def breaker_state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (:class:`Breaker`)."""
        return self.breaker.state

    def make_http(self, base_url: str, headers: dict[str, str]) -> Any:
        raise NotImplementedError

    def _admit(self, path: str) -> None:
        if not self.breaker.admit():
            raise SelectorUnavailableError(f"{path}: the client's breaker is open")

    def _read(self, response: httpx.Response, parse: Callable[[dict[str, Any]], T]) -> T:
        """The result in an answer. A 5xx or a body the client cannot use is a failure of
        the service (the breaker counts it); a 4xx is a refusal of the request, raised as
        :class:`SelectorRejectedError` (the service is up)."""
        try:
            result = parse(_body(response))
        except SelectorRejectedError:
            self.breaker.succeeded()
            raise
        except SelectorUnavailableError:
            self.breaker.failed()
            raise
        self.breaker.succeeded()
        return result

    def _decided(self, response: httpx.Response) -> Decision:
        return self._read(response, decision_from)

    def _accepted(self, response: httpx.Response) -> Accepted:
        return self._read(response, accepted_from)

    def _fallback(self, candidates: list[str] | None, error: Exception) -> Decision:
        """The default model's decision when the service could not decide; raises the
        error when the client has no default."""
        if self.options.default_model is None:
            raise error
        decision = default_decision(self.options.default_model, candidates, str(error))
        if self.breaker.state == "closed":  # while open, the breaker's own line says it
            log.warning("selector unavailable (%s): %s answers", error, decision.model)
        return decision


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
    """A ``POST /v1/route`` body: the conversation, and whichever optional fields are set.
    A message's content is sent as text (or its parts), ``None`` as an empty string."""
    if messages is not None:
        messages = [
            {"role": m["role"], "content": "" if m.get("content") is None else m["content"]}
            for m in messages
        ]
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
    if status >= 500 or not isinstance(body, dict) or not 200 <= status < 500:
        raise SelectorUnavailableError(f"the service answered {status}: {response.text[:200]!r}")
    if status >= 400:
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        raise SelectorRejectedError(
            status,
            str(error.get("code", "rejected")),
            str(error.get("message", response.text[:200])),
            error.get("fields") if isinstance(error.get("fields"), list) else None,
        )
    return body


def catalog_names(body: dict[str, Any]) -> tuple[str, ...]:
    """The enabled models' names in a ``GET /v1/models`` answer."""
    models = body.get("models")
    if not isinstance(models, list) or not all(
        isinstance(m, dict) and isinstance(m.get("name"), str) for m in models
    ):
        raise SelectorUnavailableError(f"unexpected answer to GET /v1/models: {str(body)[:200]!r}")
    return tuple(m["name"] for m in models if m.get("enabled", True) is not False)
