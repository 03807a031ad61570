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

from core.errors import ConfigError
from models.quality import QualityTrainer, brier_score, calibration_error
from training.baselines import BASELINES, NaiveText, PerModel
from training.counterfactual import compare_many
from training.data import STRONG, WEAK, RoutingData
from training.routing_metrics import apgr, cpt, pgr_curve

__all__ = [
    "Evaluation",
    "OutOfFold",
    "cross_validate",
    "evaluate",
    "fit_and_predict",
    "strong_and_weak",
    "two_model_line",
]


@dataclass
class OutOfFold:
    """Out-of-fold P(resolved), requests × models: calibrated (what the service uses)
    and the boosted model's raw output (to measure what calibration changes)."""

    p: np.ndarray
    p_raw: np.ndarray
    completion: np.ndarray | None = None  # expected completion tokens, NaN where unknown
    # each baseline's P(resolved) on the same folds, by key of training.baselines.BASELINES
    baselines: dict[str, np.ndarray] = field(default_factory=dict)
    trained: list[int] = field(default_factory=list)  # each fold's training requests


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
    # a user's table of two models: every router's APGR and CPT, beside the λ sweeps
    pair_rows: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        """The rows as a Markdown table; for a user's two models, a second table of every
        router's APGR and CPT; a legend when a cell is empty (—)."""
        out = _markdown(self.rows)
        if self.pair_rows:
            out += "\n\n" + _markdown(self.pair_rows)
        if any(v is None for r in self.rows for v in r.values()):
            out += "\n\n" + LEGEND
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "folds": self.folds,
            "seed": self.seed,
            "n_requests": self.n_requests,
            "rows": self.rows,
            **({"two_model_rows": self.pair_rows} if self.pair_rows else {}),
            "summary": self.summary,
            "calibration": self.calibration,
        }


LEGEND = """\
AIQ: the area under the router's quality-against-cost curve over the single models'
cost range (λ sweeps only). cost at parity: what the sweep costs, as a share of the best
single model's cost, where it first resolves as much as that model. quality: the share
resolved (a λ sweep: the most it reaches). relative cost: a fixed policy's cost as a
share of the best single model's. — : the column does not apply to the row (a λ sweep
has no single cost, a fixed policy no curve), or the sweep never matches the best single
model's quality."""


def _markdown(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "—" if v is None else str(v)


def cross_validate(
    data: RoutingData,
    make_model: Callable[[], QualityTrainer | PerModel | NaiveText],
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _m: None,
    baselines: bool = False,
    train_share: float = 1.0,
) -> OutOfFold:
    """Out-of-fold P(resolved) of models made by ``make_model``, whole groups to a fold;
    with ``baselines``, those of :data:`training.baselines.BASELINES` too. With
    ``train_share`` < 1 each fold trains on that share of its training groups (drawn by
    ``seed`` and the fold, kept whole) and is evaluated on all of its test requests."""
    if not 0.0 < train_share <= 1.0:
        raise ValueError(f"train_share must be in (0, 1], got {train_share}")
    p = np.zeros((len(data.requests), len(data.models)))
    p_raw = np.zeros_like(p)
    base = {key: np.zeros_like(p) for key in BASELINES} if baselines else {}
    completion = np.full_like(p, np.nan)  # stays NaN without a length model
    everything = np.arange(len(data.requests))
    groups = data.groups().to_numpy()
    trained: list[int] = []
    for i, te in enumerate(data.folds(folds, seed)):
        tr = np.setdiff1d(everything, te)
        if train_share < 1.0:
            tr = _share_of_groups(tr, groups, train_share, seed * 1_000 + i)
        trained.append(len(tr))
        t0 = time.perf_counter()
        found = fit_and_predict(
            data.subset(np.isin(everything, tr)),
            data.requests.iloc[te],
            make_model,
            seed,
            baselines,
        )
        p[te], p_raw[te] = found.p, found.p_raw
        if found.completion is not None:
            completion[te] = found.completion
        for key, rows in base.items():
            rows[te] = found.baselines[key]
        progress(f"fold {i + 1}/{folds} done in {time.perf_counter() - t0:.0f} s")
    lengths = None if np.isnan(completion).all() else completion
    return OutOfFold(p, p_raw, lengths, base, trained)


def fit_and_predict(
    train: RoutingData,
    test: pd.DataFrame,
    make_model: Callable[[], QualityTrainer | PerModel | NaiveText],
    seed: int = 0,
    baselines: bool = False,
) -> OutOfFold:
    """A model made by ``make_model`` (and with ``baselines``, each of
    :data:`training.baselines.BASELINES`) fitted on ``train``, and its P(resolved) of
    the ``test`` requests for ``train``'s models (expected completion None without a
    length model)."""
    fold = (train.requests, train.outcomes, train.models)
    test = test.reset_index(drop=True)
    p, p_raw, completion = make_model().fit(*fold).predict_frames(test, train.models)
    base = {}
    if baselines:
        base = {
            key: make(seed).fit(*fold).predict_frames(test, train.models)[0]
            for key, (_, make) in BASELINES.items()
        }
    return OutOfFold(p, p_raw, completion, base, [len(train.requests)])


def _share_of_groups(rows: np.ndarray, groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    """The ``rows`` of a seeded ``share`` of their groups (at least one group)."""
    names = np.unique(groups[rows])
    keep = np.random.default_rng(seed).choice(
        names, max(1, round(share * len(names))), replace=False
    )
    return rows[np.isin(groups[rows], keep)]


def strong_and_weak(data: RoutingData, strong: str | None = None) -> tuple[int, int] | None:
    """For a table of two models' outcomes (not a decision log), the columns of the strong
    and the weak model: ``strong`` if named, else the dearer by list price; None for
    other data."""
    names = [str(m) for m in data.models["model"]]
    if len(names) != 2 or data.logged:
        return None
    if strong is not None:
        if strong not in names:
            raise ConfigError(f"--strong {strong}: not a model of {data.source} ({names})")
        s = names.index(strong)
    else:
        price = data.models["input_usd_per_mtok"] + data.models["output_usd_per_mtok"]
        s = int(np.argmax(price.to_numpy(float)))  # the first of two at one price
    return s, 1 - s


def _equal_prices(data: RoutingData) -> bool:
    price = (data.models["input_usd_per_mtok"] + data.models["output_usd_per_mtok"]).to_numpy()
    return bool(np.isclose(price.min(), price.max()))


def two_model_line(m: dict[str, Any], named: bool, which: str = "the table") -> str:
    """What a two-model evaluation's APGR and CPT table (``which``) is measured on (its
    ``summary`` ``m``)."""
    why = (
        "--strong"
        if named
        else "both have one price: the first; --strong NAME to choose"
        if m.get("equal_prices")
        else "the dearer; --strong NAME to choose"
    )
    return (
        f"two models, {m['strong_model']} the strong one ({why}): {which} gives "
        f"each router's APGR and CPT on the {m['requests_both_answered']} requests both "
        f"answered (the quality model's APGR {m['APGR']:.3f}"
        + "".join(
            f", the {key} baseline's {m[f'APGR_{key}']:.3f}"
            for key in BASELINES
            if f"APGR_{key}" in m
        )
        + ")"
    )


def evaluate(
    data: RoutingData, oof: OutOfFold, folds: int, seed: int = 0, strong: str | None = None
) -> Evaluation:
    """Metrics of out-of-fold predictions and of the baselines, on the evaluation rows;
    APGR and CPT for two models (``strong``: the strong one's name, else the dearer)."""
    ev = Evaluation(data.source, folds, seed, int(data.requests["eval"].sum()))
    pair = strong_and_weak(data, strong)
    if list(data.models["model"]) == [WEAK, STRONG] and not data.logged:  # RouteLLM's
        _two_models(data, oof.p, ev, seed, (1, 0), oof.baselines)
        raw = Evaluation(data.source, folds, seed, ev.n_requests)
        _two_models(data, oof.p_raw, raw, seed, (1, 0))
        ev.summary["APGR_uncalibrated"] = raw.summary["APGR"]
        ev.summary["CPT(50%)_uncalibrated"] = raw.summary["CPT(50%)"]
        _sweep_areas(data, oof, ev, seed)
    else:
        _many_models(data, oof.p, ev, seed, oof.completion)
        raw = Evaluation(data.source, folds, seed, ev.n_requests)
        _many_models(data, oof.p_raw, raw, seed, oof.completion)
        ev.summary["AIQ_uncalibrated"] = raw.summary["AIQ"]
        ev.summary["cost_at_parity_uncalibrated"] = raw.summary["cost_at_parity"]
        _baseline_sweeps(data, oof, ev, seed)
        if pair is not None:  # a user's two models: APGR and CPT beside the λ sweep
            both = Evaluation(data.source, folds, seed, ev.n_requests)
            _two_models(data, oof.p, both, seed, pair, oof.baselines)
            ev.summary.update({k: v for k, v in both.summary.items() if k not in ev.summary})
            ev.summary["equal_prices"] = _equal_prices(data)
            ev.curves["quality model (P strong − P weak)"] = both.curves[both.rows[0]["router"]]
            ev.pair_rows = both.rows
    ev.calibration = _calibration(data, oof)
    if oof.completion is not None:
        ev.summary.update(_completion_accuracy(data, oof.completion))
    return ev


def _baseline_sweeps(data: RoutingData, oof: OutOfFold, ev: Evaluation, seed: int) -> None:
    """Each baseline's λ sweep, on the same requests and expected costs, as the rows
    after the quality model's."""
    for at, (key, p) in enumerate(oof.baselines.items(), start=1):
        row = compare_many(data, p, seed, oof.completion).rows[0]
        ev.rows.insert(at, {**row, "router": f"{BASELINES[key][0]} (λ sweep)"})
        ev.summary[f"AIQ_{key}"] = row["AIQ"]
        ev.summary[f"cost_at_parity_{key}"] = row["cost at parity"]


def _sweep_areas(data: RoutingData, oof: OutOfFold, ev: Evaluation, seed: int) -> None:
    """Beside APGR, the area under each router's λ sweep of quality against cost (AIQ,
    at the table's prices), as for tables of more models: one figure for every source."""
    ev.summary["AIQ"] = compare_many(data, oof.p, seed, oof.completion).rows[0]["AIQ"]
    for key, p in oof.baselines.items():
        ev.summary[f"AIQ_{key}"] = compare_many(data, p, seed, oof.completion).rows[0]["AIQ"]


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


def _two_models(
    data: RoutingData,
    p: np.ndarray,
    ev: Evaluation,
    seed: int,
    pair: tuple[int, int],
    baselines: dict[str, np.ndarray] | None = None,
) -> None:
    """APGR and CPT on the evaluated requests both models answered (and each baseline's,
    given its P(resolved), by key of :data:`training.baselines.BASELINES`)."""
    s, w = pair
    y = data.matrix().to_numpy()
    keep = data.requests["eval"].to_numpy() & ~np.isnan(y[:, s]) & ~np.isnan(y[:, w])
    y = y[keep]
    weak, strong = y[:, w], y[:, s]
    rng = np.random.default_rng(seed)
    routers = {
        "quality model (P strong − P weak)": (p[keep, s] - p[keep, w]),
        "random": rng.random(int(keep.sum())),
        "prompt length": data.requests["text"].str.len().to_numpy(dtype=float)[keep],
        "per-request oracle": strong - weak,
    }
    named = {key: f"{BASELINES[key][0]} (P strong − P weak)" for key in baselines or {}}
    first = {"quality model (P strong − P weak)": routers.pop("quality model (P strong − P weak)")}
    for key, q in (baselines or {}).items():
        first[named[key]] = q[keep, s] - q[keep, w]
    routers = {**first, **routers}
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
    names = list(data.models["model"])
    ev.summary = {
        "strong_model": str(names[s]),
        "weak_model": str(names[w]),
        "requests_both_answered": int(keep.sum()),
        "weak_quality": float(weak.mean()),
        "strong_quality": float(strong.mean()),
        "oracle_quality": float(np.maximum(weak, strong).mean()),
        **{k: v for k, v in ev.rows[0].items() if k != "router"},
    }
    by_name = {r["router"]: r for r in ev.rows}
    for key, name in named.items():
        ev.summary.update({f"{k}_{key}": v for k, v in by_name[name].items() if k != "router"})


def _curve(
    score: np.ndarray, weak: np.ndarray, strong: np.ndarray
) -> tuple[list[float], list[float]]:
    share, pgr = pgr_curve(score, weak, strong)
    step = max(1, len(share) // 200)
    return share[::step].tolist(), pgr[::step].tolist()


def _many_models(
    data: RoutingData, p: np.ndarray, ev: Evaluation, seed: int, completion: np.ndarray | None
) -> None:
    found = compare_many(data, p, seed, completion)
    ev.rows, ev.curves = found.rows, found.curves
    ev.summary.update(found.summary)
