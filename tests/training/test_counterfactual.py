"""The router and the baselines replayed on the same requests with the same answers."""

from __future__ import annotations

import numpy as np

from tests.generated_routing import generated
from training.counterfactual import MIN_COMPLETE, Replay, compare_many
from training.data import RoutingData


def with_gaps(data: RoutingData, missing: float, seed: int = 0) -> RoutingData:
    """``data`` with a share ``missing`` of the strong model's answers dropped."""
    rng = np.random.default_rng(seed)
    drop = (data.outcomes["model"] == "strong") & (rng.random(len(data.outcomes)) < missing)
    outcomes = data.outcomes[~drop].reset_index(drop=True)
    return RoutingData(data.requests, outcomes, data.models, data.source, data.content_hash)


def test_baselines_and_router_are_replayed_on_the_requests_every_model_answered() -> None:
    data = with_gaps(generated(400), 0.3)
    replay = Replay(data)
    answered = data.matrix().notna().all(axis=1).to_numpy()
    assert (replay.rows == answered).all()
    assert replay.n == int(answered.sum()) >= MIN_COMPLETE
    assert replay.available.all()  # no missing answer left to count as a failure
    strong = replay.models.index("strong")
    truth = data.matrix().to_numpy()[answered, strong].mean()
    assert replay.outcome(replay.single(strong))[0] == truth
    p = np.zeros((len(data.requests), 2))
    found = compare_many(data, p, 0, None)
    assert found.summary["compared_on"].startswith(f"the {replay.n} of 400 evaluated requests")


def test_with_too_few_complete_requests_the_rule_says_what_it_counts() -> None:
    data = with_gaps(generated(400), 0.97)
    replay = Replay(data)
    assert replay.n == 400
    assert "count as unresolved" in replay.rule
    full = Replay(generated(400))
    assert full.rule == "the 400 of 400 evaluated requests every model answered"
