"""The selector inside LiteLLM.

- :class:`SelectorRouting`, a routing plug-in for ``litellm.Router``: asks ``POST
  /v1/route`` which deployment of the model group answers (the group's models are the
  candidates), keeps the decision id in the request's metadata, and when the router
  retries a failed call, serves the decision's fallbacks in order without asking again;
- :class:`SelectorFeedback`, a LiteLLM callback: reports each call's result (the model
  that served, latency, tokens, cost, or the error) to ``POST /v1/feedback``;
- :class:`selector.integrations.litellm_proxy.SelectorPreCallHook`, for the LiteLLM
  proxy: rewrites each request's model to the one the selector chose;
- :func:`decision_of`, the decision id in a request's metadata, for the application to
  report the outcome later (``await selector.report_outcome(decision_of(metadata),
  resolved=True)``, or ``report_conversation`` by conversation).

When the selector does not answer within the client's budget (or answers with an
error), the default deployment serves and the log says so: the gateway never fails
because the selector did. A deployment is the catalog model named after its provider
prefix (``openai/gpt-5`` is ``gpt-5``) unless ``model_info.selector_model`` names it.
"""

from __future__ import annotations

import logging
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.router import Router
from litellm.types.router import CustomRoutingStrategyBase

from selector.client import (
    AsyncSelectorClient,
    Decision,
    SelectorClient,
    SelectorRejectedError,
    SelectorUnavailableError,
)
from selector.client.results import default_decision

__all__ = [
    "CHAIN",
    "DECISION",
    "ROUTE_FIELDS",
    "SelectorFeedback",
    "SelectorRouting",
    "decide",
    "decision_of",
    "deployments",
    "install",
    "selector_model",
]

log = logging.getLogger("selector.litellm")
DECISION = "selector_decision_id"  # the decision id, in the request's metadata
CHAIN = "selector_chain"  # the decided model, then its fallbacks
ROUTE_FIELDS = "selector"  # optional route fields: metadata={"selector": {"max_cost_usd": …}}


def install(router: Router, strategy: CustomRoutingStrategyBase) -> None:
    """Route ``router``'s calls with ``strategy``."""
    if hasattr(router, "register_plugin"):  # LiteLLM releases that have plug-ins
        router.register_plugin(strategy)
    else:
        router.set_custom_routing_strategy(strategy)


def deployments(router: Router) -> list[dict[str, Any]]:
    """Every deployment of ``router``."""
    return list(router.model_list)


def selector_model(deployment: dict[str, Any]) -> str:
    """The catalog name of a deployment."""
    named = (deployment.get("model_info") or {}).get("selector_model")
    return str(named or deployment["litellm_params"]["model"].split("/", 1)[-1])


def decision_of(metadata: dict[str, Any] | None) -> str | None:
    """The selector's decision id for a request (``None`` if the selector did not decide)."""
    found = (metadata or {}).get(DECISION)
    return str(found) if found is not None else None


def _conversation(metadata: dict[str, Any]) -> str:
    return str(metadata.get("conversation_id") or "unknown")


def _messages(messages: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{"role": m["role"], "content": m.get("content")} for m in messages or []]


def _route_args(
    metadata: dict[str, Any], messages: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """The conversation, its messages and the optional route fields of a request."""
    fields = metadata.get(ROUTE_FIELDS)
    return (
        _conversation(metadata),
        _messages(messages),
        dict(fields) if isinstance(fields, dict) else {},
    )


def _instead(default: str, candidates: list[str], exc: Exception) -> Decision:
    """The default's decision when the selector cannot or will not decide, logged."""
    decision = default_decision(default, candidates, str(exc))
    log.warning("selector did not decide (%s): %s serves this call", exc, decision.model)
    return decision


async def decide(
    client: AsyncSelectorClient,
    default: str,
    metadata: dict[str, Any],
    messages: list[dict[str, Any]] | None,
    candidates: list[str],
) -> Decision:
    """The selector's decision, or the default's when it cannot or will not decide."""
    conversation, sent, fields = _route_args(metadata, messages)
    try:
        return await client.route(conversation, sent, candidates=candidates, **fields)
    except (SelectorUnavailableError, SelectorRejectedError) as exc:
        return _instead(default, candidates, exc)


class SelectorRouting(CustomRoutingStrategyBase):
    """Picks each call's deployment by asking the selector; on the router's retries of a
    failed call, the decision's next fallback. Async calls (``acompletion``) ask through
    ``client``; sync ones (``completion``) through ``sync_client`` when given, else the
    default serves them (and the log says so)."""

    def __init__(
        self,
        router: Router,
        client: AsyncSelectorClient,
        default: str,
        sync_client: SelectorClient | None = None,
    ) -> None:
        self.router = router
        self.client = client  # its options carry the time budget (timeout_s)
        self.default = default  # the catalog model to serve when the selector cannot decide
        self.sync_client = sync_client

    def _request(
        self, model: str, specific: bool | None, request_kwargs: dict[str, Any] | None
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any], list[str] | None]:
        """The group's deployments by catalog name, the request's metadata, and the chain
        left to try when the router retries a call the selector decided."""
        group = [d for d in deployments(self.router) if d["model_name"] == model]
        if specific and not group:  # a deployment asked for by its own name or id
            group = [
                d
                for d in deployments(self.router)
                if model in (d["litellm_params"]["model"], (d.get("model_info") or {}).get("id"))
            ]
        if not group:
            raise ValueError(f"no deployment of the model group {model!r} in the router")
        kwargs = request_kwargs if request_kwargs is not None else {}
        metadata = kwargs.get("metadata")
        if not isinstance(metadata, dict):
            metadata = kwargs["metadata"] = {}
        chain = metadata.get(CHAIN)
        retry = [*chain[1:], chain[0]] if chain else None  # the next model of the decision
        return {selector_model(d): d for d in group}, metadata, retry

    @staticmethod
    def _settle(
        by_name: dict[str, dict[str, Any]], metadata: dict[str, Any], chain: list[str]
    ) -> dict[str, Any]:
        metadata[CHAIN] = chain
        return by_name[chain[0]]

    @staticmethod
    def _chain(metadata: dict[str, Any], decision: Decision) -> list[str]:
        if decision.decision_id is not None:
            metadata[DECISION] = decision.decision_id
        return list(decision.chain)

    async def async_get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, Any]] | None = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        by_name, metadata, chain = self._request(model, specific_deployment, request_kwargs)
        if chain is None:
            names = list(by_name)
            decision = await decide(self.client, self.default, metadata, messages, names)
            chain = self._chain(metadata, decision)
        return self._settle(by_name, metadata, chain)

    def get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, Any]] | None = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        by_name, metadata, chain = self._request(model, specific_deployment, request_kwargs)
        if chain is None:
            names = list(by_name)
            if self.sync_client is None:
                why = RuntimeError("a sync call, and SelectorRouting has no sync_client")
                decision = _instead(self.default, names, why)
            else:
                conversation, sent, fields = _route_args(metadata, messages)
                try:
                    decision = self.sync_client.route(
                        conversation, sent, candidates=names, **fields
                    )
                except (SelectorUnavailableError, SelectorRejectedError) as exc:
                    decision = _instead(self.default, names, exc)
            chain = self._chain(metadata, decision)
        return self._settle(by_name, metadata, chain)


def _reported(kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """The decision a call's result is reported against, and the model that served;
    None for a call the selector did not decide."""
    metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
    decision_id = decision_of(metadata)
    if decision_id is None:
        return None
    return decision_id, selector_model({"litellm_params": {"model": kwargs.get("model", "")}})


def _succeeded(kwargs: dict[str, Any], response_obj: Any, start: Any, end: Any) -> dict[str, Any]:
    """A successful call's result: latency, tokens and LiteLLM's cost of it."""
    fields: dict[str, Any] = {"latency_ms": (end - start).total_seconds() * 1e3}
    usage = getattr(response_obj, "usage", None)
    if usage is not None:
        fields["prompt_tokens"] = usage.prompt_tokens
        fields["completion_tokens"] = usage.completion_tokens
    cost = kwargs.get("response_cost")
    if isinstance(cost, int | float) and cost >= 0:
        fields["cost_usd"] = float(cost)
    return fields


def _failed(kwargs: dict[str, Any], start: Any, end: Any) -> dict[str, Any]:
    """A failed call's result: the error's type and how long it took."""
    error = type(kwargs.get("exception")).__name__
    return {"error": error[:256] or "error", "latency_ms": (end - start).total_seconds() * 1e3}


class SelectorFeedback(CustomLogger):
    """Reports each call's result (latency, tokens, cost, or error) against its decision:
    async calls' through ``client``, sync calls' through ``sync_client`` when given."""

    def __init__(
        self, client: AsyncSelectorClient, sync_client: SelectorClient | None = None
    ) -> None:
        super().__init__()
        self.client = client
        self.sync_client = sync_client

    async def _report(self, kwargs: dict[str, Any], fields: dict[str, Any]) -> None:
        target = _reported(kwargs)
        if target is None:
            return
        try:
            await self.client.report_call(target[0], model=target[1], **fields)
        except (SelectorUnavailableError, SelectorRejectedError) as exc:
            log.warning("the result of %s was not reported: %s", target[0], exc)

    def _report_sync(self, kwargs: dict[str, Any], fields: dict[str, Any]) -> None:
        target = _reported(kwargs)
        if target is None or self.sync_client is None:
            return
        try:
            self.sync_client.report_call(target[0], model=target[1], **fields)
        except (SelectorUnavailableError, SelectorRejectedError) as exc:
            log.warning("the result of %s was not reported: %s", target[0], exc)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        await self._report(kwargs, _succeeded(kwargs, response_obj, start_time, end_time))

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        await self._report(kwargs, _failed(kwargs, start_time, end_time))

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._report_sync(kwargs, _succeeded(kwargs, response_obj, start_time, end_time))

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._report_sync(kwargs, _failed(kwargs, start_time, end_time))
