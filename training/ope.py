"""Off-policy estimates from logged decisions: what another policy would have scored on
the traffic a logged policy served.

Logged decision i chose action ``a_i`` with probability ``p_i`` (its propensity) and
observed reward ``r_i``. A candidate policy π gives each action a probability
``π_i(a)``; with the importance weight ``w_i = π_i(a_i) / p_i``:

- **IPS**: ``V = mean(w_i r_i)``, unbiased, high variance;
- **SNIPS**: ``V = Σ w_i r_i / Σ w_i``, self-normalised, a little biased, steadier;
- **DR** (doubly robust): ``V = mean(Σ_a π_i(a) q̂_i(a) + w_i (r_i − q̂_i(a_i)))`` with
  a reward model ``q̂`` fitted on other folds of the log than the decision it scores
  (cross-fitting), unbiased when either the propensities or ``q̂`` are right.

Each comes with a 95 % confidence interval (normal, from the per-decision terms; the
delta method for SNIPS) and the effective sample size ``(Σ w)² / Σ w²``: how many
decisions the weighted estimate rests on. Where the logged policy never explored
(every ``p_i`` = 1), only decisions on which both policies agree count; the effective
sample size then says so, and :func:`estimate_all` refuses an estimate below a
threshold rather than report a number that means nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.errors import ConfigError

__all__ = [
    "Estimate",
    "cross_fit",
    "doubly_robust",
    "estimate_all",
    "ips",
    "snips",
]

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float  # NaN when no logged decision matches the policy
    ess: float  # effective sample size
    matched: int  # logged decisions to which the policy gives the logged action a chance
    low: float = float("nan")  # 95 % confidence interval
    high: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ess(w: np.ndarray) -> float:
    sq = float((w**2).sum())
    return float(w.sum() ** 2 / sq) if sq > 0 else 0.0


def _interval(value: float, terms: np.ndarray) -> tuple[float, float]:
    n = len(terms)
    if n < 2:
        return float("nan"), float("nan")
    half = Z95 * float(np.std(terms, ddof=1)) / np.sqrt(n)
    return value - half, value + half


def ips(weights: np.ndarray, rewards: np.ndarray) -> Estimate:
    """Inverse propensity scoring.

    >>> e = ips(np.array([2.0, 0.0, 4.0]), np.array([1.0, 0.0, 0.0]))
    >>> round(e.value, 3), round(e.ess, 3), e.matched
    (0.667, 1.8, 2)
    """
    w, r = np.asarray(weights, float), np.asarray(rewards, float)
    terms = w * r
    value = float(terms.mean()) if len(terms) else float("nan")
    return Estimate(value, _ess(w), int(np.count_nonzero(w)), *_interval(value, terms))


def snips(weights: np.ndarray, rewards: np.ndarray) -> Estimate:
    """Self-normalised inverse propensity scoring.

    >>> e = snips(np.array([2.0, 0.0, 4.0]), np.array([1.0, 0.0, 0.0]))
    >>> round(e.value, 3), round(e.ess, 3), e.matched
    (0.333, 1.8, 2)
    """
    w, r = np.asarray(weights, float), np.asarray(rewards, float)
    total = w.sum()
    if total <= 0:
        return Estimate(float("nan"), 0.0, 0)
    value = float((w * r).sum() / total)
    # delta method: the influence of decision i is w_i (r_i − V) / mean(w)
    terms = w * (r - value) / w.mean()
    low, high = _interval(0.0, terms)
    return Estimate(value, _ess(w), int(np.count_nonzero(w)), value + low, value + high)


def doubly_robust(
    weights: np.ndarray,
    rewards: np.ndarray,
    q_logged: np.ndarray,
    q_policy: np.ndarray,
) -> Estimate:
    """Doubly robust: ``q_logged`` = q̂ of the logged action, ``q_policy`` = Σ_a π(a) q̂(a).

    >>> e = doubly_robust(np.array([2.0, 0.0]), np.array([1.0, 0.0]),
    ...                   np.array([0.8, 0.1]), np.array([0.7, 0.6]))
    >>> round(e.value, 3)
    0.85
    """
    w, r = np.asarray(weights, float), np.asarray(rewards, float)
    terms = np.asarray(q_policy, float) + w * (r - np.asarray(q_logged, float))
    value = float(terms.mean()) if len(terms) else float("nan")
    return Estimate(value, _ess(w), int(np.count_nonzero(w)), *_interval(value, terms))


def cross_fit(
    features: np.ndarray,
    rewards: np.ndarray,
    logged_rows: np.ndarray,
    decision_of_row: np.ndarray,
    folds: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """q̂ for every (decision, action) row of ``features``, each from a reward model fitted
    on the other folds' logged actions only (the decisions are split into ``folds``).

    ``logged_rows[i]`` is the row of decision i's logged action and ``rewards[i]`` its
    reward; ``decision_of_row[j]`` is the decision row j belongs to.
    """
    import lightgbm as lgb

    n = len(logged_rows)
    if folds < 2 or n < 2 * folds:
        raise ConfigError(
            f"cross-fitting needs at least {2 * folds} decisions with an outcome, got {n}: "
            "evaluate once more outcomes are logged"
        )
    fold_of_decision = np.random.default_rng(seed).permutation(n) % folds
    q = np.empty(len(features))
    for k in range(folds):
        train = fold_of_decision != k
        model = lgb.LGBMRegressor(
            n_estimators=150,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=20,
            subsample=0.8,
            subsample_freq=1,
            random_state=seed + k,
            n_jobs=1,
            verbose=-1,
        )
        model.fit(features[logged_rows[train]], rewards[train])
        rows = fold_of_decision[decision_of_row] == k
        q[rows] = np.asarray(model.predict(features[rows]), dtype=float)
    return q


def estimate_all(
    propensity: np.ndarray,
    target_logged: np.ndarray,
    rewards: np.ndarray,
    q_logged: np.ndarray | None = None,
    q_policy: np.ndarray | None = None,
    min_ess: float = 200.0,
) -> dict[str, Any]:
    """IPS, SNIPS and (with the q̂ arrays) DR of a policy that gives the logged action of
    decision i the probability ``target_logged[i]``; a ConfigError when the effective
    sample size is under ``min_ess``."""
    p = np.asarray(propensity, float)
    if len(p) == 0:
        raise ConfigError("no logged decisions with an outcome to evaluate on")
    if np.any(~((p > 0) & (p <= 1))):
        raise ConfigError("propensities must be in (0, 1]: the log is damaged")
    w = np.asarray(target_logged, float) / p
    ess = _ess(w)
    if not ess >= min_ess:
        raise ConfigError(
            f"effective sample size {ess:.1f} is under the threshold {min_ess:g}: the log "
            "holds too few decisions on which the policy would have acted as logged (log "
            "with more exploration, or lower --min-ess knowingly)"
        )
    out: dict[str, Any] = {
        "decisions": len(p),
        "ess": ess,
        "ips": ips(w, rewards).as_dict(),
        "snips": snips(w, rewards).as_dict(),
    }
    if q_logged is not None and q_policy is not None:
        out["dr"] = doubly_robust(w, rewards, q_logged, q_policy).as_dict()
    return out
