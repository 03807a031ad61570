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

from litellm import Router
from model_selector_gateway import AsyncSelectorClient
from model_selector_gateway.litellm import decision_of, install

# the group's deployments: two of the catalog's models, one of them in two regions
DEPLOYMENTS = [
    ("gemini-2.5-flash-lite", "gemini/gemini-2.5-flash-lite"),
    ("gpt-5", "openai/gpt-5"),
    ("gpt-5", "azure/gpt-5-eu"),  # its catalog model named in model_info below
]


def deployment(catalog_model: str, litellm_model: str) -> dict[str, Any]:
    params: dict[str, Any] = {"model": litellm_model}
    base = os.environ.get("LLM_API_BASE")
    if base:  # every deployment through one OpenAI-compatible endpoint
        params = {"model": f"openai/{catalog_model}", "api_base": base, "api_key": "unused"}
    return {
        "model_name": "support",
        "litellm_params": params,
        "model_info": {"selector_model": catalog_model},
    }


async def main() -> None:
    selector = AsyncSelectorClient(
        os.environ.get("SELECTOR_URL", "http://127.0.0.1:8080"),
        token=os.environ.get("SELECTOR_API_TOKEN"),  # when the service has one
        timeout_s=0.25,  # the selector's share of the call's latency budget
    )
    routing = install(selector)  # route the Routers' async calls, report every result
    router = Router(
        model_list=[deployment(*d) for d in DEPLOYMENTS],
        num_retries=2,  # another deployment of the model, then the decision's fallback
    )

    response = await router.acompletion(
        model="support",
        messages=[{"role": "user", "content": "I was charged twice for my order"}],
        metadata={"conversation_id": "ticket-4711"},
    )
    print(response.choices[0].message.content)
    decision = decision_of(response)
    print("decision:", decision)

    # later, when the ticket is closed (or escalated): the outcome of this decision …
    await selector.report_outcome(decision, resolved=True)
    # … or, instead, of the whole conversation:
    # await selector.report_conversation("ticket-4711", resolved=True)
    await routing.flush()  # the call's result reported before the script ends
    await selector.aclose()


if __name__ == "__main__":
    asyncio.run(main())
