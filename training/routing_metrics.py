"""Routing metrics, as plain functions over per-request outcomes.

Two-model routing (RouteLLM's terms). A router gives each request a score (higher:
the strong model is more worth its price). Sending the top share ``c`` of requests by
score to the strong model gives quality ``q(c)``, and

    PGR(c) = (q(c) − q_weak) / (q_strong − q_weak)

**APGR** is the mean of PGR over ``c`` in [0, 1] (the area under the PGR curve, every
request count from 0 to n, trapezoids); **CPT(x %)** is the smallest strong-call share
whose PGR reaches x %.

Many models. A router trades quality for cost along a parameter; each setting gives a
(cost, quality) point. **AIQ** is the area under the non-decreasing convex hull of
those points between the cost of the cheapest and of the dearest single model,
normalised by that cost range; **cost at parity** is the cost of the cheapest point
whose quality is at least the best single model's, as a share of that model's cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "aiq",
    "apgr",
    "cost_at_parity",
    "cpt",
    "pgr_curve",
    "upper_hull",
]


def pgr_curve(
    scores: Sequence[float] | np.ndarray,
    weak_correct: Sequence[float] | np.ndarray,
    strong_correct: Sequence[float] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Strong-call shares ``c`` (0, 1/n, …, 1) and PGR at each, sending the
    highest-scored requests to the strong model first (ties in input order).

    >>> c, pgr = pgr_curve([0.9, 0.1], [0, 1], [1, 1])
    >>> c.tolist(), pgr.tolist()
    ([0.0, 0.5, 1.0], [0.0, 1.0, 1.0])
    """
    s = np.asarray(scores, dtype=np.float64)
    weak = np.asarray(weak_correct, dtype=np.float64)
    strong = np.asarray(strong_correct, dtype=np.float64)
    n = len(s)
    if n == 0 or not (len(weak) == len(strong) == n):
        raise ValueError("scores, weak_correct and strong_correct need the same non-zero length")
    q_weak, q_strong = weak.mean(), strong.mean()
    if q_strong == q_weak:
        raise ValueError("the strong and the weak model have the same quality: PGR is undefined")
    order = np.argsort(-s, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum(strong[order] - weak[order])])
    quality = q_weak + gain / n
    share = np.arange(n + 1) / n
    return share, (quality - q_weak) / (q_strong - q_weak)


def apgr(
    scores: Sequence[float] | np.ndarray,
    weak_correct: Sequence[float] | np.ndarray,
    strong_correct: Sequence[float] | np.ndarray,
) -> float:
    """Average performance gap recovered: the area under the PGR curve.

    A router that knows exactly where the strong model helps:

    >>> round(apgr([1, 0, 0, 0], [0, 1, 1, 1], [1, 1, 1, 1]), 3)
    0.875
    """
    share, pgr = pgr_curve(scores, weak_correct, strong_correct)
    return float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(share)))


def cpt(
    scores: Sequence[float] | np.ndarray,
    weak_correct: Sequence[float] | np.ndarray,
    strong_correct: Sequence[float] | np.ndarray,
    target: float,
) -> float:
    """Call-performance threshold: the smallest strong-call share with PGR ≥ ``target``.

    >>> cpt([1, 0, 0, 0], [0, 1, 1, 1], [1, 1, 1, 1], 0.5)
    0.25
    """
    share, pgr = pgr_curve(scores, weak_correct, strong_correct)
    reached = np.flatnonzero(pgr >= target - 1e-12)
    return float(share[reached[0]]) if len(reached) else 1.0


def upper_hull(costs: Sequence[float], qualities: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of (cost, quality) points.

    >>> c, q = upper_hull([1, 2, 3, 4], [0.5, 0.55, 0.9, 0.8])
    >>> c.tolist(), q.tolist()
    ([1.0, 3.0], [0.5, 0.9])
    """
    pts = sorted(zip(np.asarray(costs, float), np.asarray(qualities, float), strict=True))
    hull: list[tuple[float, float]] = []
    for c, q in pts:
        if hull and q <= hull[-1][1]:
            continue  # dearer but not better: never on a non-decreasing frontier
        while len(hull) >= 2:
            (c1, q1), (c2, q2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or under the chord
            if (q2 - q1) * (c - c1) <= (q - q1) * (c2 - c1):
                hull.pop()
            else:
                break
        hull.append((c, q))
    arr = np.asarray(hull)
    return arr[:, 0], arr[:, 1]


def aiq(
    costs: Sequence[float],
    qualities: Sequence[float],
    cost_min: float,
    cost_max: float,
) -> float:
    """Average improvement in quality: area under the hull of the router's points
    between ``cost_min`` and ``cost_max``, divided by that range. Outside its points
    the hull is flat (the best quality reached so far; nothing below the first point).

    >>> aiq([0.0, 1.0], [0.5, 1.0], 0.0, 1.0)
    0.75
    """
    if cost_max <= cost_min:
        raise ValueError("cost_max must be above cost_min")
    hc, hq = upper_hull(costs, qualities)
    grid = np.linspace(cost_min, cost_max, 2001)
    q = np.interp(grid, hc, hq, left=np.nan, right=hq[-1])
    q = np.where(np.isnan(q), 0.0, q)
    return float(np.trapezoid(q, grid) / (cost_max - cost_min))


def cost_at_parity(
    costs: Sequence[float], qualities: Sequence[float], best_quality: float, best_cost: float
) -> float | None:
    """Cost of the cheapest point at least as good as the best single model, as a share
    of that model's cost; ``None`` when no point reaches it.

    >>> cost_at_parity([1.0, 2.0, 3.0], [0.8, 0.95, 0.97], 0.95, 10.0)
    0.2
    """
    c = np.asarray(costs, float)
    ok = np.asarray(qualities, float) >= best_quality - 1e-12
    if not ok.any():
        return None
    return float(c[ok].min() / best_cost)
