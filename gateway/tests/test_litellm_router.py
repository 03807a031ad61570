"""The plug-in on a real ``litellm.Router`` over a fake OpenAI-compatible backend, routed
by a real selector (or a scripted one, for the answers a real one never gives): the
selector picks the model and LiteLLM the deployment; everything a plain Router serves
without a model group is left alone; retries, group fallbacks and context-window
fallbacks behave as on a plain Router; every call gets its own decision; any unusable
answer leaves the choice to LiteLLM; each attempt's result is reported under the
catalog model's name."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import litellm
import pytest
from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
from model_selector_gateway import AsyncSelectorClient
from model_selector_gateway.litellm import (
    ROUTE_FIELDS,
    SelectorFeedback,
    SelectorRouting,
    decision_of,
    install,
    uninstall,
)
from peers import CACHED_TOKENS, FakeLLM, ScriptedSelector, SelectorServer, wait_until

pytestmark = pytest.mark.integration

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"  # two models of the default catalog
CHEAPEST = {ROUTE_FIELDS: {"cost_weight": 1e6}}  # the selector then picks the small model
HELLO = [{"role": "user", "content": "I was charged twice for my order"}]


def deployment(
    llm: FakeLLM, model: str, group: str = "support", where: str = "d", **info: Any
) -> dict[str, Any]:
    params = {"model": f"openai/{model}", "api_base": llm.base(where), "api_key": "unused"}
    return {"model_name": group, "litellm_params": params, "model_info": info}


class Gateway:
    """A Router of ``deployments`` routed by the selector at ``url``, whose route calls
    are counted."""

    def __init__(self, url: str, deployments: list[dict[str, Any]], **router: Any) -> None:
        self.url = url
        self.deployments = deployments
        self.router_args = {"num_retries": 0, "retry_after": 0, **router}
        self.routes = 0

    async def __aenter__(self) -> Gateway:
        self.client = AsyncSelectorClient(self.url, timeout_s=5)
        asked = self.client.route

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.routes += 1
            return await asked(*args, **kwargs)

        self.client.route = counted  # type: ignore[method-assign]
        self.routing = install(self.client)
        self.router = litellm.Router(model_list=self.deployments, **self.router_args)
        return self

    async def ask(self, model: str = "support", **kwargs: Any) -> Any:
        kwargs.setdefault("messages", HELLO)
        return await self.router.acompletion(model=model, **kwargs)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), 10)  # the callbacks' reports
        uninstall()
        await self.client.aclose()


def served(response: Any) -> str:
    return str(response.choices[0].message.content).removeprefix("answered by ")


@pytest.fixture(autouse=True)
def _no_callbacks_left() -> Iterator[None]:
    yield
    uninstall()


def test_the_selector_picks_the_model_and_its_result_is_reported(
    selector: SelectorServer, llm: FakeLLM
) -> None:
    before = selector.samples()

    async def run() -> Any:
        async with Gateway(selector.url, [deployment(llm, SMALL), deployment(llm, LARGE)]) as g:
            response = await g.ask(metadata={"conversation_id": "r-1"})
            assert g.routes == 1
            return response

    response = asyncio.run(run())
    decision = decision_of(response)
    assert decision is not None
    model = served(response)
    assert response._hidden_params["selector_model"] == model
    wait_until(lambda: selector.samples()[model] == before[model] + 1, what="the report")
    # the usage LiteLLM read, the prompt tokens its provider served from cache included
    assert selector.call_results(decision) == [(model, 12, 7, CACHED_TOKENS)]


def test_a_deployment_named_by_model_info_is_reported_under_that_name(
    selector: SelectorServer, llm: FakeLLM
) -> None:
    before = selector.samples()
    named = [
        deployment(llm, "prod-small-eu", selector_model=SMALL),
        deployment(llm, "prod-large-eu", selector_model=LARGE),
    ]

    async def run() -> Any:
        async with Gateway(selector.url, named) as g:
            return [await g.ask(metadata={"conversation_id": f"named-{i}"}) for i in range(4)]

    responses = asyncio.run(run())
    names = [r._hidden_params["selector_model"] for r in responses]
    assert set(names) <= {SMALL, LARGE}
    wait_until(
        lambda: sum(selector.samples()[m] - before[m] for m in (SMALL, LARGE)) == 4,
        what="four results reported under the catalog names",
    )


@pytest.mark.parametrize("how", ["provider-model", "deployment-id", "specific", "alias"])
def test_what_a_plain_router_serves_without_a_group_is_left_alone(
    selector: SelectorServer, llm: FakeLLM, how: str
) -> None:
    deployments = [deployment(llm, SMALL, id="small-1"), deployment(llm, LARGE, id="large-1")]

    async def run() -> tuple[Any, int]:
        extra = {"model_group_alias": {"helpdesk": "support"}} if how == "alias" else {}
        async with Gateway(selector.url, deployments, **extra) as g:
            if how == "provider-model":
                response = await g.ask(f"openai/{LARGE}")
            elif how == "deployment-id":
                response = await g.ask("large-1")
            elif how == "specific":
                response = await g.ask(f"openai/{LARGE}", specific_deployment=True)
            else:  # an alias of the group is the group: the selector routes it
                response = await g.ask("helpdesk", metadata={"conversation_id": "alias"})
            return response, g.routes

    response, routes = asyncio.run(run())
    if how == "alias":
        assert routes == 1
        assert decision_of(response) is not None
    else:
        assert served(response) == LARGE
        assert routes == 0
        assert decision_of(response) is None


def test_litellm_balances_among_the_deployments_of_the_chosen_model(
    make_selector: Any, llm: FakeLLM
) -> None:
    selector = make_selector(SELECTOR_POLICY="utility-v0")
    deployments = [
        deployment(llm, SMALL, where="a"),
        deployment(llm, SMALL, where="b"),
        deployment(llm, LARGE, where="c"),
    ]

    async def run() -> None:
        async with Gateway(selector.url, deployments) as g:
            for i in range(30):
                await g.ask(metadata={"conversation_id": f"bal-{i}", **CHEAPEST})

    asyncio.run(run())
    assert llm.served("c") == []  # the selector's choice: the small model
    assert len(llm.served("a")) > 0
    assert len(llm.served("b")) > 0


def test_a_retry_tries_another_deployment_of_the_model_then_the_decisions_fallback(
    make_selector: Any, llm: FakeLLM
) -> None:
    selector = make_selector(SELECTOR_POLICY="utility-v0")
    llm.failing = {SMALL}
    deployments = [
        deployment(llm, SMALL, where="a"),
        deployment(llm, SMALL, where="b"),
        deployment(llm, LARGE, where="c"),
    ]
    before = selector.samples()

    async def run() -> Any:
        async with Gateway(selector.url, deployments, num_retries=2) as g:
            response = await g.ask(metadata={"conversation_id": "retry", **CHEAPEST})
            assert await g.routing.flush(timeout_s=60)  # all three attempts reported
            return response

    response = asyncio.run(run())
    assert served(response) == LARGE
    assert sorted(d for d, _ in llm.calls) == ["a", "b", "c"]  # each deployment once
    assert selector.samples()[SMALL] == before[SMALL] + 2  # the two failures
    assert selector.live()[SMALL]["error_rate"] > 0
    assert selector.samples()[LARGE] == before[LARGE] + 1  # and the fallback's success


def test_litellms_cooldowns_and_rate_limits_bound_what_the_selector_may_choose(
    make_selector: Any, llm: FakeLLM
) -> None:
    selector = make_selector(SELECTOR_POLICY="utility-v0")
    llm.failing = {SMALL}
    asked: list[list[str]] = []

    async def run() -> list[str]:
        async with Gateway(
            selector.url,
            [deployment(llm, SMALL), deployment(llm, LARGE)],
            num_retries=1,
            allowed_fails=0,
            cooldown_time=600,
        ) as g:
            route = g.client.route

            async def seen(*args: Any, **kwargs: Any) -> Any:
                asked.append(list(kwargs["candidates"]))
                return await route(*args, **kwargs)

            g.client.route = seen  # type: ignore[method-assign]
            return [
                served(await g.ask(metadata={"conversation_id": f"cool-{i}", **CHEAPEST}))
                for i in range(2)
            ]

    assert asyncio.run(run()) == [LARGE, LARGE]
    # the first call chose the small model, which failed and went into LiteLLM's
    # cooldown; the second call's candidates are what LiteLLM still offers
    assert sorted(asked[0]) == sorted([SMALL, LARGE])
    assert asked[1] == [LARGE]


def test_a_model_over_its_rate_limit_gives_way_to_the_decisions_fallback(
    make_selector: Any, llm: FakeLLM
) -> None:
    selector = make_selector(SELECTOR_POLICY="utility-v0")
    deployments = [deployment(llm, SMALL), deployment(llm, LARGE)]
    deployments[0]["litellm_params"]["rpm"] = 1

    async def run() -> list[str]:
        async with Gateway(
            selector.url, deployments, num_retries=1, routing_strategy="usage-based-routing-v2"
        ) as g:
            answers = []
            for i in range(2):
                answer = await g.ask(metadata={"conversation_id": f"rpm-{i}", **CHEAPEST})
                answers.append(served(answer))
                # LiteLLM counts a deployment's requests in its callbacks: let them run
                await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), 30)
                # the attempt that reached no deployment has no result to wait for
                assert await g.routing.flush(timeout_s=60)
            return answers

    assert asyncio.run(run()) == [SMALL, LARGE]  # the small model's one request a minute


@pytest.mark.parametrize("backup_in_catalog", [True, False])
def test_a_failed_group_falls_back_to_another_group(
    selector: SelectorServer, llm: FakeLLM, backup_in_catalog: bool
) -> None:
    llm.failing = {SMALL, LARGE}
    backup = "gpt-5-mini" if backup_in_catalog else "in-house-llm"
    deployments = [
        deployment(llm, SMALL),
        deployment(llm, LARGE),
        deployment(llm, backup, group="backup"),
    ]

    async def run() -> tuple[Any, int]:
        async with Gateway(
            selector.url, deployments, num_retries=1, fallbacks=[{"support": ["backup"]}]
        ) as g:
            response = await g.ask(metadata={"conversation_id": f"fb-{backup}"})
            return response, g.routes

    response, routes = asyncio.run(run())
    assert served(response) == backup
    assert routes == (2 if backup_in_catalog else 1)  # the backup group's own decision


def test_a_context_window_fallback_is_served(selector: SelectorServer, llm: FakeLLM) -> None:
    llm.short = {SMALL, LARGE}
    deployments = [
        deployment(llm, SMALL),
        deployment(llm, LARGE),
        deployment(llm, "long-context-llm", group="long"),
    ]
    too_long = [{"role": "user", "content": "TOO LONG " * 50}]

    async def run() -> Any:
        async with Gateway(
            selector.url, deployments, context_window_fallbacks=[{"support": ["long"]}]
        ) as g:
            return await g.ask(messages=too_long, metadata={"conversation_id": "cw"})

    assert served(asyncio.run(run())) == "long-context-llm"


def test_every_call_gets_its_own_decision_whatever_its_metadata(
    selector: SelectorServer, llm: FakeLLM
) -> None:
    metadata = {"conversation_id": "same-dict"}

    async def run() -> list[Any]:
        async with Gateway(selector.url, [deployment(llm, SMALL), deployment(llm, LARGE)]) as g:
            return [await g.ask(metadata=metadata) for _ in range(3)]

    decisions = [decision_of(r) for r in asyncio.run(run())]
    assert None not in decisions
    assert len(set(decisions)) == 3
    assert decision_of(metadata) == decisions[-1]  # the dict names its last call's


ANSWERS = {
    "not-json": (200, b"<html>upstream</html>"),
    "missing-fields": (200, {"model": LARGE}),
    "unknown-model": (200, {"decision_id": "d-x", "model": "gpt-9", "fallbacks": []}),
    "refused": (422, {"error": {"code": "invalid_request", "message": "messages"}}),
    "server-error": (500, {"error": {"code": "internal"}}),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_an_unusable_answer_leaves_the_choice_to_litellm(
    scripted: ScriptedSelector, llm: FakeLLM, answer: str, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.answer = ANSWERS[answer]

    async def run() -> Any:
        async with Gateway(scripted.url, [deployment(llm, SMALL), deployment(llm, LARGE)]) as g:
            return await g.ask(metadata={"conversation_id": "odd"})

    with caplog.at_level(logging.WARNING, logger="selector.litellm"):
        response = asyncio.run(run())
    assert served(response) in (SMALL, LARGE)
    assert decision_of(response) is None
    said = [r for r in caplog.records if "LiteLLM chooses" in r.getMessage()]
    assert len(said) == 1
    assert scripted.feedback == []  # nothing reported against a decision never made


def test_a_group_with_no_catalog_model_costs_no_route_call(
    scripted: ScriptedSelector, llm: FakeLLM
) -> None:
    deployments = [deployment(llm, "in-house-a"), deployment(llm, "in-house-b")]

    async def run() -> Any:
        async with Gateway(scripted.url, deployments) as g:
            return [await g.ask(metadata={"conversation_id": f"x-{i}"}) for i in range(3)]

    assert all(served(r).startswith("in-house") for r in asyncio.run(run()))
    assert scripted.routes == []


def test_a_streamed_call_is_routed_and_reported(selector: SelectorServer, llm: FakeLLM) -> None:
    before = selector.samples()

    async def run() -> tuple[str, str | None]:
        async with Gateway(selector.url, [deployment(llm, SMALL), deployment(llm, LARGE)]) as g:
            trace = "stream-trace-1"
            stream = await g.ask(
                stream=True, litellm_trace_id=trace, metadata={"conversation_id": "st"}
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
            model = text.removeprefix("answered by ")
            # a stream's result is logged once it has ended, while the gateway runs on
            for _ in range(1500):
                if await asyncio.to_thread(lambda: selector.samples()[model] > before[model]):
                    break
                await asyncio.sleep(0.02)
            return model, g.routing.decision_id(trace)

    model, decision = asyncio.run(run())
    assert decision is not None
    assert selector.samples()[model] == before[model] + 1


def test_a_sync_call_is_served_by_litellm_and_said_once(
    selector: SelectorServer, llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    client = AsyncSelectorClient(selector.url, timeout_s=5)
    install(client)
    router = litellm.Router(model_list=[deployment(llm, SMALL), deployment(llm, LARGE)])
    with caplog.at_level(logging.WARNING, logger="selector.litellm"):
        for _ in range(3):
            response = router.completion(model="support", messages=HELLO)
            assert served(response) in (SMALL, LARGE)
        wait_until(lambda: any("sync call" in r.getMessage() for r in caplog.records))
    assert sum("sync call" in r.getMessage() for r in caplog.records) == 1
    asyncio.run(client.aclose())


def test_a_routed_call_raises_no_deprecation_warning(
    selector: SelectorServer, llm: FakeLLM
) -> None:
    async def run() -> None:
        async with Gateway(selector.url, [deployment(llm, SMALL), deployment(llm, LARGE)]) as g:
            await g.ask(metadata={"conversation_id": "warn"})

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(run())
    ours = [
        w
        for w in caught
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning)
        and ("model_selector_gateway" in w.filename or "deprecated" in str(w.message).lower())
    ]
    assert ours == [], [str(w.message) for w in ours]


def test_install_replaces_an_earlier_routing() -> None:
    client = AsyncSelectorClient("http://127.0.0.1:9")
    first = install(client)
    second = install(client)
    ours = [c for c in litellm.callbacks if isinstance(c, SelectorRouting | SelectorFeedback)]
    assert ours[0] is second
    assert first is not second
    assert len(ours) == 2  # the routing and its feedback
    asyncio.run(client.aclose())
