"""docs/litellm.md's walk-through, run as written: its script routes a real
``litellm.Router`` through a real selector server to a fake OpenAI-compatible backend on
loopback; the call's result and the outcome reach the service."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ROOT, Server

pytest.importorskip("litellm")
pytestmark = pytest.mark.integration
SCRIPT = ROOT / "docs" / "examples" / "litellm_gateway.py"


def test_the_walkthrough_script_routes_and_reports(
    make_server: Callable[..., Server], backend: Callable[..., str]
) -> None:
    server = make_server()
    env = {
        **os.environ,
        "SELECTOR_URL": server.url,
        "LLM_API_BASE": backend(),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer, decided = done.stdout.strip().splitlines()[-2:]
    served = answer.removeprefix("answered by ")
    decision = decided.removeprefix("decision: ")
    with httpx.Client(base_url=server.url) as c:
        live = {m["name"]: m["live"] for m in c.get("/v1/models").json()["models"]}
        again = c.post("/v1/feedback", json={"decision_id": decision, "resolved": True})
    assert live[served]["samples"] == 1  # the call's result was reported
    assert again.json()["duplicate"] is True  # and so was the outcome


def test_the_page_shows_the_script_as_it_is() -> None:
    page = (ROOT / "docs" / "litellm.md").read_text(encoding="utf-8")
    assert '--8<-- "examples/litellm_gateway.py"' in page
