from __future__ import annotations

import json

import pytest

from selector.online.bandit import BanditParams, Update
from selector.online.learners import build
from selector.online.vw import VWBandit

MODELS = ["a", "b", "c"]
UTIL = [0.90, 0.95, 0.93]


def test_vw_learns_to_avoid_an_action_that_fails_on_one_group() -> None:
    vw = build(BanditParams(learner="vw", gamma=100, min_exploration=0.05))
    assert isinstance(vw, VWBandit)
    for i in range(600):
        chosen = i % 3
        bad = chosen == 1  # b, the offline favourite, fails on payments
        vw.learn(Update(MODELS, "payments", UTIL, chosen, 1 / 3, 0.1 if bad else 0.9))
    _, probs, _ = vw.distribution(MODELS, "payments", UTIL, 0.5)
    assert sum(probs) == pytest.approx(1.0)
    assert min(probs) >= 0.05 / 3 - 1e-9
    assert probs[1] < 0.1


def test_vw_state_round_trips_through_json() -> None:
    vw = build(BanditParams(learner="vw", gamma=100))
    for i in range(50):
        vw.learn(Update(MODELS, "account", UTIL, i % 3, 1 / 3, 0.5 + (i % 3) / 10))
    again = VWBandit.from_state(json.loads(json.dumps(vw.state())))
    assert again.updates_ == 50
    assert again.distribution(MODELS, "account", UTIL, 0.3) == vw.distribution(
        MODELS, "account", UTIL, 0.3
    )
    with pytest.raises(ValueError, match="not a VW bandit state"):
        VWBandit.from_state({"params": {"learner": "vw"}})
