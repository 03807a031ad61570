"""The selector in the LiteLLM proxy, where each catalog model is a model group of its
own: :class:`SelectorPreCallHook` rewrites each request's ``model`` to the selector's
choice before the call (docs/litellm.md shows the proxy's configuration)."""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from selector.client import AsyncSelectorClient
from selector.integrations.litellm import DECISION, decide

__all__ = ["SelectorPreCallHook"]


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
        decision = await decide(self.client, self.default, metadata, data["messages"], self.models)
        data["model"] = decision.model
        if decision.decision_id is not None:
            metadata[DECISION] = decision.decision_id
        return data
