"""Off-policy estimates from logged decisions: what another policy would have scored on
the traffic a logged policy served.

A logged decision i chose model ``a_i`` with probability ``p_i`` and observed a value
``v_i`` (resolved, cost). For a deterministic candidate policy π, the self-normalised
importance-sampling estimate (SNIPS) of its mean value is

    V̂(π) = Σ w_i v_i / Σ w_i,   w_i = 1[π(x_i) = a_i] / p_i

and the effective sample size ``(Σ w)² / Σ w²`` says how many decisions it rests on.
Where the logged policy never explored (every ``p_i`` = 1), only decisions on which
both policies agree count and the estimate is biased towards them: the figures then
say so rather than pretend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "snips"]


@dataclass(frozen=True)
class Estimate:
    value: float  # NaN when no logged decision matches the policy
    ess: float  # effective sample size
    matched: int  # logged decisions on which the policy agrees with the log


def snips(match: np.ndarray, propensity: np.ndarray, values: np.ndarray) -> Estimate:
    """SNIPS estimate of the mean of ``values`` under a policy that agrees with the
    logged choice where ``match`` is True.

    >>> match, prop = np.array([True, False, True]), np.array([0.5, 0.5, 0.25])
    >>> e = snips(match, prop, np.array([1.0, 0.0, 0.0]))
    >>> round(e.value, 3), round(e.ess, 3), e.matched
    (0.333, 1.8, 2)
    """
    w = np.where(match, 1.0 / np.asarray(propensity, float), 0.0)
    total = w.sum()
    if total <= 0:
        return Estimate(float("nan"), 0.0, 0)
    value = float((w * np.asarray(values, float)).sum() / total)
    return Estimate(value, float(total**2 / (w**2).sum()), int(np.count_nonzero(match)))
