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

from core.errors import ConfigError
from models.quality import QualityTrainer, brier_score, calibration_error
from training.baselines import NAIVE, NaiveText, PerModel
from training.counterfactual import compare_many
from training.data import STRONG, WEAK, RoutingData
from training.routing_metrics import apgr, cpt, pgr_curve

__all__ = [
    "Evaluation",
    "OutOfFold",
    "cross_validate",
    "evaluate",
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
    naive: np.ndarray | None = None  # the naive baseline's P(resolved), on the same folds


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
    naive: bool = False,
) -> OutOfFold:
    """Out-of-fold P(resolved) of models made by ``make_model``, whole groups to a fold;
    with ``naive``, the naive baseline's too (:class:`training.baselines.NaiveText`)."""
    p = np.zeros((len(data.requests), len(data.models)))
    p_raw = np.zeros_like(p)
    naive_p = np.zeros_like(p) if naive else None
    completion = np.full_like(p, np.nan)  # stays NaN without a length model
    everything = np.arange(len(data.requests))
    for i, te in enumerate(data.folds(folds, seed)):
        tr = np.setdiff1d(everything, te)
        t0 = time.perf_counter()
        train_ids = set(data.requests["request_id"].iloc[tr])
        fold = (
            data.requests.iloc[tr].reset_index(drop=True),
            data.outcomes[data.outcomes["request_id"].isin(train_ids)],
            data.models,
        )
        model = make_model().fit(*fold)
        test = data.requests.iloc[te].reset_index(drop=True)
        p[te], p_raw[te], lengths = model.predict_frames(test, data.models)
        if lengths is not None:
            completion[te] = lengths
        if naive_p is not None:
            naive_p[te] = NaiveText(seed).fit(*fold).predict_frames(test, data.models)[0]
        progress(f"fold {i + 1}/{folds} done in {time.perf_counter() - t0:.0f} s")
    return OutOfFold(p, p_raw, None if np.isnan(completion).all() else completion, naive_p)


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
        + (f", the naive baseline's {m['APGR_naive']:.3f}" if "APGR_naive" in m else "")
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
        _two_models(data, oof.p, ev, seed, (1, 0), oof.naive)
        raw = Evaluation(data.source, folds, seed, ev.n_requests)
        _two_models(data, oof.p_raw, raw, seed, (1, 0))
        ev.summary["APGR_uncalibrated"] = raw.summary["APGR"]
        ev.summary["CPT(50%)_uncalibrated"] = raw.summary["CPT(50%)"]
    else:
        _many_models(data, oof.p, ev, seed, oof.completion)
        raw = Evaluation(data.source, folds, seed, ev.n_requests)
        _many_models(data, oof.p_raw, raw, seed, oof.completion)
        ev.summary["AIQ_uncalibrated"] = raw.summary["AIQ"]
        ev.summary["cost_at_parity_uncalibrated"] = raw.summary["cost_at_parity"]
        if oof.naive is not None:
            _naive_sweep(data, oof, ev, seed)
        if pair is not None:  # a user's two models: APGR and CPT beside the λ sweep
            both = Evaluation(data.source, folds, seed, ev.n_requests)
            _two_models(data, oof.p, both, seed, pair, oof.naive)
            ev.summary.update({k: v for k, v in both.summary.items() if k not in ev.summary})
            ev.summary["equal_prices"] = _equal_prices(data)
            ev.curves["quality model (P strong − P weak)"] = both.curves[both.rows[0]["router"]]
            ev.pair_rows = both.rows
    ev.calibration = _calibration(data, oof)
    if oof.completion is not None:
        ev.summary.update(_completion_accuracy(data, oof.completion))
    return ev


def _naive_sweep(data: RoutingData, oof: OutOfFold, ev: Evaluation, seed: int) -> None:
    """The naive baseline's λ sweep, on the same requests and expected costs, as the row
    after the quality model's."""
    assert oof.naive is not None
    row = compare_many(data, oof.naive, seed, oof.completion).rows[0]
    ev.rows.insert(1, {**row, "router": f"{NAIVE} (λ sweep)"})
    ev.summary["AIQ_naive"], ev.summary["cost_at_parity_naive"] = row["AIQ"], row["cost at parity"]


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
    naive: np.ndarray | None = None,
) -> None:
    """APGR and CPT on the evaluated requests both models answered (and the naive
    baseline's, given its P(resolved))."""
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
    if naive is not None:
        routers = {f"{NAIVE} (P strong − P weak)": naive[keep, s] - naive[keep, w], **routers}
        routers = dict(sorted(routers.items(), key=lambda kv: not kv[0].startswith("quality")))
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
    if naive is not None:
        ev.summary.update({f"{k}_naive": v for k, v in ev.rows[1].items() if k != "router"})


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
