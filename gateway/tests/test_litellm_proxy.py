"""The plug-in in a real LiteLLM proxy (``litellm --config``), started here with a model
group of two catalog models over the fake backend and the plug-in as its callbacks, as
docs/litellm.md configures it: an HTTP caller gets the decision id and the model that
served in the answer's headers, and reports the outcome against that decision."""

from __future__ import annotations

import importlib.metadata
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from model_selector_gateway import SelectorClient
from peers import FakeLLM, SelectorServer, free_port, wait_until

pytestmark = pytest.mark.integration

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"
KEY = f"sk-{secrets.token_hex(32)}"  # the proxy refuses to start without a master key
AUTH = {"authorization": f"Bearer {KEY}"}

HOOKS = """\
import importlib.metadata
import os

from model_selector_gateway import AsyncSelectorClient
from model_selector_gateway.litellm import SelectorFeedback, SelectorRouting

selector = AsyncSelectorClient(os.environ["SELECTOR_URL"], timeout_s=0.25)
routing = SelectorRouting(selector)
feedback = SelectorFeedback(routing)
"""


def proxy_command() -> list[str]:
    beside = Path(sys.executable).with_name("litellm")
    found = str(beside) if beside.exists() else shutil.which("litellm")
    if found is None:
        pytest.fail("no `litellm` command: install litellm[proxy] (the gateway's test extra)")
    return [found]


def proxy_installed() -> str | None:
    """Why the proxy cannot run here, or ``None`` when it can (asked of another process:
    importing the proxy registers callbacks of its own)."""
    done = subprocess.run(
        [sys.executable, "-c", "import litellm.proxy.proxy_server"],
        capture_output=True,
        text=True,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    if done.returncode == 0:
        return None
    why = (done.stderr.strip().splitlines() or ["?"])[-1]
    version = importlib.metadata.version("litellm")
    return f"the LiteLLM proxy cannot run with LiteLLM {version} (litellm[proxy]): {why}"


@pytest.fixture(scope="module")
def backend() -> Iterator[FakeLLM]:
    llm = FakeLLM()
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def proxy(
    selector: SelectorServer, backend: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    missing = proxy_installed()
    if missing is not None:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("proxy")
    (folder / "selector_hooks.py").write_text(HOOKS, encoding="utf-8")
    deployments = "\n".join(
        f"  - model_name: support\n"
        f"    litellm_params: {{model: openai/{m}, api_base: '{backend.base()}', "
        f"api_key: unused}}"
        for m in (SMALL, LARGE)
    )
    (folder / "config.yaml").write_text(
        f"model_list:\n{deployments}\n"
        "litellm_settings:\n  callbacks: [selector_hooks.routing, selector_hooks.feedback]\n",
        encoding="utf-8",
    )
    port = free_port()
    env = {
        **os.environ,
        "SELECTOR_URL": selector.url,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": KEY,
        "PYTHONPATH": str(folder),
    }
    with (folder / "proxy.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                *proxy_command(),
                "--config",
                "config.yaml",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            tail = (folder / "proxy.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the LiteLLM proxy exited with {proc.returncode}:\n{tail}")
        try:
            return httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 180, "the LiteLLM proxy's start")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ask(proxy: str, conversation: str) -> httpx.Response:
    body: dict[str, Any] = {
        "model": "support",
        "messages": [{"role": "user", "content": "I was charged twice for my order"}],
        "metadata": {"conversation_id": conversation},
    }
    answer = httpx.post(f"{proxy}/v1/chat/completions", json=body, headers=AUTH, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer


def test_the_proxys_answer_names_the_decision_and_the_model_that_served(
    proxy: str, selector: SelectorServer
) -> None:
    before = selector.samples()
    answer = ask(proxy, "proxy-1")
    decision = answer.headers.get("x-selector-decision-id")
    model = answer.headers.get("x-selector-model")
    assert decision
    assert model in (SMALL, LARGE)
    assert answer.json()["choices"][0]["message"]["content"] == f"answered by {model}"
    wait_until(lambda: selector.samples()[model] == before[model] + 1, what="the call's result")
    with SelectorClient(selector.url, timeout_s=5) as client:  # the caller's outcome
        first = client.report_outcome(decision, resolved=True)
        again = client.report_outcome(decision, resolved=True)
    assert first is not None
    assert not first.duplicate
    assert again is not None
    assert again.duplicate


def test_each_request_through_the_proxy_gets_its_own_decision(proxy: str) -> None:
    ids = {ask(proxy, "proxy-2").headers.get("x-selector-decision-id") for _ in range(3)}
    assert None not in ids
    assert len(ids) == 3


def test_a_request_for_a_group_outside_the_catalog_is_left_alone(
    proxy: str, backend: FakeLLM
) -> None:
    answer = httpx.post(
        f"{proxy}/v1/chat/completions",
        json={"model": f"openai/{LARGE}", "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
        timeout=60,
    )
    # not a group of the proxy: LiteLLM answers as it would without the selector
    assert "x-selector-decision-id" not in answer.headers
