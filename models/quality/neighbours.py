"""A neighbour-based scorer: P(model resolves a request) from how that model did on the
training requests whose text is nearest in the pretrained representation
(:mod:`features.embeddings`).

For each model, the ``k`` nearest training requests that have its outcome vote, each
with weight 1 (``weighting="uniform"``) or with its cosine similarity raised to
:data:`SHARPNESS` (``"cosine"``); the vote is shrunk toward the model's mean outcome
with :data:`PRIOR_VOTES` votes, so a request with few close neighbours gets nearly the
model's base rate:

    p(m | q) = (Σᵢ wᵢ · yᵢ(m) + a · ȳ(m)) / (Σᵢ wᵢ + a)

``k`` and the weighting are chosen per table by cross-validation on the training
requests (:func:`fit_neighbours`, the lowest log-loss), never by hand. On a dense table
(every model answered every request) one search serves all models. The rows kept are
at most ``max_rows`` (a seeded sample beyond), so a query costs one product with a
bounded matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.quality.calibration import log_loss

__all__ = ["KS", "PRIOR_VOTES", "WEIGHTINGS", "Neighbours", "fit_neighbours"]

KS: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320)
WEIGHTINGS = ("uniform", "cosine")
PRIOR_VOTES = 2.0
SHARPNESS = 8.0  # cosine weights: sim^8 favours the nearest without a cliff


@dataclass
class Neighbours:
    """The fitted scorer: training rows (unit vectors), their outcomes (rows × models,
    NaN where unknown), each model's mean outcome, ``k`` and the weighting."""

    rows: np.ndarray
    outcomes: np.ndarray
    prior: np.ndarray
    k: int
    weighting: str
    weights: np.ndarray | None = None  # rows × models: an outcome's weight (None: 1)

    def __post_init__(self) -> None:
        known = ~np.isnan(self.outcomes)
        self._rows32 = np.ascontiguousarray(self.rows, dtype=np.float32)
        self._y = np.nan_to_num(self.outcomes)
        self._wt = np.where(known, 1.0 if self.weights is None else self.weights, 0.0)
        # the models known on every row share one search; each other one searches its rows
        full = known.all(axis=0)
        self._full = np.flatnonzero(full)
        self._partial = [(j, np.flatnonzero(known[:, j])) for j in np.flatnonzero(~full)]

    def predict(self, queries: np.ndarray) -> np.ndarray:
        """P(resolved), queries × models. Each query is scored alone
        (:meth:`predict_one`), so a decision's score is the batch's to the bit."""
        out = np.empty((len(queries), self.outcomes.shape[1]))
        for i, q in enumerate(queries):
            out[i] = self.predict_one(q)
        return out

    def predict_one(self, query: np.ndarray) -> np.ndarray:
        """P(resolved) of each model for one query."""
        sim = self._rows32 @ np.asarray(query, dtype=np.float32)
        out = np.empty(len(self.prior))
        if len(self._full):
            top, f = _top(sim, self.k), self._full
            y, wt = self._y[top][:, f], self._wt[top][:, f]
            out[f] = _votes(sim[top][None], y[None], wt[None], self.prior[f], self.weighting)[0]
        for j, ids in self._partial:  # as _votes, for one model
            top = ids[_top(sim[ids], self.k)]
            wv = _weights(sim[top], self.weighting) * self._wt[top, j]
            out[j] = (wv @ self._y[top, j] + PRIOR_VOTES * self.prior[j]) / (wv.sum() + PRIOR_VOTES)
        return out


def _top(sim: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` largest of ``sim``, ties going to the lower index (so
    the same similarities always give the same neighbours)."""
    n = len(sim)
    if n <= k:
        return np.arange(n)
    t = np.partition(sim, n - k)[n - k]
    above = np.flatnonzero(sim > t)
    return np.concatenate([above, np.flatnonzero(sim == t)[: k - len(above)]])


def _weights(near: np.ndarray, weighting: str) -> np.ndarray:
    """Each neighbour's vote weight from its similarity (-inf: no neighbour, 0)."""
    w: np.ndarray = np.isfinite(near).astype(float)
    if weighting == "cosine":
        w *= np.clip(np.where(np.isfinite(near), near, 0.0), 0.0, None) ** SHARPNESS
    return w


def _votes(
    near: np.ndarray, y: np.ndarray, wt: np.ndarray, prior: np.ndarray, weighting: str
) -> np.ndarray:
    """P(resolved), queries × models, from each query's neighbours: similarities
    ``near`` (queries × k, -inf: none), outcomes and weights (queries × k × models)."""
    wv = _weights(near, weighting)[:, :, None] * wt
    out: np.ndarray = (np.einsum("qkm,qkm->qm", wv, y) + PRIOR_VOTES * prior) / (
        wv.sum(axis=1) + PRIOR_VOTES
    )
    return out


@dataclass
class _Nearest:
    """For choosing ``k``: the ``kmax`` nearest known rows of each query, nearest
    first, per model (one search for all models when every outcome is known): indices,
    similarities (-inf past the known rows), outcomes; every ``k`` up to ``kmax`` is
    voted from this one search."""

    idx: list[np.ndarray]  # per search: queries × kmax
    sim: list[np.ndarray]
    y: np.ndarray  # the training outcomes (NaN as 0: they never vote)
    shared: bool  # one search for every model
    weights: np.ndarray | None  # each outcome's weight (None: 1)

    @classmethod
    def search(
        cls,
        queries: np.ndarray,
        rows: np.ndarray,
        outcomes: np.ndarray,
        kmax: int,
        weights: np.ndarray | None = None,
    ) -> _Nearest:
        known = ~np.isnan(outcomes)
        shared = bool(known.all())
        masks: list[np.ndarray | None] = [None] if shared else list(known.T)
        kmax = max(1, min(kmax, len(rows)))
        idx = [np.empty((len(queries), kmax), dtype=np.int64) for _ in masks]
        sims = [np.empty((len(queries), kmax)) for _ in masks]
        for start in range(0, len(queries), 512):
            sim = queries[start : start + 512] @ rows.T
            for m, mask in enumerate(masks):
                s = sim if mask is None else np.where(mask[None, :], sim, -np.inf)
                top = np.argpartition(-s, kmax - 1, axis=1)[:, :kmax]
                near = np.take_along_axis(s, top, axis=1)
                order = np.argsort(-near, axis=1)
                idx[m][start : start + len(s)] = np.take_along_axis(top, order, axis=1)
                sims[m][start : start + len(s)] = np.take_along_axis(near, order, axis=1)
        return cls(idx, sims, np.nan_to_num(outcomes), shared, weights)

    def vote(self, k: int, weighting: str, prior: np.ndarray) -> np.ndarray:
        """P(resolved), queries × models, from the ``k`` nearest."""
        cols = []
        ones = np.ones_like(self.y) if self.weights is None else np.nan_to_num(self.weights)
        for m, (idx, sim) in enumerate(zip(self.idx, self.sim, strict=True)):
            near, top = sim[:, :k], idx[:, :k]
            if self.shared:
                cols.append(_votes(near, self.y[top], ones[top], prior, weighting))
            else:
                y, wt = self.y[top, m][:, :, None], ones[top, m][:, :, None]
                cols.append(_votes(near, y, wt, prior[[m]], weighting))
        out: np.ndarray = np.hstack(cols)
        return out


def fit_neighbours(
    rows: np.ndarray,
    outcomes: np.ndarray,
    ks: Sequence[int] = KS,
    folds: int = 3,
    seed: int = 0,
    max_rows: int = 20_000,
    weights: np.ndarray | None = None,
) -> Neighbours:
    """The scorer on ``rows`` (unit vectors) and ``outcomes`` (rows × models, NaN where
    unknown; ``weights`` alike, an outcome counting as that many), with the ``k`` and
    weighting of the lowest out-of-fold log-loss."""
    if len(rows) != len(outcomes):
        raise ValueError(f"{len(rows)} rows but {len(outcomes)} outcome rows")
    if not len(rows):
        raise ValueError("no training requests to find neighbours among")
    rng = np.random.default_rng(seed)
    if len(rows) > max_rows:
        keep = np.sort(rng.choice(len(rows), max_rows, replace=False))
        rows, outcomes = rows[keep], outcomes[keep]
        weights = None if weights is None else weights[keep]
    known = ~np.isnan(outcomes)
    wt = np.where(known, 1.0 if weights is None else np.nan_to_num(weights), 0.0)
    y0 = np.nan_to_num(outcomes)
    overall = float((wt * y0).sum() / wt.sum()) if wt.sum() > 0 else 0.5
    totals = wt.sum(axis=0)
    # each model's (weighted) mean outcome; a model without outcomes, every model's
    prior = np.where(totals > 0, (wt * y0).sum(axis=0) / np.maximum(totals, 1e-12), overall)
    n_folds = max(2, folds)
    fold = rng.permutation(len(rows)) % n_folds
    losses: dict[tuple[int, str], list[float]] = {(k, w): [] for k in ks for w in WEIGHTINGS}
    for f in range(n_folds):
        tr, te = fold != f, fold == f
        if not tr.any() or not te.any():
            continue
        fold_wt = None if weights is None else weights[tr]
        found = _Nearest.search(rows[te], rows[tr], outcomes[tr], max(ks), weights=fold_wt)
        for k, weighting in losses:
            losses[(k, weighting)].append(log_loss(found.vote(k, weighting, prior), outcomes[te]))
    best: tuple[float, int, str] | None = None
    for (k, weighting), each in losses.items():
        loss = float(np.mean(each)) if each else np.inf
        if best is None or loss < best[0]:
            best = (loss, k, weighting)
    assert best is not None
    return Neighbours(rows, outcomes, prior, best[1], best[2], weights)
