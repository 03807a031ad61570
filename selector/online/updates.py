"""One decision's outcome as a bandit update: the reward of the logged decision
(:func:`selector.reward.logged_reward`) against the utilities it was decided on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selector.reward import logged_reward
from selector.store import CallResults, LogReader, UnusableRecordError, finite, logged_propensity

__all__ = ["UNUSABLE", "Update", "reason", "update_for"]

# what a row of the log may hold that makes it unusable (sqlite3.Error is not one of them)
UNUSABLE = (
    UnusableRecordError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
)


@dataclass(frozen=True, slots=True)
class Update:
    """One bandit update, computed before anything is changed."""

    models: list[str]
    group: str
    utilities: list[float]
    chosen: int
    propensity: float
    reward: float


def update_for(
    reader: LogReader, did: str, calls: CallResults | None, outcome: Any, late_penalty: float
) -> Update | str | None:
    """The bandit update a decision's outcome makes, or the count it falls under
    ('overridden', 'unscored'), or None when the decision is not in the log; an
    :class:`UnusableRecordError` (or a parse error) when the log's rows cannot say."""
    if calls is None:
        return "overridden"
    decision = reader.decision(did)
    if decision is None:
        return None
    chosen = decision.chosen
    if chosen is None or not decision.request.scored:
        return "unscored"  # decided by a build that did not log its weights
    reward = logged_reward(decision.request, chosen, outcome, calls, late_penalty)
    # the candidates the decision chose among (every one, if the log has no flags)
    among = [x for x in decision.scores if x.get("eligible", True)]
    if chosen not in among:
        among = decision.scores
    names = [str(x["model"]) for x in among]
    utilities = [finite(x["utility"], f"the utility of {x['model']}") for x in among]
    p = logged_propensity(decision.propensity)
    return Update(names, decision.intent_group, utilities, names.index(decision.model), p, reward)


def reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, UnusableRecordError) else f"{type(exc).__name__}: {exc}"
