"""Traffic through a real service whose online layer learns inline, for the online layer's tests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import generate_latest

from features.extractor import Conversation
from selector.config import Settings, load_settings
from selector.decisions import RouteInput, RouteResult
from selector.reward import turn_reward
from selector.service import SelectorService
from selector.store import FeedbackEvent

CARD = "my new card has still not arrived"

DISPUTE = "I was charged twice for the same order and want my money back"


class LogTime:
    """The log's clock in a test: it stands still at the time it was made, and the test
    moves it on (:meth:`advance`) instead of sleeping, so a join window closes when the
    test says, however fast the machine runs."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def settings_for(folder: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "db_path": folder / "selector.db",
        "policy": "bandit-v1",
        "quality_model": "prior",
        "seed": 11,
        "bandit_updates": "inline",
        "mlflow_tracking_uri": f"sqlite:///{folder}/no-registry.db",
    }
    return load_settings(**{**base, **overrides})


def route(service: SelectorService, text: str, i: int = 0) -> RouteResult:
    conv = Conversation(messages=[("user", text)])
    return asyncio.run(service.route(RouteInput(f"c{i}", conv, max_latency_ms=3000)))


def send(service: SelectorService, decision_id: str, **fields: Any) -> None:
    asyncio.run(service.feedback(FeedbackEvent(decision_id, fields)))


def run_traffic(service: SelectorService, n: int, seed: int = 3) -> None:
    """``n`` turns with call results and outcomes; the card answers of one model fail."""
    rng = np.random.default_rng(seed)

    async def go() -> None:
        for i in range(n):
            text = CARD if rng.random() < 0.5 else DISPUTE
            conv = Conversation(messages=[("user", f"{text} ({i})")])
            res = await service.route(RouteInput(f"c{i}", conv, max_latency_ms=3000))
            model = res.decision.model
            latency = float(rng.uniform(200, 2900))  # within the deadline: all learned
            await service.feedback(
                FeedbackEvent(res.decision_id, {"latency_ms": latency, "cost_usd": 0.002})
            )
            bad = text == CARD and model == service.catalog.enabled_names[0]
            good = bool(rng.random() < (0.2 if bad else 0.9))
            await service.feedback(FeedbackEvent(res.decision_id, {"resolved": good}))

    asyncio.run(go())


def metrics(service: SelectorService) -> str:
    return generate_latest(service.metrics.registry).decode()


def first_correction(
    service: SelectorService, res: RouteResult, outcome: float, cost: float
) -> float:
    """The correction of the decided model after this one outcome of a call that
    succeeded in time: the layer learns the latency the decision expected."""
    chosen = next(s for s in res.decision.scores if s.model == res.decision.model)
    reward = turn_reward(
        outcome,
        cost,
        chosen.expected_latency_ms,
        False,
        res.decision.cost_weight,
        res.decision.latency_weight,
        service.settings.reward.late_penalty,
    )
    residual = reward - chosen.utility
    n0 = service.learner.bandit.params.prior_weight  # type: ignore[union-attr]
    model_level = residual / (1 + n0)
    return (residual + n0 * model_level) / (1 + n0)
