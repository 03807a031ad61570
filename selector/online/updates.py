"""One decision's outcome as a bandit update: what the online layer learns of the logged
decision (:func:`selector.reward.learned_reward`) against the utilities it was decided
on."""

from __future__ import annotations

from typing import Any

from selector.online.bandit import Update
from selector.online.contexts import logged_contexts
from selector.reward import learned_reward
from selector.store import (
    CallResults,
    FeedbackRow,
    LearnerReads,
    UnusableRecordError,
    finite,
    logged_propensity,
)

__all__ = ["UNUSABLE", "due", "reason", "update_for"]

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


def update_for(
    reader: LearnerReads,
    did: str,
    calls: CallResults | None,
    outcome: Any,
    contextual: bool = False,
) -> Update | str | None:
    """The bandit update a decision's outcome makes (:func:`selector.reward.learned_reward`),
    or the count it falls under ('overridden', 'unscored', 'transient'), or None when the
    decision is not in the log; an :class:`UnusableRecordError` (or a parse error) when
    the log's rows cannot say.
    With ``contextual``, each candidate's context is rebuilt from the logged features
    (:func:`selector.online.contextual.logged_contexts`)."""
    if calls is None:
        return "overridden"
    decision = reader.decision(did)
    if decision is None:
        return None
    chosen = decision.chosen
    if chosen is None or not decision.request.scored:
        return "unscored"  # decided by a build that did not log its weights
    reward = learned_reward(decision.request, chosen, outcome, calls)
    if reward is None:
        return "transient"  # the model's trouble: the live estimates learn it, not the layer
    # the candidates the decision chose among (every one, if the log has no flags)
    among = [x for x in decision.scores if x.get("eligible", True)]
    if chosen not in among:
        among = decision.scores
    names = [str(x["model"]) for x in among]
    utilities = [finite(x["utility"], f"the utility of {x['model']}") for x in among]
    p = logged_propensity(decision.propensity)
    contexts = None
    if contextual:
        if not decision.features:
            raise UnusableRecordError("the decision's features were not logged")
        contexts = logged_contexts(decision.features, among)
    chosen_at = names.index(decision.model)
    # a conversation's outcome credited to its n decisions is one observation, not n
    weight = 1.0 / reader.credited_with(did)
    return Update(names, decision.intent_group, utilities, chosen_at, p, reward, contexts, weight)


def reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, UnusableRecordError) else f"{type(exc).__name__}: {exc}"


def due(reader: LearnerReads, row: FeedbackRow) -> tuple[Any, CallResults | None] | None:
    """Whether feedback ``row`` completes its decision for learning: the outcome to learn
    and the decision's call results up to ``row`` (None: overridden), or None. A decision
    is learned once it has both its outcome and a call result, at the later of the two
    (so the order they arrive in does not change the reward), or when its join window
    closes with an outcome and no call result."""
    did = row.decision_id
    if row.is_outcome:
        calls = reader.calls(did, row.row)
        if calls is not None and not calls.reported:
            return None  # the call result will complete it, or the window's close
        return row.outcome, calls
    if not row.is_call:
        return None
    found = reader.outcome(did)
    if found is None or found[0] > row.row:
        return None
    before = reader.calls(did, row.row, before=True)
    if before is None or before.reported:
        return None  # learned already, when the first call result came
    return found[1], reader.calls(did, row.row)
