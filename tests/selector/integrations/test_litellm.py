"""The LiteLLM plug-in on a real ``litellm.Router`` over a fake OpenAI-compatible backend
on loopback, routed by a real selector server: the selector's choice serves, the router's
retries follow the decision's fallbacks, each call's result and the outcome reach the
service; with the selector down or mute, the default deployment serves."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from selector.client import AsyncSelectorClient, SelectorClient
from tests.conftest import Server, free_port

litellm = pytest.importorskip("litellm")
from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER  # noqa: E402

from selector.integrations.litellm import (  # noqa: E402
    CHAIN,
    ROUTE_FIELDS,
    SelectorFeedback,
    SelectorRouting,
    decision_of,
    install,
    selector_model,
)
from selector.integrations.litellm_proxy import SelectorPreCallHook  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    # LiteLLM's own warnings, about its own types
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),
]

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"  # two models of the default catalog
CHEAPEST = {ROUTE_FIELDS: {"cost_weight": 1e6}}  # cost alone: the small model


def router_over(backend: str) -> Any:
    deployment = {"api_base": backend, "api_key": "unused"}
    return litellm.Router(
        model_list=[
            {"model_name": "support", "litellm_params": {"model": f"openai/{m}", **deployment}}
            for m in (SMALL, LARGE)
        ],
        num_retries=1,
        retry_after=0,
    )


async def converse(
    selector_url: str, backend: str, metadata: dict[str, Any], timeout_s: float = 5.0
) -> str:
    """One call through the routed router; the answer names the model that served."""
    async with AsyncSelectorClient(selector_url, timeout_s=timeout_s) as client:
        router = router_over(backend)
        install(router, SelectorRouting(router, client, default=SMALL))
        litellm.callbacks = [SelectorFeedback(client)]
        try:
            response = await router.acompletion(
                model="support",
                messages=[{"role": "user", "content": "I was charged twice"}],
                metadata=metadata,
            )
            decision = decision_of(metadata)
            if decision is not None:
                await reported(client, calls=1 + len(metadata.get("previous_models", [])))
                await client.report_outcome(decision, resolved=True)
        finally:
            await asyncio.wait_for(
                GLOBAL_LOGGING_WORKER.flush(), 5
            )  # callbacks run before the loop ends
            litellm.callbacks = []
            router.reset()  # LiteLLM keeps the callbacks it was given in lists of its own
    return str(response.choices[0].message.content).removeprefix("answered by ")


async def reported(client: AsyncSelectorClient, calls: int) -> None:
    """Wait until the service has heard of ``calls`` call results (the callbacks run
    after the response)."""
    for _ in range(200):
        models = (await client.http.get("/v1/models")).json()["models"]
        if sum(m["live"]["samples"] for m in models) >= calls:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the service heard of fewer than {calls} call results in 10 s")


def live(server: Server) -> dict[str, Any]:
    with httpx.Client(base_url=server.url) as c:
        return {m["name"]: m["live"] for m in c.get("/v1/models").json()["models"]}


def test_the_router_serves_the_selectors_choice_and_reports_back(
    make_server: Callable[..., Server], backend: Callable[..., str]
) -> None:
    server = make_server()
    metadata: dict[str, Any] = {"conversation_id": "c-1"}
    served = asyncio.run(converse(server.url, backend(), metadata))
    decision = decision_of(metadata)
    assert decision is not None
    assert served == metadata[CHAIN][0]
    assert live(server)[served]["samples"] == 1  # the call's result reached the service
    with httpx.Client(base_url=server.url) as c:
        again = c.post("/v1/feedback", json={"decision_id": decision, "resolved": True})
    assert again.json()["duplicate"] is True  # the outcome was stored once


def test_a_failed_call_is_retried_on_the_decisions_fallback(
    make_server: Callable[..., Server], backend: Callable[..., str]
) -> None:
    server = make_server(SELECTOR_POLICY="utility-v0")
    metadata: dict[str, Any] = {"conversation_id": "c-2", **CHEAPEST}
    served = asyncio.run(converse(server.url, backend(failing=SMALL), metadata))
    assert metadata[CHAIN][-1] == SMALL  # the selector chose the small model, which failed
    assert served == LARGE  # the retry served its fallback, without asking again
    figures = live(server)
    assert figures[SMALL]["samples"] == 1  # the failure, reported against the small model
    assert figures[SMALL]["error_rate"] > 0
    assert figures[LARGE]["samples"] == 1  # and the fallback's success


@pytest.mark.parametrize("selector", ["down", "mute"])
def test_without_the_selector_the_default_deployment_serves(
    selector: str, mute: str, backend: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    url = mute if selector == "mute" else f"http://127.0.0.1:{free_port()}"
    metadata: dict[str, Any] = {"conversation_id": "c-3"}
    with caplog.at_level(logging.WARNING, logger="selector.litellm"):
        served = asyncio.run(converse(url, backend(), metadata, timeout_s=0.2))
    assert served == SMALL
    assert decision_of(metadata) is None
    assert any("serves this call" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("with_sync_client", [True, False])
def test_sync_calls_are_routed_through_the_sync_client_or_served_by_the_default(
    with_sync_client: bool, server: Server, backend: Callable[..., str]
) -> None:
    router = router_over(backend())
    client = AsyncSelectorClient(server.url, timeout_s=5)
    sync = SelectorClient(server.url, timeout_s=5) if with_sync_client else None
    install(router, SelectorRouting(router, client, default=SMALL, sync_client=sync))
    litellm.callbacks = [SelectorFeedback(client, sync_client=sync)]
    metadata: dict[str, Any] = {"conversation_id": "c-sync", **CHEAPEST}
    before = {m: figures["samples"] for m, figures in live(server).items()}
    try:
        response = router.completion(
            model="support", messages=[{"role": "user", "content": "hi"}], metadata=metadata
        )
        served = str(response.choices[0].message.content).removeprefix("answered by ")
        for _ in range(100):  # LiteLLM runs sync callbacks in a thread of its own
            if not with_sync_client or live(server)[served]["samples"] > before[served]:
                break
            time.sleep(0.05)
    finally:
        litellm.callbacks = []
        router.reset()
        asyncio.run(client.aclose())
        if sync is not None:
            sync.close()
    assert served == metadata[CHAIN][0]
    assert (decision_of(metadata) is not None) is with_sync_client
    if with_sync_client:  # the call's result, reported through the sync client
        assert live(server)[served]["samples"] == before[served] + 1
    else:
        assert served == SMALL  # the default


def test_the_proxy_hook_rewrites_the_model_to_the_selectors_choice(server: Server) -> None:
    async def run(data: dict[str, Any]) -> dict[str, Any]:
        async with AsyncSelectorClient(server.url, timeout_s=5) as client:
            hook = SelectorPreCallHook(client, default=SMALL, models=[SMALL, LARGE])
            out: dict[str, Any] = await hook.async_pre_call_hook(None, None, data, "completion")
            return out

    asked = {"model": SMALL, "messages": [{"role": "user", "content": "refund please"}]}
    data = asyncio.run(run(dict(asked)))
    assert data["model"] in (SMALL, LARGE)
    assert decision_of(data["metadata"]) is not None
    other = asyncio.run(run({"model": "embedding-x", "input": "text"}))
    assert other == {"model": "embedding-x", "input": "text"}  # not the selector's to route


def test_deployments_are_named_by_catalog_model() -> None:
    assert selector_model({"litellm_params": {"model": "openai/gpt-5"}}) == "gpt-5"
    named = {"litellm_params": {"model": "azure/prod-1"}, "model_info": {"selector_model": "x"}}
    assert selector_model(named) == "x"
