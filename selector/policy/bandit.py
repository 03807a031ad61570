"""The online policies: the offline utility corrected by the online layer, explored
with SquareCB.

- ``bandit-v1``: each eligible candidate's estimate is its utility (offline
  P(resolved), expected cost, live latency and error rate) plus the correction the
  online layer learned for its model on the request's intent group
  (:mod:`selector.online.bandit`).
- ``bandit-v2``: the correction is a regression per model on the request's context,
  and exploration is optimistic where the evidence is thin (:mod:`selector.online.contextual`).

The choice is drawn from SquareCB's distribution over the estimates with the configured
floor; the chosen model's probability is the decision's propensity, and every
candidate's estimate and probability are logged with its score (ineligible ones with
probability 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from features.extractor import FeatureVector
from selector.online.bandit import BanditParams, OnlineModel
from selector.online.contexts import contexts_of
from selector.online.learners import build
from selector.policy.base import CandidateScore, Policy, QualityModel

__all__ = ["BanditPolicy", "ContextualPolicy"]


class BanditPolicy(Policy):
    """Utility + online correction, SquareCB exploration with exact propensities."""

    name = "bandit-v1"
    version = "1.0"
    online = True
    learner: ClassVar[str | None] = None  # the learner it needs (None: the configured one)

    def __init__(
        self,
        quality: QualityModel,
        providers: dict[str, str],
        max_fallbacks: int = 3,
        seed: int | None = None,
        bandit: OnlineModel | None = None,
    ) -> None:
        super().__init__(quality, providers, max_fallbacks, seed)
        if bandit is None:
            bandit = build(BanditParams(learner=self.learner or "residual"))
        self.bandit: OnlineModel = bandit

    def _rank(
        self,
        fv: FeatureVector,
        scores: Sequence[CandidateScore],
        eligible: Sequence[int],
        draw: float | None = None,
    ) -> tuple[list[int], float]:
        estimates, probs, pick = self.bandit.distribution(
            [scores[i].model for i in eligible],
            fv.intent_group,
            [scores[i].utility for i in eligible],
            self.rng.random() if draw is None else draw,
            self._contexts(fv, scores, eligible),
        )
        for s in scores:
            s.probability = 0.0
        for i, e, p in zip(eligible, estimates, probs, strict=True):
            scores[i].estimate, scores[i].probability = e, p
        order = sorted(range(len(eligible)), key=lambda j: -estimates[j])
        order.remove(pick)
        return [eligible[pick], *(eligible[j] for j in order)], probs[pick]

    def _contexts(
        self, fv: FeatureVector, scores: Sequence[CandidateScore], eligible: Sequence[int]
    ) -> np.ndarray | None:
        """Each eligible candidate's context, for a learner that reads them."""
        if not self.bandit.contextual:
            return None
        rows = fv.candidate_rows
        return contexts_of(
            fv.request, [rows[i] for i in eligible], [scores[i].p_resolved for i in eligible]
        )


class ContextualPolicy(BanditPolicy):
    """``bandit-v2``: utility + the contextual layer's correction
    (:mod:`selector.online.contextual`), SquareCB over optimistic estimates, exact
    propensities."""

    name = "bandit-v2"
    version = "2.0"
    learner: ClassVar[str | None] = "contextual"
