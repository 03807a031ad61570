"""Decision policies, built by name from :data:`POLICIES`."""

from __future__ import annotations

from selector.policy.bandit import BanditPolicy
from selector.policy.base import (
    RELAX_ORDER,
    CandidateScore,
    Decision,
    DecisionContext,
    Policy,
    QualityModel,
)
from selector.policy.static_rules import StaticRulesPolicy
from selector.policy.utility import UtilityPolicy

__all__ = [
    "POLICIES",
    "RELAX_ORDER",
    "BanditPolicy",
    "CandidateScore",
    "Decision",
    "DecisionContext",
    "Policy",
    "QualityModel",
    "StaticRulesPolicy",
    "UtilityPolicy",
]

POLICIES: dict[str, type[Policy]] = {
    UtilityPolicy.name: UtilityPolicy,
    StaticRulesPolicy.name: StaticRulesPolicy,
    BanditPolicy.name: BanditPolicy,
}
