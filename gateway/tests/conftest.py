"""Fixtures of the gateway's tests: a real selector per session (and fresh ones where a
test needs its own state), the fake LLM backend, a scripted selector, and a real
LiteLLM proxy started with the plug-in."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM: no network at import

from peers import FakeLLM, ScriptedSelector, SelectorServer


@pytest.fixture(scope="session")
def selector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SelectorServer]:
    """One real selector shared by the tests that only add to its state."""
    server = SelectorServer(tmp_path_factory.mktemp("selector")).start()
    yield server
    server.stop()


@pytest.fixture
def make_selector(tmp_path: Path) -> Iterator[Callable[..., SelectorServer]]:
    """Real selectors of one test's own, with settings (``SELECTOR_POLICY=…``)."""
    started: list[SelectorServer] = []

    def make(**env: str) -> SelectorServer:
        server = SelectorServer(tmp_path / f"selector-{len(started)}", env).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    backend = FakeLLM()
    yield backend
    backend.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedSelector]:
    fake = ScriptedSelector()
    yield fake
    fake.close()
