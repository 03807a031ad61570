"""The online layer built from the settings: its learner over the decision log, restored
from its saved state (:func:`selector.engine.state_store`) when that is usable, else new
(it then reads the whole log)."""

from __future__ import annotations

import logging

from core.errors import ConfigError
from selector.config import Settings
from selector.engine import state_store
from selector.online import OnlineLearner, StateError
from selector.online.bandit import BanditParams
from selector.online.learners import build
from selector.policy import Policy, policy_class
from selector.reward import RewardConfig
from selector.store.base import DecisionLog

__all__ = ["learner_if_needed", "learner_kind", "new_learner", "open_learner"]

log = logging.getLogger(__name__)


def _online_policies(settings: Settings) -> list[tuple[str, type[Policy]]]:
    named = [(settings.policy, "SELECTOR_POLICY")]
    if settings.challenger_policy:
        named.append((settings.challenger_policy, "SELECTOR_CHALLENGER_POLICY"))
    found = [(n, policy_class(n, v)) for n, v in named]
    return [(n, cls) for n, cls in found if cls.online]


def learner_kind(settings: Settings) -> str:
    """The learner the online policies need: the one a policy names (``bandit-v2``:
    'contextual'), else ``bandit_learner``; a ConfigError when the served policy and the
    challenger need different ones (they read one online layer)."""
    kinds = {n: getattr(cls, "learner", None) for n, cls in _online_policies(settings)}
    needed = {k for k in kinds.values() if k is not None}
    if len(needed) > 1:
        raise ConfigError(
            f"the served policy and the challenger need different online learners "
            f"({kinds}); they share one: pick a challenger of the same family"
        )
    return needed.pop() if needed else settings.bandit_learner


def learner_if_needed(settings: Settings, source: DecisionLog) -> OnlineLearner | None:
    """The online layer's learner over ``source`` when the served or the challenger
    policy reads it."""
    if not _online_policies(settings):
        return None
    learner, how = open_learner(settings, source)
    log.info("online layer: %s", how)
    return learner


def new_learner(settings: Settings, source: DecisionLog) -> OnlineLearner:
    """An online layer's learner that has read nothing of the decision log yet."""
    params = BanditParams(
        memory=settings.bandit_memory,
        prior_weight=settings.bandit_prior_weight,
        gamma=settings.bandit_gamma,
        min_exploration=settings.bandit_min_exploration,
        learner=learner_kind(settings),
        ridge=(
            settings.bandit_ridge
            if settings.quality_model == "prior"
            else settings.bandit_ridge_learned
        ),
        posterior_scale=settings.bandit_posterior_scale,
    )
    reward = RewardConfig(
        late_penalty=settings.reward_late_penalty,
        deadline_ms=settings.reward_deadline_ms,
        default_outcome=settings.reward_default_outcome,
    )
    return OnlineLearner(build(params), source, reward, settings.join_window_s)


def open_learner(settings: Settings, source: DecisionLog) -> tuple[OnlineLearner, str]:
    """The online layer's learner over the decision log ``source``: the saved one when
    it is usable, else a new one (that will read the whole log); and what was done, for
    the logs."""
    fresh = new_learner(settings, source)
    store = state_store(settings)
    try:
        learner = OnlineLearner.from_saved(
            store, fresh.bandit.params, source, fresh.reward, settings.join_window_s
        )
        return learner, f"restored from {store.where} (feedback row {learner.cursor})"
    except StateError as exc:
        return fresh, f"{exc}: learning from the whole decision log"
