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
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RewardConfig", "turn_reward"]


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
