"""Honest evaluation: k-fold cross-validated predictions and the routing metrics,
against baselines replayed on the same requests.

Every figure comes from requests the model did not train on: each fold's requests are
predicted by a model fitted on the other folds. Requests marked ``eval = False`` are
used for training but not scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.quality import QualityModel, brier_score, calibration_error
from training.data import STRONG, WEAK, RoutingData
from training.metrics import aiq, apgr, cost_at_parity, cpt
from training.ope import snips

__all__ = [
    "LAMBDAS",
    "Evaluation",
    "OutOfFold",
    "PerModel",
    "Replay",
    "cross_validate",
    "evaluate",
]


@dataclass
class OutOfFold:
    """Out-of-fold P(resolved), requests × models: calibrated (what the service uses)
    and the boosted model's raw output (to measure what calibration changes)."""

    p: np.ndarray
    p_raw: np.ndarray
    completion: np.ndarray | None = None  # expected completion tokens, NaN where unknown


@dataclass
class Evaluation:
    source: str
    folds: int
    seed: int
    n_requests: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        cols = list(self.rows[0])
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "folds": self.folds,
            "seed": self.seed,
            "n_requests": self.n_requests,
            "rows": self.rows,
            "summary": self.summary,
            "calibration": self.calibration,
        }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "—" if v is None else str(v)


def cross_validate(
    data: RoutingData,
    make_model: Callable[[], QualityModel | PerModel],
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _m: None,
) -> OutOfFold:
    """Out-of-fold P(resolved) of models made by ``make_model``."""
    from sklearn.model_selection import KFold

    p = np.zeros((len(data.requests), len(data.models)))
    p_raw = np.zeros_like(p)
    completion = np.full_like(p, np.nan)  # stays NaN without a length model
    splitter = KFold(folds, shuffle=True, random_state=seed)
    for i, (tr, te) in enumerate(splitter.split(data.requests)):
        t0 = time.perf_counter()
        train_ids = set(data.requests["request_id"].iloc[tr])
        model = make_model().fit(
            data.requests.iloc[tr].reset_index(drop=True),
            data.outcomes[data.outcomes["request_id"].isin(train_ids)],
            data.models,
        )
        test = data.requests.iloc[te].reset_index(drop=True)
        p[te], p_raw[te], lengths = model.predict_frames(test, data.models)
        if lengths is not None:
            completion[te] = lengths
        progress(f"fold {i + 1}/{folds} done in {time.perf_counter() - t0:.0f} s")
    return OutOfFold(p, p_raw, None if np.isnan(completion).all() else completion)


def evaluate(data: RoutingData, oof: OutOfFold, folds: int, seed: int = 0) -> Evaluation:
    """Metrics of out-of-fold predictions and of the baselines, on the evaluation rows."""
    ev = Evaluation(data.source, folds, seed, int(data.requests["eval"].sum()))
    if list(data.models["model"]) == [WEAK, STRONG] and not data.logged:
        _two_models(data, oof.p, ev, seed)
        raw = Evaluation(data.source, folds, seed, ev.n_requests)
        _two_models(data, oof.p_raw, raw, seed)
        ev.summary["APGR_uncalibrated"] = raw.summary["APGR"]
        ev.summary["CPT(50%)_uncalibrated"] = raw.summary["CPT(50%)"]
    else:
        _many_models(data, oof.p, ev, seed, oof.completion)
        raw = Evaluation(data.source, folds, seed, ev.n_requests)
        _many_models(data, oof.p_raw, raw, seed, oof.completion)
        ev.summary["AIQ_uncalibrated"] = raw.summary["AIQ"]
        ev.summary["cost_at_parity_uncalibrated"] = raw.summary["cost_at_parity"]
    ev.calibration = _calibration(data, oof)
    if oof.completion is not None:
        ev.summary.update(_completion_accuracy(data, oof.completion))
    return ev


def _completion_accuracy(data: RoutingData, predicted: np.ndarray) -> dict[str, float]:
    """Mean absolute error (tokens) of the length model's completion lengths and of the
    per-model mean it replaces, over every evaluated outcome with a known length."""
    keep = data.requests["eval"].to_numpy()
    actual = data.matrix("completion_tokens").to_numpy()[keep]
    pred = predicted[keep]
    known = ~np.isnan(actual) & ~np.isnan(pred)
    if not known.any():
        return {}
    baseline = np.broadcast_to(np.nanmean(actual, axis=0), actual.shape)
    return {
        "completion_mae_tokens": float(np.abs(pred - actual)[known].mean()),
        "completion_mae_tokens_model_mean": float(np.abs(baseline - actual)[known].mean()),
    }


def _calibration(data: RoutingData, oof: OutOfFold, bins: int = 10) -> dict[str, Any]:
    """Brier score and expected calibration error before and after calibration, over
    every evaluated request × model outcome, with the reliability diagram's points."""
    keep = data.requests["eval"].to_numpy()
    y = data.matrix().to_numpy()[keep]
    tried = ~np.isnan(y)
    out: dict[str, Any] = {"bins": bins, "outcomes": int(tried.sum())}
    for label, p in (("raw", oof.p_raw), ("calibrated", oof.p)):
        pk, yk = p[keep][tried], y[tried]
        which = np.minimum((pk * bins).astype(int), bins - 1)
        diagram = [
            (float(pk[which == b].mean()), float(yk[which == b].mean()), int((which == b).sum()))
            for b in range(bins)
            if (which == b).any()
        ]
        out[label] = {
            "brier": brier_score(pk, yk),
            "ece": calibration_error(pk, yk, bins),
            "diagram": diagram,
        }
    return out


def _two_models(data: RoutingData, p: np.ndarray, ev: Evaluation, seed: int) -> None:
    keep = data.requests["eval"].to_numpy()
    y = data.matrix().to_numpy()[keep]
    weak, strong = y[:, 0], y[:, 1]
    rng = np.random.default_rng(seed)
    routers = {
        "quality model (P strong − P weak)": (p[keep, 1] - p[keep, 0]),
        "random": rng.random(int(keep.sum())),
        "prompt length": data.requests["text"].str.len().to_numpy(dtype=float)[keep],
        "per-request oracle": strong - weak,
    }
    for name, score in routers.items():
        share, pgr = _curve(score, weak, strong)
        ev.rows.append(
            {
                "router": name,
                "APGR": apgr(score, weak, strong),
                "CPT(50%)": cpt(score, weak, strong, 0.5),
                "CPT(80%)": cpt(score, weak, strong, 0.8),
            }
        )
        ev.curves[name] = {"share": share, "pgr": pgr}
    ev.summary = {
        "weak_quality": float(weak.mean()),
        "strong_quality": float(strong.mean()),
        "oracle_quality": float(np.maximum(weak, strong).mean()),
        **{k: v for k, v in ev.rows[0].items() if k != "router"},
    }


def _curve(
    score: np.ndarray, weak: np.ndarray, strong: np.ndarray
) -> tuple[list[float], list[float]]:
    from training.metrics import pgr_curve

    share, pgr = pgr_curve(score, weak, strong)
    step = max(1, len(share) // 200)
    return share[::step].tolist(), pgr[::step].tolist()


LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 120)])  # λ sweep, utility per USD
MIN_MATCHED = 20  # logged decisions an off-policy point must rest on to be reported


class Replay:
    """What a choice of one model per evaluated request would have resolved and cost.

    Exact where every model's outcome is known (benchmarks); on logged decisions, an
    off-policy SNIPS estimate (:mod:`training.ope`), with its effective sample size.
    ``available`` marks the candidates of each request (the models tried, or the
    candidates the service considered), ``expected`` their cost as known before the
    call: the logged estimate, or the prompt at list price plus the model's mean
    completion on this data.
    """

    def __init__(self, data: RoutingData, completion: np.ndarray | None = None) -> None:
        keep = data.requests["eval"].to_numpy()
        self.models = list(data.models["model"])
        self.n = int(keep.sum())
        y = data.matrix().to_numpy()[keep]
        self.logged = data.logged
        if data.logged:
            self.expected = data.offered().to_numpy()[keep]
            self.available = ~np.isnan(self.expected)
            self.expected = np.nan_to_num(self.expected)
            seen = ~np.isnan(y)
            self.chosen = np.argmax(seen, axis=1)
            rows = np.arange(self.n)
            self.resolved = y[rows, self.chosen]
            cost = data.matrix("cost_usd").to_numpy()[keep][rows, self.chosen]
            self.cost = np.where(np.isnan(cost), self.expected[rows, self.chosen], cost)
            self.propensity = data.matrix("propensity").to_numpy()[keep][rows, self.chosen]
        else:
            self.available = ~np.isnan(y)
            self.y = np.nan_to_num(y)
            price = data.models.set_index("model")
            mean = data.matrix("completion_tokens").mean().reindex(self.models).fillna(0)
            length = np.broadcast_to(mean.to_numpy(), (self.n, len(self.models)))
            if completion is not None:  # the length model's, where it has one
                length = np.where(np.isnan(completion[keep]), length, completion[keep])
            prompt = data.requests["prompt_tokens"].to_numpy(float)[keep]
            self.expected = (
                np.outer(prompt, price["input_usd_per_mtok"])
                + length * price["output_usd_per_mtok"].to_numpy()
            ) / 1e6
            # what each call cost: as reported, else at list price from its tokens, else
            # the expected cost
            cost = np.full_like(self.expected, np.nan)
            if "cost_usd" in data.outcomes:
                cost = data.matrix("cost_usd").to_numpy()[keep]
            if "completion_tokens" in data.outcomes:
                tokens = data.matrix("completion_tokens").to_numpy()[keep]
                priced = (
                    np.outer(prompt, price["input_usd_per_mtok"])
                    + tokens * price["output_usd_per_mtok"].to_numpy()
                ) / 1e6
                cost = np.where(np.isnan(cost), priced, cost)
            self.costs = np.where(np.isnan(cost), self.expected, cost)

    def choose(self, p: np.ndarray, lam: float) -> np.ndarray:
        """Index of the candidate maximising P(resolved) − λ · expected cost."""
        utility = np.where(self.available, p - lam * self.expected, -np.inf)
        choice: np.ndarray = np.argmax(utility, axis=1)
        return choice

    def outcome(self, choice: np.ndarray) -> tuple[float, float, float]:
        """(mean quality, total cost, effective sample size) of ``choice``; NaN when an
        off-policy estimate rests on fewer than :data:`MIN_MATCHED` decisions."""
        if not self.logged:
            rows = np.arange(len(choice))
            return float(self.y[rows, choice].mean()), float(self.costs[rows, choice].sum()), self.n
        w = np.where(choice == self.chosen, 1.0 / self.propensity, 0.0)
        q = snips(w, self.resolved)
        c = snips(w, self.cost)
        if q.matched < MIN_MATCHED:
            return float("nan"), float("nan"), q.ess
        return q.value, c.value * self.n, q.ess

    def single(self, j: int) -> np.ndarray:
        return np.full(self.n, j)


def _many_models(
    data: RoutingData, p: np.ndarray, ev: Evaluation, seed: int, completion: np.ndarray | None
) -> None:
    replay = Replay(data, completion)
    pk = p[data.requests["eval"].to_numpy()]
    singles = {}
    for j, m in enumerate(replay.models):
        q, c, _ = replay.outcome(replay.single(j))
        if q == q:  # estimable
            singles[m] = (q, c)
    if not singles:
        raise ValueError(
            f"{data.source}: no single model can be evaluated: on logged decisions each "
            f"model needs {MIN_MATCHED} or more logged choices"
        )
    best = max(singles, key=lambda m: (singles[m][0], -singles[m][1]))
    cheapest = min(singles, key=lambda m: singles[m][1])
    q_best, c_best = singles[best]
    curve = [replay.outcome(replay.choose(pk, lam)) for lam in LAMBDAS]
    points = [(q, c) for q, c, _ in curve if q == q]
    qs, cs = [q for q, _ in points], [c for _, c in points]
    c_lo = min(c for _, c in singles.values())
    c_hi = max(c for _, c in singles.values())
    rng = np.random.default_rng(seed)
    random_choice = np.array([rng.choice(np.flatnonzero(t)) for t in replay.available])
    q_rand, c_rand, _ = replay.outcome(random_choice)
    rows: list[tuple[str, float | None, float | None]] = [
        (
            "quality model (λ sweep)",
            aiq(cs, qs, c_lo, c_hi) if c_hi > c_lo and qs else None,
            cost_at_parity(cs, qs, q_best, c_best) if qs else None,
        ),
        (f"best single model ({best})", q_best, 1.0),
        (f"cheapest model ({cheapest})", singles[cheapest][0], singles[cheapest][1] / c_best),
        ("random model", q_rand, c_rand / c_best if c_rand == c_rand else None),
    ]
    if replay.logged:
        logged_cost = float(replay.cost.sum())
        rows.append(("logged policy", float(replay.resolved.mean()), logged_cost / c_best))
        ev.summary["notes"] = "off-policy (SNIPS) estimates from logged decisions" + (
            "" if (replay.propensity < 1).any() else "; the log has no exploration: biased"
        )
    else:
        yz, cz = replay.y, replay.costs
        oracle_q = float(yz.max(axis=1).mean())
        best_cost = np.where(yz > 0, cz, np.inf).min(axis=1)
        oracle_cost = float(np.where(yz.max(axis=1) > 0, best_cost, cz.min(axis=1)).sum())
        rows.append(("per-request oracle", oracle_q, oracle_cost / c_best))
    ev.rows = [
        {"router": r, "quality (AIQ for the λ sweep)": q, "cost vs best single": c}
        for r, q, c in rows
    ]
    ev.curves = {"router": {"cost": cs, "quality": qs}, "singles": singles}
    ev.summary.update(
        {
            "AIQ": rows[0][1],
            "cost_at_parity": rows[0][2],
            "best_single_model": best,
            "best_single_quality": q_best,
            "best_single_cost_usd": c_best,
            "max_router_quality": max(qs) if qs else None,
        }
    )
    if replay.logged:
        ev.summary["effective_sample_size_min"] = float(min(e for _, _, e in curve))


class PerModel:
    """The alternative to one model across candidates: an independent quality model per
    candidate, each fitted on that candidate's outcomes only (no prices, no sharing).
    Same interface as :class:`QualityModel`, for :func:`cross_validate`; measured
    against it by ``selector evaluate --variant per-model``."""

    def __init__(self, make: Callable[[], QualityModel]) -> None:
        self.make = make

    def fit(self, requests: pd.DataFrame, outcomes: pd.DataFrame, models: pd.DataFrame) -> PerModel:
        self.models_ = list(models["model"])
        self.fitted_ = {}
        for name in self.models_:
            mine = outcomes[outcomes["model"] == name]
            if mine.empty:
                continue
            self.fitted_[name] = self.make().fit(
                requests, mine, models[models["model"] == name].reset_index(drop=True)
            )
        return self

    def predict_frames(
        self, requests: pd.DataFrame, models: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        p = np.full((len(requests), len(models)), 0.5)
        raw = p.copy()
        completion = np.full_like(p, np.nan)
        for j, name in enumerate(models["model"]):
            model = self.fitted_.get(name)
            if model is not None:
                one = models[models["model"] == name].reset_index(drop=True)
                pj, rj, cj = model.predict_frames(requests, one)
                p[:, j], raw[:, j] = pj[:, 0], rj[:, 0]
                if cj is not None:
                    completion[:, j] = cj[:, 0]
        return p, raw, None if np.isnan(completion).all() else completion
