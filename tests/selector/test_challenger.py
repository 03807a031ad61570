"""A challenger policy beside the served one: shadow and canary, and `selector compare`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from prometheus_client import generate_latest

from features.extractor import Conversation
from selector.cli import cli
from selector.config import Settings, load_settings
from selector.decisions import RouteInput
from selector.service import SelectorService
from selector.store import FeedbackEvent, SQLiteLog
from selector.wiring import build_service
from training.logged_decisions import load_logged
from training.policy_eval import compare

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"
TEXTS = {"billing": "I was charged twice for order {}", "card": "my new card has not arrived {}"}
TRUTH = {
    ("billing", SMALL): 0.3,
    ("billing", LARGE): 0.85,
    ("card", SMALL): 0.9,
    ("card", LARGE): 0.9,
}


def settings_for(folder: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "db_path": folder / "selector.db",
        "policy": "utility-v0",
        "challenger_policy": "bandit-v1",
        "quality_model": "prior",
        "seed": 3,
        "bandit_gamma": 50.0,
        "bandit_min_exploration": 0.2,
        "bandit_updates": "inline",
        "mlflow_tracking_uri": f"sqlite:///{folder}/mlflow.db",
    }
    return load_settings(**{**base, **overrides})


def run(service: SelectorService, n: int, turns: int = 1, seed: int = 1) -> list[Any]:
    rng = np.random.default_rng(seed)
    results = []

    async def go() -> None:
        for i in range(n):
            kind = "billing" if rng.random() < 0.5 else "card"
            for _ in range(turns):
                text = TEXTS[kind].format(i)
                res = await service.route(
                    RouteInput(f"conv-{i}", Conversation(messages=[("user", text)]), [SMALL, LARGE])
                )
                results.append(res)
                good = bool(rng.random() < TRUTH[kind, res.decision.model])
                await service.feedback(FeedbackEvent(res.decision_id, {"resolved": good}))

    service.start()
    try:
        asyncio.run(go())
    finally:
        service.stop()
    return results


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_shadow_challenger_decides_and_logs_but_never_serves(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    service = build_service(settings)
    results = run(service, 300)
    assert {r.decision.policy for r in results} == {"utility-v0"}
    served = dict(table(settings.store.db_path, "SELECT decision_id, policy FROM decisions"))
    others = table(
        settings.store.db_path, "SELECT decision_id, policy, model, propensity FROM other_decisions"
    )
    assert len(others) == len(served) == 300
    assert {p for _, p, _, _ in others} == {"bandit-v1"}
    assert all(0 < prop <= 1 for *_, prop in others)
    disagree = sum(m != r.decision.model for (_, _, m, _), r in zip(others, results, strict=True))
    assert 0 < disagree < 300  # the exploring challenger sometimes chooses otherwise
    text = generate_latest(service.metrics.registry).decode()
    assert 'selector_other_decisions_total{agrees="false",policy="bandit-v1"}' in text


def test_a_canary_serves_its_share_of_conversations_and_each_stays_with_one_policy(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, challenger_mode="canary", canary_share=0.3)
    service = build_service(settings)
    results = run(service, 400, turns=2)
    by_conv: dict[str, set[str]] = {}
    for r, (cid,) in zip(
        results,
        table(settings.store.db_path, "SELECT conversation_id FROM decisions ORDER BY rowid"),
        strict=True,
    ):
        by_conv.setdefault(cid, set()).add(r.decision.policy)
    assert all(len(p) == 1 for p in by_conv.values())
    share = Counter(next(iter(p)) for p in by_conv.values())["bandit-v1"] / len(by_conv)
    assert share == pytest.approx(0.3, abs=0.07)
    # the policy not served is logged on every request: the champion beside the canary
    others = dict(table(settings.store.db_path, "SELECT decision_id, policy FROM other_decisions"))
    for r in results:
        assert others[r.decision_id] != r.decision.policy


def test_compare_reports_live_outcomes_and_dr_for_both_policies(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run(build_service(settings), 1_200)
    logged = load_logged(SQLiteLog(settings.store.db_path), settings.reward.late_penalty)
    found = compare(logged, min_ess=50)
    served, shadow = (
        next(k for k in found if k.startswith(p)) for p in ("utility-v0", "bandit-v1")
    )
    assert found[served]["live"]["decisions"] == 1_200
    assert found[shadow]["live"]["decisions"] == 0
    assert found[shadow]["ope_decisions"] == 1_200
    # the served policy decided deterministically: its DR value is its observed mean
    assert found[served]["dr"]["value"] == pytest.approx(found[served]["live"]["reward"])
    assert 0 < found[shadow]["agreement"] < 1
    assert "dr" in found[shadow]

    result = CliRunner().invoke(
        cli,
        [
            "compare",
            "--db",
            str(settings.store.db_path),
            "--min-ess",
            "50",
            "--tracking-uri",
            settings.models.mlflow_tracking_uri,
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"| {served} | 1,200 |" in result.output
    assert f"| {shadow} | 0 |" in result.output
    assert "MLflow run" in result.output
