"""The selector inside LiteLLM.

- :class:`SelectorRouting`, a routing plug-in for ``litellm.Router``: asks ``POST
  /v1/route`` which deployment of the model group answers (the group's models are the
  candidates), keeps the decision id in the request's metadata, and when the router
  retries a failed call, serves the decision's fallbacks in order without asking again;
- :class:`SelectorFeedback`, a LiteLLM callback: reports each call's result (the model
  that served, latency, tokens, cost, or the error) to ``POST /v1/feedback``;
- :class:`SelectorPreCallHook`, for the LiteLLM proxy: rewrites each request's model to
  the one the selector chose (each catalog model is a model group of the proxy);
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
    SelectorRejectedError,
    SelectorUnavailableError,
)
from selector.client.results import default_decision

__all__ = [
    "CHAIN",
    "DECISION",
    "ROUTE_FIELDS",
    "SelectorFeedback",
    "SelectorPreCallHook",
    "SelectorRouting",
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


async def _decide(
    client: AsyncSelectorClient,
    default: str,
    metadata: dict[str, Any],
    messages: list[dict[str, Any]] | None,
    candidates: list[str],
) -> Decision:
    """The selector's decision, or the default's when it cannot or will not decide."""
    fields = metadata.get(ROUTE_FIELDS)
    try:
        return await client.route(
            _conversation(metadata),
            _messages(messages),
            candidates=candidates,
            **(fields if isinstance(fields, dict) else {}),
        )
    except (SelectorUnavailableError, SelectorRejectedError) as exc:
        decision = default_decision(default, candidates, str(exc))
        log.warning("selector did not decide (%s): %s serves this call", exc, decision.model)
        return decision


class SelectorRouting(CustomRoutingStrategyBase):
    """Picks each call's deployment by asking the selector; on the router's retries of a
    failed call, the decision's next fallback."""

    def __init__(self, router: Router, client: AsyncSelectorClient, default: str) -> None:
        self.router = router
        self.client = client  # its options carry the time budget (timeout_s)
        self.default = default  # the catalog model to serve when the selector cannot decide

    async def async_get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, Any]] | None = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        by_name = {
            selector_model(d): d for d in deployments(self.router) if d["model_name"] == model
        }
        if not by_name:
            raise ValueError(f"no deployment of the model group {model!r} in the router")
        kwargs = request_kwargs if request_kwargs is not None else {}
        metadata = kwargs.get("metadata")
        if not isinstance(metadata, dict):
            metadata = kwargs["metadata"] = {}
        chain = metadata.get(CHAIN)
        if chain:  # the router retries a failed call: the next model of the decision
            chain = [*chain[1:], chain[0]]
        else:
            decision = await _decide(self.client, self.default, metadata, messages, list(by_name))
            chain = list(decision.chain)
            if decision.decision_id is not None:
                metadata[DECISION] = decision.decision_id
        metadata[CHAIN] = chain
        return by_name[chain[0]]

    def get_available_deployment(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("the selector routes the router's async calls (acompletion)")


class SelectorFeedback(CustomLogger):
    """Reports each call's result (latency, tokens, cost, or error) against its decision."""

    def __init__(self, client: AsyncSelectorClient) -> None:
        super().__init__()
        self.client = client

    async def _report(self, kwargs: dict[str, Any], fields: dict[str, Any]) -> None:
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        decision_id = decision_of(metadata)
        if decision_id is None:  # routed without the selector
            return
        served = selector_model({"litellm_params": {"model": kwargs.get("model", "")}})
        try:
            await self.client.report_call(decision_id, model=served, **fields)
        except (SelectorUnavailableError, SelectorRejectedError) as exc:
            log.warning("the result of %s was not reported: %s", decision_id, exc)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        fields: dict[str, Any] = {"latency_ms": (end_time - start_time).total_seconds() * 1e3}
        usage = getattr(response_obj, "usage", None)
        if usage is not None:
            fields["prompt_tokens"] = usage.prompt_tokens
            fields["completion_tokens"] = usage.completion_tokens
        cost = kwargs.get("response_cost")
        if isinstance(cost, int | float) and cost >= 0:
            fields["cost_usd"] = float(cost)
        await self._report(kwargs, fields)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        error = type(kwargs.get("exception")).__name__
        latency_ms = (end_time - start_time).total_seconds() * 1e3
        await self._report(kwargs, {"error": error[:256] or "error", "latency_ms": latency_ms})


class SelectorPreCallHook(CustomLogger):
    """For the LiteLLM proxy, where each catalog model is a model group: before each call,
    the request's ``model`` becomes the selector's choice among ``models`` (the groups it
    may choose from; a request for another model is left alone)."""

    def __init__(self, client: AsyncSelectorClient, default: str, models: list[str]) -> None:
        super().__init__()
        self.client = client
        self.default = default
        self.models = list(models)

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        if data.get("model") not in self.models or "messages" not in data:
            return data
        metadata = data.setdefault("metadata", {})
        decision = await _decide(self.client, self.default, metadata, data["messages"], self.models)
        data["model"] = decision.model
        if decision.decision_id is not None:
            metadata[DECISION] = decision.decision_id
        return data
