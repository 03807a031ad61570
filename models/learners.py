"""The online layer's learners by name: the built-in residual learner
(:mod:`models.bandit`), the contextual one (:mod:`models.contextual`) or Vowpal Wabbit
(:mod:`models.vw`, an optional dependency, imported only when asked for)."""

from __future__ import annotations

from typing import Any

from models.bandit import BanditParams, OnlineModel, ResidualBandit
from models.contextual import ContextualBandit

__all__ = ["build"]


def build(params: BanditParams, state: dict[str, Any] | None = None) -> OnlineModel:
    """The learner ``params`` names, fresh or restored from ``state``."""
    if params.learner == "vw":
        from models.vw import VWBandit  # vowpalwabbit is only needed when chosen

        return VWBandit(params) if state is None else VWBandit.from_state(state)
    if params.learner == "contextual":
        return ContextualBandit(params) if state is None else ContextualBandit.from_state(state)
    return ResidualBandit(params) if state is None else ResidualBandit.from_state(state)
