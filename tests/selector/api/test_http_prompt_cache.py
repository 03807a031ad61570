"""The prompt cache through the HTTP API on loopback: the model that served a
conversation's previous turn gets its prefix priced at the catalog's cached rate, the
answer says where the prefix is cached, a fallback that answered takes the cache over,
a failed call gives it back, call results keep ``cached_tokens``, and
``SELECTOR_PROMPT_CACHE=false`` prices every prompt in full."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any

import httpx

from selector.catalog import load_catalog
from selector.config.deciding import PACKAGE_DIR
from tests.conftest import Server

CATALOG = load_catalog(PACKAGE_DIR / "catalog.yaml")


def _route(c: httpx.Client, conversation: str, turns: int, prompt: int) -> dict[str, Any]:
    r = c.post(
        "/v1/route",
        json={
            "conversation_id": conversation,
            "turns": turns,
            "prompt_tokens": prompt,
            "intent": "dispute_charge",
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _answered(c: httpx.Client, decision_id: str, prompt: int, **extra: Any) -> None:
    fields = {"decision_id": decision_id, "latency_ms": 900, "prompt_tokens": prompt, **extra}
    r = c.post("/v1/feedback", json=fields)
    assert r.status_code == 202, r.text


def _score(body: dict[str, Any], model: str) -> dict[str, Any]:
    [score] = [s for s in body["scores"] if s["model"] == model]
    return score


def _full_cost(model: str, prompt: int, completion: float) -> float:
    return CATALOG[model].cost_usd(prompt, completion)


def test_the_previous_turns_model_gets_its_prefix_at_the_cached_rate(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(SELECTOR_POLICY="utility-v0")  # deterministic choices
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        first = _route(c, "c-1", 3, 4_000)
        assert "prompt_cache" not in first  # nothing served yet
        assert all("cached_prompt_tokens" not in s for s in first["scores"])
        model = first["model"]
        _answered(c, first["decision_id"], 4_000, cached_tokens=0)

        second = _route(c, "c-1", 5, 4_400)
        cache = second["prompt_cache"]
        assert (cache["model"], cache["prefix_tokens"], cache["cached_tokens"]) == (
            model,
            4_000,
            4_000,
        )
        assert 0.0 <= cache["age_s"] < 300.0
        held = _score(second, model)
        assert held["cached_prompt_tokens"] == 4_000
        spec = CATALOG[model]
        assert spec.cached_input_usd_per_mtok is not None
        # the same model's cost in a conversation it holds no cache of, less the prefix's
        # saving: the completion length is the policy's own estimate in both
        other = _route(c, "c-2", 5, 4_400)
        full = _score(other, model)["expected_cost_usd"]
        saving = 4_000 * (spec.input_usd_per_mtok - spec.cached_input_usd_per_mtok) / 1e6
        assert abs(held["expected_cost_usd"] - (full - saving)) < 1e-12
        for s in second["scores"]:
            if s["model"] != model:
                assert "cached_prompt_tokens" not in s
                assert s["expected_cost_usd"] == _score(other, s["model"])["expected_cost_usd"]

        # the chosen model fails and a fallback answers: the fallback holds the prefix
        fallback = second["fallbacks"][0]
        failed = {"decision_id": second["decision_id"], "error": "timeout", "latency_ms": 8000}
        assert c.post("/v1/feedback", json=failed).status_code == 202
        third = _route(c, "c-1", 7, 4_900)
        assert third["prompt_cache"]["model"] == model  # the failed call wrote no cache
        assert third["prompt_cache"]["prefix_tokens"] == 4_000
        _answered(c, third["decision_id"], 4_900, model=fallback, cached_tokens=0)
        fourth = _route(c, "c-1", 9, 5_300)
        assert fourth["prompt_cache"]["model"] == fallback
        assert fourth["prompt_cache"]["prefix_tokens"] == 4_900
        assert _score(fourth, fallback)["cached_prompt_tokens"] == 4_900

    with closing(sqlite3.connect(server.db_path)) as conn:  # kept with the call result
        rows = conn.execute(
            "SELECT model, prompt_tokens, cached_tokens FROM feedback WHERE cached_tokens "
            "IS NOT NULL ORDER BY ts"
        ).fetchall()
    assert rows == [(None, 4_000, 0), (fallback, 4_900, 0)]


def test_a_cached_count_above_the_prompt_is_kept_with_its_call_result(
    client: httpx.Client,
) -> None:
    """A gateway whose accounting says more cached tokens than prompt tokens still has
    its call result (and its latency) stored; the count is kept as sent."""
    body = _route(client, "c-over", 3, 1_000)
    fields = {"latency_ms": 700, "prompt_tokens": 800, "cached_tokens": 900}
    r = client.post("/v1/feedback", json={"decision_id": body["decision_id"], **fields})
    assert r.status_code == 202, r.text
    assert r.json()["duplicate"] is False


def test_the_cache_can_be_ignored(make_server: Callable[..., Server]) -> None:
    server = make_server(SELECTOR_POLICY="utility-v0", SELECTOR_PROMPT_CACHE="false")
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        first = _route(c, "c-1", 3, 4_000)
        _answered(c, first["decision_id"], 4_000)
        second = _route(c, "c-1", 5, 4_400)
        assert "prompt_cache" not in second
        assert all("cached_prompt_tokens" not in s for s in second["scores"])


def _choices(c: httpx.Client, conversations: list[str]) -> list[tuple[str, float]]:
    out = []
    for conversation in conversations:
        body = _route(c, conversation, 3, 500)
        out.append((body["model"], body["propensity"]))
    return out


def test_a_conversation_keeps_its_draw_and_the_propensities_stay_exact(
    make_server: Callable[..., Server],
) -> None:
    """bandit-v2 explores: the same turn asked again in one conversation goes to the same
    model (nothing was learnt between), while across conversations each model is chosen
    as often as its logged probability says."""
    server = make_server(SELECTOR_SEED="7")
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        again = _choices(c, ["same"] * 12)
        assert len({m for m, _ in again}) == 1
        many = _choices(c, [f"c-{i}" for i in range(400)])
        body = _route(c, "probe", 3, 500)
    models = {m for m, _ in many}
    assert len(models) > 1  # it does explore
    probs = {s["model"]: s["probability"] for s in body["scores"]}
    for model in models:  # within four standard errors of the logged probability
        p = probs[model]
        share = sum(m == model for m, _ in many) / len(many)
        assert abs(share - p) <= 4 * (p * (1 - p) / len(many)) ** 0.5 + 1e-9, (model, share, p)


def test_fresh_draws_vary_within_a_conversation(make_server: Callable[..., Server]) -> None:
    server = make_server(SELECTOR_SEED="7", SELECTOR_STICKY_DRAWS="false")
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        again = _choices(c, ["same"] * 60)
    assert len({m for m, _ in again}) > 1
