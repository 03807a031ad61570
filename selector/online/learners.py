"""The online layer's learners by name: the built-in residual learner
(:mod:`selector.online.bandit`), the contextual one (:mod:`selector.online.contextual`)
or Vowpal Wabbit (:mod:`selector.online.vw`, an optional dependency, imported only when
asked for)."""

from __future__ import annotations

from typing import Any

from selector.online.bandit import BanditParams, OnlineModel, ResidualBandit
from selector.online.contextual import ContextualBandit

__all__ = ["build"]


def build(params: BanditParams, state: dict[str, Any] | None = None) -> OnlineModel:
    """The learner ``params`` names, fresh or restored from ``state``."""
    if params.learner == "vw":
        from selector.online.vw import VWBandit  # vowpalwabbit is only needed when chosen

        return VWBandit(params) if state is None else VWBandit.from_state(state)
    if params.learner == "contextual":
        return ContextualBandit(params) if state is None else ContextualBandit.from_state(state)
    return ResidualBandit(params) if state is None else ResidualBandit.from_state(state)
