"""``utility-v0``: the candidate of highest utility, with optional ε-exploration.

With ``exploration = ε > 0`` a decision is drawn uniformly among the eligible
candidates with probability ε; the logged propensity of the chosen model is then
exactly ``1 − ε + ε/k`` for the best one and ``ε/k`` for another (``k`` eligible).
"""

from __future__ import annotations

from collections.abc import Sequence

from features.extractor import FeatureVector
from selector.policy.base import CandidateScore, Policy, QualityModel

__all__ = ["UtilityPolicy"]


class UtilityPolicy(Policy):
    """Highest utility: P(resolved) − λ·expected cost − latency penalty (ε-exploration optional)."""

    name = "utility-v0"
    version = "0.1"

    def __init__(
        self,
        quality: QualityModel,
        providers: dict[str, str],
        max_fallbacks: int = 3,
        seed: int | None = None,
        exploration: float = 0.0,
    ) -> None:
        super().__init__(quality, providers, max_fallbacks, seed)
        if not 0.0 <= exploration < 1.0:
            raise ValueError("exploration must be in [0, 1)")
        self.exploration = exploration

    def _rank(
        self,
        fv: FeatureVector,
        scores: Sequence[CandidateScore],
        eligible: Sequence[int],
        draw: float | None = None,
    ) -> tuple[list[int], float]:
        ranking = sorted(eligible, key=lambda i: -scores[i].utility)
        eps, k = self.exploration, len(ranking)
        if eps == 0.0 or k == 1:
            return ranking, 1.0
        for s in scores:
            s.probability = 0.0
        for pos, i in enumerate(ranking):
            scores[i].estimate = scores[i].utility
            scores[i].probability = (1.0 - eps + eps / k) if pos == 0 else eps / k
        u = self.rng.random() if draw is None else draw
        pick = min(k - 1, int(u / eps * k)) if u < eps else 0  # u / eps: uniform on [0, 1)
        chosen = ranking.pop(pick)
        return [chosen, *ranking], scores[chosen].probability or 0.0
