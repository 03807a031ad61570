"""The LiteLLM example of the docs (docs/examples/litellm_selector.py), run as written: a
real ``litellm.Router`` over a fake OpenAI-compatible backend on loopback, routed by a
real selector server, which receives every call's result and the outcome."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Server, free_port

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
litellm = pytest.importorskip("litellm")
pytestmark = [
    pytest.mark.integration,
    # LiteLLM's own warnings, about its own types
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),
]

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"  # two models of the default catalog


def example() -> ModuleType:
    path = ROOT / "docs" / "examples" / "litellm_selector.py"
    spec = importlib.util.spec_from_file_location("litellm_selector", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def backend() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.docs.fake_llm:app", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "FAKE_LLM_FAILING": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=10)


def router_over(backend: str) -> Any:
    deployment = {"api_base": backend, "api_key": "unused"}
    return litellm.Router(
        model_list=[
            {"model_name": "support", "litellm_params": {"model": f"openai/{m}", **deployment}}
            for m in (SMALL, LARGE)
        ]
    )


async def converse(selector_url: str, backend: str, text: str) -> tuple[str, str | None]:
    ex = example()
    async with httpx.AsyncClient(base_url=selector_url) as client:
        router = router_over(backend)
        ex.install(router, ex.SelectorRouting(router, client, default=SMALL))
        litellm.callbacks = [ex.SelectorFeedback(client)]
        metadata: dict[str, Any] = {"conversation_id": "c-1"}
        try:
            response = await router.acompletion(
                model="support",
                messages=[{"role": "user", "content": text}],
                metadata=metadata,
            )
            await asyncio.sleep(0.5)  # the callback runs after the response
            decision = metadata.get(ex.DECISION)
            if decision is not None:
                await ex.report_outcome(client, decision, resolved=True)
        finally:
            litellm.callbacks = []
    return str(response.choices[0].message.content), decision


def test_the_router_serves_the_selectors_choice_and_reports_back(
    make_server: Callable[..., Server], backend: str
) -> None:
    server = make_server()
    answer, decision = asyncio.run(converse(server.url, backend, "I was charged twice"))
    assert decision is not None
    with httpx.Client(base_url=server.url) as c:
        live = {m["name"]: m["live"] for m in c.get("/v1/models").json()["models"]}
        again = c.post("/v1/feedback", json={"decision_id": decision, "resolved": True})
    chosen = answer.removeprefix("answered by ")
    assert chosen in (SMALL, LARGE)
    assert live[chosen]["samples"] == 1  # the call's result reached the live statistics
    assert again.json()["duplicate"] is True  # the outcome was stored once


def test_without_the_selector_the_default_deployment_answers(backend: str) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    answer, decision = asyncio.run(converse(nobody, backend, "where is my card"))
    assert answer == f"answered by {SMALL}"
    assert decision is None


def test_the_example_names_deployments_by_catalog_model() -> None:
    ex = example()
    assert ex.selector_model({"litellm_params": {"model": "openai/gpt-5"}}) == "gpt-5"
    named = {"litellm_params": {"model": "azure/prod-1"}, "model_info": {"selector_model": "x"}}
    assert ex.selector_model(named) == "x"


def test_the_docs_page_shows_the_example_as_it_is() -> None:
    page = (ROOT / "docs" / "litellm.md").read_text(encoding="utf-8")
    assert '--8<-- "examples/litellm_selector.py"' in page
    assert Path(ROOT / "docs" / "examples" / "litellm_selector.py").is_file()
