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
from peers import FakeLLM, ScriptedSelector, SelectorServer, free_port, wait_until

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


def config(backend: FakeLLM) -> str:
    """The proxy's model groups: ``support`` (two catalog models, one named through
    ``model_info``), ``flaky`` (two catalog models that fail) falling back to ``backup``,
    and ``in-house`` (no catalog model)."""

    def entry(group: str, model: str, named: str | None = None) -> str:
        info = f"\n    model_info: {{selector_model: {named}}}" if named else ""
        return (
            f"  - model_name: {group}\n"
            f"    litellm_params: {{model: openai/{model}, api_base: '{backend.base()}', "
            f"api_key: unused}}{info}"
        )

    deployments = [
        entry("support", "prod-small-eu", SMALL),
        entry("support", LARGE),
        entry("flaky", "broken-1", SMALL),
        entry("flaky", "broken-2", LARGE),
        entry("backup", "gpt-5-mini"),
        entry("in-house", "house-llm"),
    ]
    return (
        "model_list:\n" + "\n".join(deployments) + "\n"
        "litellm_settings:\n  callbacks: [selector_hooks.routing, selector_hooks.feedback]\n"
        "router_settings:\n  num_retries: 1\n  fallbacks: [{flaky: [backup]}]\n"
    )


class Proxy:
    """A LiteLLM proxy over ``backend``, routed by the selector at ``selector_url``,
    started in ``folder``; :meth:`wait` for it to answer, :meth:`stop` it."""

    def __init__(self, selector_url: str, backend: FakeLLM, folder: Path) -> None:
        (folder / "selector_hooks.py").write_text(HOOKS, encoding="utf-8")
        (folder / "config.yaml").write_text(config(backend), encoding="utf-8")
        self.log = folder / "proxy.log"
        port = free_port()
        env = {
            **os.environ,
            "SELECTOR_URL": selector_url,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": KEY,
            "PYTHONPATH": str(folder),
        }
        command = [*proxy_command(), "--config", "config.yaml", "--host", "127.0.0.1"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the LiteLLM proxy exited with {self.proc.returncode}:\n{tail}")
        try:
            return httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait(self) -> str:
        wait_until(self._up, 180, "the LiteLLM proxy's start")
        return self.url

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def backend() -> Iterator[FakeLLM]:
    llm = FakeLLM()
    llm.failing = {"broken-1", "broken-2"}
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def odd_selector() -> Iterator[ScriptedSelector]:
    fake = ScriptedSelector()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def proxies(
    selector: SelectorServer,
    odd_selector: ScriptedSelector,
    backend: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """Two proxies, started together: one routed by the real selector, and one whose
    selector answers what each test tells it. Their URLs."""
    missing = proxy_installed()
    if missing is not None:
        pytest.skip(missing)
    started: list[Proxy] = []
    try:
        for url, name in ((selector.url, "proxy"), (odd_selector.url, "odd")):
            started.append(Proxy(url, backend, tmp_path_factory.mktemp(name)))
        real, odd = (p.wait() for p in started)
        yield real, odd
    finally:
        for p in started:
            p.stop()


@pytest.fixture(scope="module")
def proxy(proxies: tuple[str, str]) -> str:
    return proxies[0]


@pytest.fixture(scope="module")
def odd_proxy(proxies: tuple[str, str]) -> str:
    return proxies[1]


def ask(proxy: str, conversation: str, group: str = "support") -> httpx.Response:
    body: dict[str, Any] = {
        "model": group,
        "messages": [{"role": "user", "content": "I was charged twice for my order"}],
        "metadata": {"conversation_id": conversation},
    }
    answer = httpx.post(f"{proxy}/v1/chat/completions", json=body, headers=AUTH, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer


def content(answer: httpx.Response) -> str:
    return str(answer.json()["choices"][0]["message"]["content"]).removeprefix("answered by ")


def test_the_proxys_answer_names_the_decision_and_the_model_that_served(
    proxy: str, selector: SelectorServer
) -> None:
    before = selector.samples()
    answer = ask(proxy, "proxy-1")
    decision = answer.headers.get("x-selector-decision-id")
    model = answer.headers.get("x-selector-model")
    assert decision
    assert model in (SMALL, LARGE)  # the catalog's name, also of a deployment named so
    assert content(answer) == {SMALL: "prod-small-eu", LARGE: LARGE}[model]
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


def test_a_failing_group_falls_back_to_its_backup_with_a_decision_of_its_own(
    proxy: str, selector: SelectorServer, backend: FakeLLM
) -> None:
    before = selector.samples()
    answer = ask(proxy, "proxy-3", group="flaky")
    assert content(answer) == "gpt-5-mini"
    assert answer.headers.get("x-selector-model") == "gpt-5-mini"
    assert answer.headers.get("x-selector-decision-id")
    # both failing models were tried, and a failure reported under its catalog name
    # (the deployments are broken-1 and broken-2; the proxy logs one failure of a group
    # that falls back, where a Router logs each attempt's)
    tried = {"broken-1": SMALL, "broken-2": LARGE}
    assert {tried[m] for m in backend.served() if m in tried} == {SMALL, LARGE}
    wait_until(
        lambda: any(selector.samples()[m] > before[m] for m in (SMALL, LARGE)),
        what="a failure's report",
    )


def test_a_group_with_no_catalog_model_is_left_alone(
    odd_proxy: str, odd_selector: ScriptedSelector
) -> None:
    routes = len(odd_selector.routes)
    answer = ask(odd_proxy, "proxy-4", group="in-house")
    assert content(answer) == "house-llm"
    assert "x-selector-decision-id" not in answer.headers
    assert len(odd_selector.routes) == routes  # no route call


@pytest.mark.parametrize(
    "answer",
    [
        (200, b"<html>upstream</html>"),
        (200, {"decision_id": "d-x", "model": "gpt-9", "fallbacks": []}),
        (503, {"error": {"code": "not_ready"}}),
    ],
    ids=["not-json", "unknown-model", "503"],
)
def test_whatever_the_selector_answers_the_proxy_serves(
    odd_proxy: str, odd_selector: ScriptedSelector, answer: tuple[int, Any]
) -> None:
    odd_selector.answer = answer
    served = ask(odd_proxy, "proxy-5")
    assert content(served) in ("prod-small-eu", LARGE)
    assert "x-selector-decision-id" not in served.headers
