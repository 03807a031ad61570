"""The selector inside a ``litellm.Router``: a routing strategy that asks ``POST
/v1/route`` which deployment of a model group answers, and a callback that reports every
call's result to ``POST /v1/feedback``. The outcome of the conversation is reported by
the application when it is known (:func:`report_outcome`).

Each deployment of the group is a model of the selector's catalog: the name after the
provider prefix (``openai/gpt-5`` → ``gpt-5``) unless ``model_info.selector_model``
names it. When the selector does not answer within ``timeout_s`` (or answers with an
error), the strategy picks ``default`` and says so in the log: the gateway never fails
because the selector did.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from litellm import Router
from litellm.integrations.custom_logger import CustomLogger
from litellm.types.router import CustomRoutingStrategyBase

log = logging.getLogger("selector.litellm")
DECISION = "selector_decision_id"  # where the decision id rides in the request's metadata


def install(router: Router, strategy: CustomRoutingStrategyBase) -> None:
    """Route ``router``'s calls with ``strategy`` (``register_plugin`` in newer LiteLLM
    releases, ``set_custom_routing_strategy`` before)."""
    if hasattr(router, "register_plugin"):
        router.register_plugin(strategy)
    else:
        router.set_custom_routing_strategy(strategy)


def deployments(router: Router) -> list[dict[str, Any]]:
    """Every deployment of ``router``."""
    if hasattr(router, "registry"):
        return list(router.registry().all())
    return list(router.model_list)


def selector_model(deployment: dict[str, Any]) -> str:
    """The catalog name of a deployment."""
    named = (deployment.get("model_info") or {}).get("selector_model")
    return str(named or deployment["litellm_params"]["model"].split("/", 1)[-1])


class SelectorRouting(CustomRoutingStrategyBase):  # type: ignore[misc]
    """Picks each call's deployment by asking the selector."""

    def __init__(
        self,
        router: Router,
        client: httpx.AsyncClient,
        default: str,
        timeout_s: float = 0.25,
    ) -> None:
        self.router = router
        self.client = client  # base_url: the selector; headers: its token, if any
        self.default = default  # the catalog name to use when the selector cannot answer
        self.timeout_s = timeout_s

    async def async_get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        group = [d for d in deployments(self.router) if d["model_name"] == model]
        by_name = {selector_model(d): d for d in group}
        metadata = (request_kwargs or {}).get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        body = {
            "conversation_id": str(metadata.get("conversation_id", "unknown")),
            "messages": [{"role": m["role"], "content": m.get("content")} for m in messages or []],
            "candidates": list(by_name),
        }
        try:
            r = await self.client.post("/v1/route", json=body, timeout=self.timeout_s)
            r.raise_for_status()
            decision = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("selector unavailable (%s): %s serves this call", exc, self.default)
            return by_name.get(self.default) or group[0]
        metadata[DECISION] = decision["decision_id"]
        return by_name[decision["model"]]

    def get_available_deployment(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("call the router's async methods (acompletion)")


class SelectorFeedback(CustomLogger):  # type: ignore[misc]
    """Reports each call's result (latency, tokens, cost or error) against its decision."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__()
        self.client = client

    async def _report(self, kwargs: dict[str, Any], fields: dict[str, Any]) -> None:
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        decision_id = metadata.get(DECISION)
        if decision_id is None:  # routed without the selector
            return
        served = selector_model({"litellm_params": {"model": kwargs.get("model", "")}})
        body = {"decision_id": decision_id, "model": served, **fields}
        try:
            await self.client.post("/v1/feedback", json=body)
        except httpx.HTTPError as exc:
            log.warning("feedback on %s not reported: %s", decision_id, exc)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        usage = getattr(response_obj, "usage", None)
        fields: dict[str, Any] = {"latency_ms": (end_time - start_time).total_seconds() * 1e3}
        if usage is not None:
            fields["prompt_tokens"] = usage.prompt_tokens
            fields["completion_tokens"] = usage.completion_tokens
        await self._report(kwargs, fields)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        error = type(kwargs.get("exception")).__name__
        await self._report(kwargs, {"error": error[:256] or "error"})


async def report_outcome(client: httpx.AsyncClient, decision_id: str, resolved: bool) -> None:
    """The conversation's outcome, once the application knows it."""
    r = await client.post("/v1/feedback", json={"decision_id": decision_id, "resolved": resolved})
    r.raise_for_status()
