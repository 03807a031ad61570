"""``static-rules``: the hand-written gateway rules teams run today, as a baseline.

"turns ≤ 8 and normal priority → the small model; otherwise the heavy one." When the
rule's model cannot serve (circuit open, too small a context, outside the request's
constraints), the cheapest eligible model replaces the small one and the largest
eligible model the heavy one, as a gateway's failover list would.
"""

from __future__ import annotations

from collections.abc import Sequence

from features.extractor import C, FeatureVector, R
from selector.policy.base import CandidateScore, Policy, QualityModel

__all__ = ["StaticRulesPolicy"]

_TURNS, _PRIORITY = R["turns"], R["priority"]
_TIER, _COST = C["tier"], C["expected_cost_usd"]
_NORMAL = 1


class StaticRulesPolicy(Policy):
    """Baseline: turns ≤ 8 and normal priority → the small model, else the heavy one."""

    name = "static-rules"
    version = "1.0"
    probed = False  # a gateway's hand-written rules do not probe

    def __init__(
        self,
        quality: QualityModel,
        providers: dict[str, str],
        max_fallbacks: int = 3,
        seed: int | None = None,
        small_model: str = "gemini-2.5-flash-lite",
        heavy_model: str = "claude-opus-4.1",
        max_turns: int = 8,
    ) -> None:
        super().__init__(quality, providers, max_fallbacks, seed)
        self.small_model = small_model
        self.heavy_model = heavy_model
        self.max_turns = max_turns

    def _rank(
        self,
        fv: FeatureVector,
        scores: Sequence[CandidateScore],
        eligible: Sequence[int],
        draw: float | None = None,
    ) -> tuple[list[int], float]:
        small = fv.request[_TURNS] <= self.max_turns and fv.request[_PRIORITY] == _NORMAL
        rows = fv.candidate_rows
        if small:
            order = sorted(eligible, key=lambda i: (rows[i][_COST], -rows[i][_TIER]))
            target = self.small_model
        else:
            order = sorted(eligible, key=lambda i: (-rows[i][_TIER], -rows[i][_COST]))
            target = self.heavy_model
        for pos, i in enumerate(order):
            if scores[i].model == target:
                order.insert(0, order.pop(pos))
                break
        return order, 1.0
