"""Decision policies, built by name from :data:`POLICIES`."""

from __future__ import annotations

from core.errors import ConfigError
from selector.policy.bandit import BanditPolicy, ContextualPolicy
from selector.policy.base import (
    CandidateScore,
    Decision,
    DecisionContext,
    Policy,
    QualityModel,
    Score,
)
from selector.policy.constraints import RELAX_ORDER, ProbeConfig
from selector.policy.static_rules import StaticRulesPolicy
from selector.policy.utility import UtilityPolicy

__all__ = [
    "POLICIES",
    "RELAX_ORDER",
    "BanditPolicy",
    "CandidateScore",
    "ContextualPolicy",
    "Decision",
    "DecisionContext",
    "Policy",
    "ProbeConfig",
    "QualityModel",
    "Score",
    "StaticRulesPolicy",
    "UtilityPolicy",
    "policy_class",
]

POLICIES: dict[str, type[Policy]] = {
    UtilityPolicy.name: UtilityPolicy,
    StaticRulesPolicy.name: StaticRulesPolicy,
    BanditPolicy.name: BanditPolicy,
    ContextualPolicy.name: ContextualPolicy,
}


def policy_class(name: str, variable: str = "SELECTOR_POLICY") -> type[Policy]:
    """The policy called ``name``; a ConfigError naming ``variable`` when there is none."""
    cls = POLICIES.get(name)
    if cls is None:
        raise ConfigError(f"{variable}={name!r} is not a policy; choose one of {sorted(POLICIES)}")
    return cls
