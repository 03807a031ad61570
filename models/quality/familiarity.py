"""Requests unlike any the quality model trained on: scored nearer each model's success
rate on the training data, instead of by trees that never saw such a request.

Gradient-boosted trees do not extrapolate: a request whose shape lies beyond every
training request's is scored by the outermost leaves, whose per-model differences were
learned on other requests. Trained on grade-school arithmetic and asked about Python
code, the boosted stage then ranks the candidates worse than a model's mean success
would (cross-source results in docs/training.md). So each request's shape counts
(:data:`~features.text.TEXT_FEATURES`) are compared with the range the training
requests covered: with ``k`` of them outside it, the served P(resolved) is

    σ(t · logit p + (1 − t) · logit rate_m),
    t = clip((OUTSIDE_FOR_FALLBACK − k) / (OUTSIDE_FOR_FALLBACK − TOLERATED), 0, 1)

where ``rate_m`` is the model's weighted success rate in training. A request outside
the range on at most :data:`TOLERATED` count is scored as before (``t = 1``): the range
of a small table is narrow, and one of 200 requests' ranges leaves about 5 % of the
requests like them outside on one count. One outside on :data:`OUTSIDE_FOR_FALLBACK`
counts or more gets the rates. A model the training never saw keeps its score (it has
no rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OUTSIDE_FOR_FALLBACK", "TOLERATED", "Familiarity", "fit_familiarity"]

OUTSIDE_FOR_FALLBACK = 4
TOLERATED = 1
_EDGE = 1e-6  # probabilities are kept this far from 0 and 1 on the log-odds scale


@dataclass
class Familiarity:
    """The training range of each shape count (``low``, ``high``) and each model's
    training success rate (``rates``; NaN for a model without outcomes)."""

    low: np.ndarray
    high: np.ndarray
    rates: np.ndarray
    outside: int = OUTSIDE_FOR_FALLBACK

    def __post_init__(self) -> None:
        self.low, self.high = np.asarray(self.low, float), np.asarray(self.high, float)
        self.rates = np.asarray(self.rates, float)
        if self.low.shape != self.high.shape or self.low.ndim != 1:
            raise ValueError("familiarity: low and high must be one number a shape count")
        if self.outside <= TOLERATED:
            raise ValueError(f"familiarity: outside must be more than {TOLERATED}")

    def trust(self, shape: np.ndarray) -> np.ndarray:
        """``t`` of each row of raw shape counts (rows × counts)."""
        k = ((shape < self.low) | (shape > self.high)).sum(axis=1)
        trust: np.ndarray = np.clip((self.outside - k) / (self.outside - TOLERATED), 0.0, 1.0)
        return trust

    def blend(self, p: np.ndarray, codes: np.ndarray, trust: np.ndarray) -> np.ndarray:
        """``p`` (requests × candidates) moved to the rates of the candidates' model
        ``codes`` (-1: unknown, kept) as far as each request's ``trust`` says."""
        if bool((trust >= 1.0).all()):
            return p
        known = codes >= 0
        rates = np.full(len(codes), np.nan)
        rates[known] = self.rates[codes[known]]
        keep = np.isnan(rates)[None, :] | (trust[:, None] >= 1.0)
        q = np.clip(p, _EDGE, 1.0 - _EDGE)
        r = np.clip(np.where(np.isnan(rates), 0.5, rates), _EDGE, 1.0 - _EDGE)
        t = trust[:, None]
        z = t * np.log(q / (1.0 - q)) + (1.0 - t) * np.log(r / (1.0 - r))[None, :]
        out: np.ndarray = np.where(keep, p, 1.0 / (1.0 + np.exp(-z)))
        return out


def fit_familiarity(shape: np.ndarray, y: np.ndarray, w: np.ndarray) -> Familiarity:
    """The range of the training requests' raw shape counts (requests × counts) and each
    model's success rate over its known outcomes ``y`` (requests × models) weighted by
    ``w``."""
    known = ~np.isnan(y)
    weight = np.where(known, w, 0.0)
    total = weight.sum(axis=0)
    rates = np.full(y.shape[1], np.nan)
    seen = total > 0
    rates[seen] = (np.where(known, y, 0.0) * weight).sum(axis=0)[seen] / total[seen]
    if not len(shape):
        raise ValueError("familiarity: no training requests")
    return Familiarity(shape.min(axis=0), shape.max(axis=0), rates)
