"""``bandit-v1``: the offline utility corrected by the online layer, explored with SquareCB.

Each eligible candidate's estimate is its utility (offline P(resolved), expected cost,
live latency and error rate) plus the correction the online layer learned for its
model on the request's intent group (:mod:`models.bandit`). The choice is drawn from
SquareCB's distribution over those estimates with the configured floor; the chosen
model's probability is the decision's propensity, and every candidate's estimate and
probability are logged with its score (ineligible ones with probability 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from features.extractor import FeatureVector
from models.bandit import OnlineModel, ResidualBandit
from selector.policy.base import CandidateScore, Policy, QualityModel

__all__ = ["BanditPolicy"]


class BanditPolicy(Policy):
    """Utility + online correction, SquareCB exploration with exact propensities."""

    name = "bandit-v1"
    version = "1.0"
    online = True

    def __init__(
        self,
        quality: QualityModel,
        providers: dict[str, str],
        max_fallbacks: int = 3,
        seed: int | None = None,
        bandit: OnlineModel | None = None,
    ) -> None:
        super().__init__(quality, providers, max_fallbacks, seed)
        self.bandit: OnlineModel = bandit if bandit is not None else ResidualBandit()

    def _rank(
        self, fv: FeatureVector, scores: Sequence[CandidateScore], eligible: Sequence[int]
    ) -> tuple[list[int], float]:
        estimates, probs, pick = self.bandit.distribution(
            [scores[i].model for i in eligible],
            fv.intent_group,
            [scores[i].utility for i in eligible],
            self.rng.random(),
        )
        for s in scores:
            s.probability = 0.0
        for i, e, p in zip(eligible, estimates, probs, strict=True):
            scores[i].estimate, scores[i].probability = e, p
        order = sorted(range(len(eligible)), key=lambda j: -estimates[j])
        order.remove(pick)
        return [eligible[pick], *(eligible[j] for j in order)], probs[pick]
