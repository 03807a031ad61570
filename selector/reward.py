"""The reward of one decision, from its feedback, on the scale of the policy's utility.

    reward = outcome − λ · cost_usd − w · latency_s − late_penalty · [late or error]

- ``outcome``: the ``reward`` the gateway sent (any number, e.g. a satisfaction score
  in [0, 1]), else ``resolved`` as 1 or 0; when the join window closes without either,
  ``default_outcome`` (unset: the decision is not learned from).
- ``cost_usd`` and ``latency_ms``: the decided model's call result; the decision's
  expected cost and latency when the gateway reported none.
- ``late``: the call took longer than the decision's deadline (the request's
  ``max_latency_ms``, else ``deadline_ms``); ``error``: the call failed.
- ``λ`` and ``w``: the cost and latency weights the decision was made with (logged with
  it), so the reward and the utility it corrects are in the same units.

**What the online layer learns** (:func:`learned_reward`) keeps a model's passing
trouble apart from its quality. A decision whose model failed (an error or a timeout)
or answered past the deadline teaches the live latency and error estimates
(:mod:`selector.latency`), which forget it as their window slides, and nothing else:
the learner skips it (counted as ``transient``). Of the others it learns

    outcome − λ · cost_usd − w · expected latency (s)

with the latency the decision expected, so that the correction it learns is the
model's quality and cost against the utility's, not a slowdown it happened to meet:
when the provider recovers, nothing learned in the incident holds the model back.

:func:`logged_reward` computes the reward from what the decision log holds, for
off-policy evaluation and reports. Whatever a row holds (a log written by an
older build, or edited by hand), it returns a finite number or raises
:class:`UnusableRecordError` saying why; callers skip that decision and count it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.limits import REWARD_ABS_MAX
from selector.store.records import (
    CallResults,
    LoggedRequest,
    UnusableRecordError,
    finite,
)

__all__ = ["RewardConfig", "learned_reward", "logged_reward", "turn_reward"]


@dataclass(frozen=True)
class RewardConfig:
    late_penalty: float = 0.05
    deadline_ms: float = 3_000.0
    default_outcome: float | None = None


def turn_reward(
    outcome: float,
    cost_usd: float,
    latency_ms: float,
    late: bool,
    cost_weight: float,
    latency_weight: float,
    late_penalty: float,
) -> float:
    """The formula of the module docstring (``latency_weight`` per second).

    >>> round(turn_reward(1.0, 0.01, 1500, False, 0.1, 0.002, 0.05), 6)
    0.996
    >>> round(turn_reward(0.0, 0.01, 3500, True, 0.1, 0.002, 0.05), 6)
    -0.058
    """
    return (
        outcome
        - cost_weight * cost_usd
        - latency_weight * latency_ms / 1000.0
        - (late_penalty if late else 0.0)
    )


def logged_reward(
    request: LoggedRequest,
    chosen: Mapping[str, Any],
    outcome: Any,
    calls: CallResults,
    late_penalty: float,
) -> float:
    """The reward of a logged decision: its ``request`` as logged (the weights it was
    decided with), the decided model's logged score ``chosen`` (expected cost and
    latency, used when no call was reported), the ``outcome`` and the reported
    ``calls``.

    >>> request = LoggedRequest(lam=0.1, latency_weight_per_s=0.002, deadline_ms=3000)
    >>> chosen = {"expected_cost_usd": 0.01, "expected_latency_ms": 1500}
    >>> round(logged_reward(request, chosen, 1.0, CallResults(), 0.05), 6)
    0.996
    >>> logged_reward(request, chosen, 1.0, CallResults(cost_usd=1e308), 0.05)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    selector.store.records.UnusableRecordError: the reward is -1e+307, beyond ±1e+12 (...)
    """
    cost_weight = finite(request.lam, "the decision's lambda")
    latency_weight = finite(request.latency_weight_per_s, "the decision's latency_weight_per_s")
    deadline = finite(request.deadline_ms, "the decision's deadline_ms")
    latency = finite(
        calls.latency_ms if calls.latency_ms is not None else chosen.get("expected_latency_ms"),
        "the call's latency_ms",
    )
    cost = finite(
        calls.cost_usd if calls.cost_usd is not None else chosen.get("expected_cost_usd"),
        "the call's cost_usd",
    )
    value = finite(outcome, "the outcome")
    reward = turn_reward(
        value,
        cost,
        latency,
        calls.failed or latency > deadline,
        cost_weight,
        latency_weight,
        late_penalty,
    )
    if not abs(reward) <= REWARD_ABS_MAX:
        raise UnusableRecordError(
            f"the reward is {reward:g}, beyond ±{REWARD_ABS_MAX:g} (outcome {value:g}, "
            f"cost {cost:g} USD, latency {latency:g} ms)"
        )
    return reward


def learned_reward(
    request: LoggedRequest, chosen: Mapping[str, Any], outcome: Any, calls: CallResults
) -> float | None:
    """What the online layer learns from a logged decision (module docstring): None when
    its model failed or answered past the deadline, else the outcome less the cost (as
    reported, else expected) and the latency the decision expected, in its weights.

    >>> request = LoggedRequest(lam=0.1, latency_weight_per_s=0.002, deadline_ms=3000)
    >>> chosen = {"expected_cost_usd": 0.01, "expected_latency_ms": 1500}
    >>> round(learned_reward(request, chosen, 1.0, CallResults(2900.0, 0.02, False, True)), 6)
    0.995
    >>> learned_reward(request, chosen, 1.0, CallResults(3100.0, 0.02, False, True)) is None
    True
    >>> learned_reward(request, chosen, 1.0, CallResults(200.0, 0.02, True, True)) is None
    True
    """
    deadline = finite(request.deadline_ms, "the decision's deadline_ms")
    latency = (
        None if calls.latency_ms is None else finite(calls.latency_ms, "the call's latency_ms")
    )
    if calls.failed or (latency is not None and latency > deadline):
        return None
    expected = {**chosen}
    if calls.cost_usd is not None:
        expected["expected_cost_usd"] = calls.cost_usd
    return logged_reward(request, expected, outcome, CallResults(), late_penalty=0.0)
