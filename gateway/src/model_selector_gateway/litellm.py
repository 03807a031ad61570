"""The selector inside LiteLLM's Router and proxy.

The selector chooses the *model*; LiteLLM still chooses the *deployment*. For each
async call to a model group, :class:`SelectorRouting` (a LiteLLM callback) receives the
group's healthy deployments, after LiteLLM's own cooldowns and health checks, and asks
``POST /v1/route`` which of their catalog models should answer; it hands back only that
model's deployments, among which LiteLLM's routing strategy, rpm/tpm limits and
balancing pick as usual. When LiteLLM retries the call, the next model of the same
decision is offered; when the group fails and LiteLLM falls back to another group, that
group gets a decision of its own. Everything a plain Router serves without a model group
(an explicit deployment, a deployment id, ``specific_deployment``, a provider model
name, a wildcard route) is left alone, as is any group with no catalog model, which
costs no route call.

:class:`SelectorFeedback` (a second callback) reports each attempt's result to
``POST /v1/feedback`` against its decision, under the catalog model's name. The
application reports the outcome later with :func:`decision_of` (the decision id of a
response) or by conversation.

The gateway never fails because the selector did: when it cannot be reached in time,
answers with an error or with anything unusable (bad JSON, missing fields, a model
outside the group), LiteLLM's own choice serves, with one log line.

A deployment's catalog model is its ``model_info.selector_model``, else its
``litellm_params.model`` after the provider prefix (``openai/gpt-5`` is ``gpt-5``).
Only async calls are routed: LiteLLM runs deployment filters on its async path only,
so a sync ``router.completion`` is served by LiteLLM's own choice (logged once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger

from model_selector_gateway.aio import AsyncSelectorClient
from model_selector_gateway.calls import Call, Calls
from model_selector_gateway.results import (
    Decision,
    SelectorRejectedError,
    SelectorUnavailableError,
)

__all__ = [
    "CALLS",
    "DECISION",
    "MODEL",
    "ROUTE_FIELDS",
    "SelectorFeedback",
    "SelectorRouting",
    "decision_of",
    "install",
    "selector_model",
    "uninstall",
]

log = logging.getLogger("selector.litellm")
DECISION = "selector_decision_id"  # in a response's hidden params (and the call's metadata)
MODEL = "selector_model"  # the catalog model that served, beside it
CALL = "selector_call"  # in the call's metadata: the trace id the selector routed it by
ROUTE_FIELDS = "selector"  # optional route fields: metadata={"selector": {"max_cost_usd": …}}
HEADERS = {DECISION: "x-selector-decision-id", MODEL: "x-selector-model"}  # the proxy's
# the calls in flight, shared by every routing and feedback callback of the process (the
# LiteLLM proxy may load the two from separate copies of their module); LiteLLM's trace
# ids are unique, so calls of different routers never meet
CALLS = Calls()
# OpenAI roles the service knows under another name; other unknown roles are left out
_ROLES = {"developer": "system", "function": "tool"}
_KNOWN_ROLES = {"system", "user", "assistant", "tool"}


def selector_model(deployment: dict[str, Any]) -> str:
    """The catalog name of a deployment.

    >>> selector_model({"litellm_params": {"model": "openai/gpt-5"}})
    'gpt-5'
    >>> selector_model({"litellm_params": {"model": "azure/prod-eu"},
    ...                 "model_info": {"selector_model": "gpt-5"}})
    'gpt-5'
    """
    named = (deployment.get("model_info") or {}).get("selector_model")
    if isinstance(named, str) and named:
        return named
    return str((deployment.get("litellm_params") or {}).get("model", "")).split("/", 1)[-1]


def decision_of(found: Any) -> str | None:
    """The selector's decision id for a call: from its response (``_hidden_params``),
    or from the ``metadata`` dict it was called with; ``None`` if the selector did not
    decide it."""
    if isinstance(found, dict):
        value = found.get(DECISION)
    else:
        value = (getattr(found, "_hidden_params", None) or {}).get(DECISION)
    return value if isinstance(value, str) else None


def _metadata(request: dict[str, Any]) -> dict[str, Any]:
    for key in ("metadata", "litellm_metadata"):
        found = request.get(key)
        if isinstance(found, dict):
            return found
    return {}


def _messages(messages: Any) -> list[dict[str, Any]] | None:
    """The conversation as the service reads it: roles it knows, text (or parts)."""
    out = []
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, dict):
            continue
        role = _ROLES.get(str(m.get("role")), m.get("role"))
        if role not in _KNOWN_ROLES:
            continue
        content = m.get("content")
        if not isinstance(content, str | list):
            content = ""
        out.append({"role": role, "content": content})
    return out or None


def _served(calls: Calls, request: dict[str, Any]) -> tuple[Call, Decision, str] | None:
    """The decision an attempt answers to and the catalog model of its deployment."""
    info = request.get("model_info")
    if not isinstance(info, dict):
        info = _metadata(request).get("model_info")
    deployment = info.get("id") if isinstance(info, dict) else None
    found = calls.served(request.get("litellm_trace_id"), deployment)
    if found is None:  # the LiteLLM proxy logs a call under a trace id of its own
        found = calls.served(_metadata(request).get(CALL), deployment)
    return found


def _id(deployment: dict[str, Any]) -> str:
    return str((deployment.get("model_info") or {}).get("id"))


class _Catalog:
    """The service's enabled catalog models (``GET /v1/models``), read again every
    ``ttl_s``; the last known names while it cannot be read (``None`` before the first
    read, when no group is routed)."""

    def __init__(self, client: AsyncSelectorClient, fixed: Iterable[str] | None, ttl_s: float):
        self.client = client
        self.fixed = None if fixed is None else frozenset(fixed)
        self.ttl_s = ttl_s
        self.names: frozenset[str] | None = self.fixed
        self._read_at = -float("inf")
        self._reading = False

    async def get(self) -> frozenset[str] | None:
        if self.fixed is not None or self._reading:
            return self.names
        now = time.monotonic()
        if now - self._read_at < self.ttl_s:
            return self.names
        self._reading = True
        try:
            self.names = frozenset(await self.client.catalog())
        except (SelectorUnavailableError, SelectorRejectedError) as exc:
            if self.names is None:
                log.warning("the selector's catalog could not be read (%s): LiteLLM chooses", exc)
        finally:
            self._reading = False
            # read again after ttl_s, or after a few seconds while it cannot be read
            self._read_at = now if self.names is not None else now - self.ttl_s + 5
        return self.names


class SelectorRouting(CustomLogger):
    """Narrows each async call's deployments to the model the selector chose (see the
    module's documentation). ``models`` fixes the catalog models it may choose (default:
    the service's enabled models, read every ``catalog_ttl_s``)."""

    def __init__(
        self,
        client: AsyncSelectorClient,
        *,
        models: Iterable[str] | None = None,
        catalog_ttl_s: float = 60.0,
    ) -> None:
        super().__init__()
        # LiteLLM keeps one callback per class and public fields: this one is its own
        self.instance = id(self)
        self.client = client  # its options carry the time budget and the breaker
        self.catalog = _Catalog(client, models, catalog_ttl_s)

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Waits until the result of every attempt routed so far has been reported (LiteLLM
        runs its callbacks after the response), for at most ``timeout_s``: for a script
        that ends after its calls. False if some were not reported in time."""
        ends = time.monotonic() + timeout_s
        while CALLS.unreported():
            if time.monotonic() > ends:
                return False
            await asyncio.sleep(0.01)
        return True

    def decision_id(self, trace_id: str, group: str | None = None) -> str | None:
        """The decision of the call ``litellm_trace_id=trace_id`` (for ``group``, or the
        first group it reached), while the call is remembered."""
        call = CALLS.get(trace_id)
        if call is None or not call.decisions:
            return None
        decision = call.decisions.get(group) if group else next(iter(call.decisions.values()))
        return None if decision is None else decision.decision_id

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list[dict[str, Any]],
        messages: Any,
        request_kwargs: dict[str, Any] | None = None,
        parent_otel_span: Any = None,
    ) -> list[dict[str, Any]]:
        try:
            return await self._narrow(model, healthy_deployments, messages, request_kwargs or {})
        except Exception as exc:  # the gateway never fails because the selector did
            log.warning("selector routing of %r failed (%r): LiteLLM chooses", model, exc)
            return healthy_deployments

    async def _narrow(
        self,
        group: str,
        deployments: list[dict[str, Any]],
        messages: Any,
        request: dict[str, Any],
    ) -> list[dict[str, Any]]:
        trace = request.get("litellm_trace_id")
        # only calls to a model group: not a deployment, a provider model or a pattern
        if (
            not deployments
            or not isinstance(trace, str)
            or not all(isinstance(d, dict) and d.get("model_name") == group for d in deployments)
        ):
            return deployments
        catalog = await self.catalog.get()
        by_model: dict[str, list[dict[str, Any]]] = {}
        for d in deployments:
            name = selector_model(d)
            if catalog is not None and name in catalog:
                by_model.setdefault(name, []).append(d)
        sent = _messages(messages)
        if not by_model or sent is None:  # no catalog model, or no conversation (embeddings)
            return deployments
        call = CALLS.open(trace)
        metadata = _metadata(request)
        metadata[CALL] = trace
        if group not in call.decisions:
            decision = await self._decide(group, list(by_model), sent, request)
            if decision is None:
                return deployments
            call.decide(group, decision)
            metadata[DECISION] = decision.decision_id
            previous = None
        else:  # a retry: the deployment the last attempt went to, as LiteLLM noted it
            info = metadata.get("model_info")
            found = info.get("id") if isinstance(info, dict) else None
            previous = found if isinstance(found, str) else None
        ids = {m: [_id(d) for d in ds] for m, ds in by_model.items()}
        model = call.next_model(group, ids, previous)
        if model is None:
            return deployments
        chosen = [d for d in by_model[model] if _id(d) not in call.failed] or by_model[model]
        call.offer(group, {_id(d): model for d in chosen})
        return chosen

    async def _decide(
        self,
        group: str,
        candidates: list[str],
        messages: list[dict[str, Any]],
        request: dict[str, Any],
    ) -> Decision | None:
        """The selector's decision among ``candidates``; ``None`` (logged) when it did not
        give a usable one."""
        metadata = _metadata(request)
        metadata.pop(DECISION, None)  # a reused metadata dict holds another call's
        found = metadata.get(ROUTE_FIELDS)
        fields = (
            {k: v for k, v in found.items() if k != "candidates"} if isinstance(found, dict) else {}
        )
        conversation = metadata.get("conversation_id") or request.get("litellm_trace_id")
        try:
            decision = await self.client.route(
                str(conversation)[:256], messages, candidates=candidates, **fields
            )
        except (SelectorUnavailableError, SelectorRejectedError) as exc:
            self._passed(group, str(exc))
            return None
        if decision.decision_id is None:  # the client's own default answered
            self._passed(group, decision.reason or "no decision")
            return None
        if decision.model not in candidates:
            self._passed(group, f"it named {decision.model!r}, not a model of the group")
            return None
        fallbacks = tuple(m for m in decision.fallbacks if m in candidates)
        return Decision(decision.model, fallbacks, decision.decision_id, raw=decision.raw)

    def _passed(self, group: str, why: str) -> None:
        # while the client's breaker is open, its own log line says so once
        level = logging.WARNING if self.client.breaker_state == "closed" else logging.DEBUG
        log.log(level, "the selector did not decide for %r (%s): LiteLLM chooses", group, why)

    async def async_post_call_success_deployment_hook(
        self, request_data: dict[str, Any], response: Any, call_type: Any
    ) -> Any:
        """Marks a response with its decision id and the catalog model that served
        (``response._hidden_params``), for :func:`decision_of` and the proxy's headers."""
        found = _served(CALLS, request_data)
        hidden = getattr(response, "_hidden_params", None)
        if found is not None and isinstance(hidden, dict):
            hidden[DECISION], hidden[MODEL] = found[1].decision_id, found[2]
        return None

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        """The LiteLLM proxy's answer carries the decision id and the catalog model that
        served (``x-selector-decision-id``, ``x-selector-model``)."""
        hidden = getattr(response, "_hidden_params", None) or {}
        found = {key: hidden.get(key) for key in HEADERS}
        if not isinstance(found[DECISION], str):
            return None
        return {HEADERS[key]: str(value) for key, value in found.items() if value}


class SelectorFeedback(CustomLogger):
    """Reports each attempt the selector routed (latency, tokens, LiteLLM's cost, or the
    error) against its decision, under the catalog model's name."""

    def __init__(self, routing: SelectorRouting) -> None:
        super().__init__()
        self.instance = id(self)  # see SelectorRouting
        self.routing = routing
        self._said_sync = False

    async def _report(self, kwargs: dict[str, Any], fields: dict[str, Any]) -> None:
        params = kwargs.get("litellm_params")
        params = params if isinstance(params, dict) else {}
        request = {
            "litellm_trace_id": kwargs.get("litellm_trace_id"),
            "model_info": params.get("model_info"),
            "metadata": params.get("metadata"),
        }
        found = _served(CALLS, request)
        if found is None:
            return
        call, decision, model = found
        try:
            await self.routing.client.report_call(decision.decision_id, model=model, **fields)
        except (SelectorUnavailableError, SelectorRejectedError) as exc:
            log.warning("the result of %s was not reported: %s", decision.decision_id, exc)
        finally:
            call.reported += 1

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        fields: dict[str, Any] = {"latency_ms": _ms(start_time, end_time)}
        usage = getattr(response_obj, "usage", None)
        for name in ("prompt_tokens", "completion_tokens"):
            value = getattr(usage, name, None)
            if isinstance(value, int) and value >= 0:
                fields[name] = value
        cached = _cached_tokens(usage)
        if cached is not None:
            fields["cached_tokens"] = cached
        cost = kwargs.get("response_cost")
        if isinstance(cost, int | float) and 0 <= cost < 1e6:
            fields["cost_usd"] = float(cost)
        await self._report(kwargs, fields)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        error = type(kwargs.get("exception")).__name__
        fields = {"error": error[:256] or "error", "latency_ms": _ms(start_time, end_time)}
        await self._report(kwargs, fields)

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if not self._said_sync:
            self._said_sync = True
            log.warning(
                "a sync call (router.completion) was served by LiteLLM's own choice: LiteLLM "
                "lets the selector route async calls only (router.acompletion)"
            )


def _cached_tokens(usage: Any) -> int | None:
    """The prompt tokens a call read from the provider's prompt cache, as LiteLLM's usage
    reports them (``prompt_tokens_details.cached_tokens``, filled from Anthropic's
    ``cache_read_input_tokens`` too); None when the usage does not say."""
    details = getattr(usage, "prompt_tokens_details", None)
    for value in (
        getattr(details, "cached_tokens", None),
        getattr(usage, "cache_read_input_tokens", None),
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _ms(start: Any, end: Any) -> float:
    """LiteLLM's start and end times (datetimes, or seconds), as milliseconds."""
    try:
        seconds = float((end - start).total_seconds())
    except (TypeError, AttributeError):
        seconds = float(end - start)
    return round(min(max(seconds, 0.0), 86_400.0) * 1e3, 3)


# where LiteLLM keeps callbacks: litellm.callbacks, and the lists it copies them into
_CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
)


def uninstall() -> None:
    """Takes every :class:`SelectorRouting` and :class:`SelectorFeedback` out of LiteLLM's
    callback lists: calls are then routed by LiteLLM alone."""
    for name in _CALLBACK_LISTS:
        found = getattr(litellm, name, None)
        if isinstance(found, list):
            found[:] = [c for c in found if not isinstance(c, SelectorRouting | SelectorFeedback)]


def install(client: AsyncSelectorClient, *, models: Iterable[str] | None = None) -> SelectorRouting:
    """Routes every async call of this process's LiteLLM Routers through the selector
    and reports their results: adds a :class:`SelectorRouting` and its
    :class:`SelectorFeedback` to ``litellm.callbacks``, in place of any installed
    before."""
    uninstall()
    routing = SelectorRouting(client, models=models)
    litellm.callbacks = [*litellm.callbacks, routing, SelectorFeedback(routing)]
    return routing
