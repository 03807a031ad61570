"""docs/litellm.md's walk-through, run as written: its script routes a real
``litellm.Router`` through a real selector to the fake backend (``LLM_API_BASE``); the
call's result and the outcome reach the service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from peers import FakeLLM, SelectorServer

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs"
SCRIPT = DOCS / "examples" / "litellm_gateway.py"


def test_the_walkthrough_script_routes_and_reports(selector: SelectorServer, llm: FakeLLM) -> None:
    before = selector.samples()
    env = {**os.environ, "SELECTOR_URL": selector.url, "LLM_API_BASE": llm.base()}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer, decided = done.stdout.strip().splitlines()[-2:]
    served = answer.removeprefix("answered by ")
    decision = decided.removeprefix("decision: ")
    assert selector.samples()[served] == before[served] + 1  # the call's result
    again = httpx.post(
        f"{selector.url}/v1/feedback", json={"decision_id": decision, "resolved": True}
    )
    assert again.json()["duplicate"] is True  # the outcome was stored


def test_the_page_shows_the_script_as_it_is() -> None:
    page = (DOCS / "litellm.md").read_text(encoding="utf-8")
    assert '--8<-- "examples/litellm_gateway.py"' in page
