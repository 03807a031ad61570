"""A support gateway on ``litellm.Router`` whose calls the selector routes.

    SELECTOR_URL=http://127.0.0.1:8080 python litellm_gateway.py

The providers' keys come from their usual variables (``OPENAI_API_KEY``,
``GEMINI_API_KEY``). With ``LLM_API_BASE`` set, every model is called through that one
OpenAI-compatible endpoint instead (a local server, or a test backend).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import litellm
from litellm.router import Router

from selector.client import AsyncSelectorClient
from selector.integrations.litellm import (
    SelectorFeedback,
    SelectorRouting,
    decision_of,
    install,
)

# the catalog's name of each model → LiteLLM's name of its deployment
MODELS = {"gpt-5": "openai/gpt-5", "gemini-2.5-flash-lite": "gemini/gemini-2.5-flash-lite"}
DEFAULT = "gemini-2.5-flash-lite"  # serves when the selector cannot answer in time


def deployment(model: str) -> dict[str, Any]:
    params: dict[str, Any] = {"model": MODELS[model]}
    base = os.environ.get("LLM_API_BASE")
    if base:
        params = {"model": f"openai/{model}", "api_base": base, "api_key": "unused"}
    return {"model_name": "support", "litellm_params": params}


async def main() -> None:
    selector = AsyncSelectorClient(
        os.environ.get("SELECTOR_URL", "http://127.0.0.1:8080"),
        token=os.environ.get("SELECTOR_API_TOKEN"),  # when the service has one
        timeout_s=0.25,  # the selector's share of the call's latency budget
    )
    router = Router(model_list=[deployment(m) for m in MODELS], num_retries=1)
    install(router, SelectorRouting(router, selector, default=DEFAULT))
    litellm.callbacks = [SelectorFeedback(selector)]  # every call's result, reported

    metadata = {"conversation_id": "ticket-4711"}
    response = await router.acompletion(
        model="support",
        messages=[{"role": "user", "content": "I was charged twice for my order"}],
        metadata=metadata,
    )
    print(response.choices[0].message.content)
    print("decision:", decision_of(metadata))

    # later, when the ticket is closed (or escalated): the outcome of this decision …
    await selector.report_outcome(decision_of(metadata), resolved=True)
    # … or, instead, of the whole conversation:
    # await selector.report_conversation("ticket-4711", resolved=True)
    await asyncio.sleep(1)  # let LiteLLM's callbacks finish before the script ends
    await selector.aclose()


if __name__ == "__main__":
    asyncio.run(main())
