"""Counterfactual replays: what a choice of one model per request would have resolved
and cost (:class:`Replay`), and the router compared on many models with the baselines
replayed on the same requests (:func:`compare_many`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.data import RoutingData
from training.ope import snips
from training.routing_metrics import aiq, cost_at_parity

__all__ = ["LAMBDAS", "MIN_COMPLETE", "MIN_MATCHED", "Compared", "Replay", "compare_many"]

LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 120)])  # λ sweep, utility per USD
MIN_MATCHED = 20  # logged decisions an off-policy point must rest on to be reported
MIN_COMPLETE = 30  # requests every model answered, for the baselines to be replayed on them


def _replayed(data: RoutingData) -> tuple[np.ndarray, str]:
    """The requests to replay, and the rule that chose them: the evaluated ones every
    model answered (the same requests and answers for the router and the baselines),
    unless fewer than :data:`MIN_COMPLETE` are."""
    keep = data.requests["eval"].to_numpy()
    if data.logged:
        return keep, "every evaluated request"
    answered = data.matrix().notna().all(axis=1).to_numpy()
    if (keep & answered).sum() >= MIN_COMPLETE:
        rule = (
            f"the {int((keep & answered).sum())} of {int(keep.sum())} evaluated "
            "requests every model answered"
        )
        return keep & answered, rule
    if not answered[keep].all():
        return keep, (
            f"every evaluated request; fewer than {MIN_COMPLETE} have an answer from "
            "every model, so a model's missing answers count as unresolved for it"
        )
    return keep, "every evaluated request"


class Replay:
    """What a choice of one model per evaluated request would have resolved and cost.

    Exact where every model's outcome is known (benchmarks); on logged decisions, an
    off-policy SNIPS estimate (:mod:`training.ope`), with its effective sample size.
    ``available`` marks the candidates of each request (the models tried, or the
    candidates the service considered), ``expected`` their cost as known before the
    call: the logged estimate, or the prompt at list price plus the completion length
    the service would assume: the length model's, else the model's mean completion on
    this data, else the catalog's ``expected_completion_tokens`` (the setting
    ``default_completion_tokens`` where the catalog has none).
    """

    def __init__(self, data: RoutingData, completion: np.ndarray | None = None) -> None:
        self.models = list(data.models["model"])
        self.logged = data.logged
        prices = data.models.set_index("model").reindex(self.models)
        self.list_price = prices["input_usd_per_mtok"].to_numpy(float) + prices[
            "output_usd_per_mtok"
        ].to_numpy(float)
        keep, self.rule = _replayed(data)
        self.rows = keep  # the requests replayed, of all of data's
        # the service's cold-start scoring (training.data.tables.with_served_priors)
        frame = data.models.set_index("model").reindex(self.models)
        self.keep = 1.0 - frame.get("error_prior", pd.Series(0.0, frame.index)).fillna(0).to_numpy()
        self.penalty = (
            frame.get("latency_penalty", pd.Series(0.0, frame.index)).fillna(0).to_numpy()
        )
        self.n = int(keep.sum())
        y = data.matrix().to_numpy()[keep]
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
            mean = data.matrix("completion_tokens").mean().reindex(self.models)
            if "expected_completion_tokens" in data.models:  # the catalog's, for the rest
                prior = data.models.set_index("model")["expected_completion_tokens"]
                mean = mean.fillna(prior.reindex(self.models))
            mean = mean.fillna(0)
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
        """Index of the candidate maximising the service's utility before any call:
        P(resolved) × (1 − prior error rate) − λ · expected cost − latency penalty."""
        utility = np.where(
            self.available, p * self.keep - lam * self.expected - self.penalty, -np.inf
        )
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


@dataclass
class Compared:
    """The router against the baselines on many models: table rows (a λ sweep's AIQ and
    cost at parity, a fixed policy's quality and cost against the best single model's),
    the curves to plot, and summary figures."""

    rows: list[dict[str, Any]]
    curves: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


def _singles(replay: Replay, source: str) -> dict[str, tuple[float, float]]:
    """(quality, cost) of always choosing each model that can be evaluated."""
    singles = {}
    for j, m in enumerate(replay.models):
        q, c, _ = replay.outcome(replay.single(j))
        if q == q:  # estimable
            singles[m] = (q, c)
    if not singles:
        raise ValueError(
            f"{source}: no single model can be evaluated: on logged decisions each "
            f"model needs {MIN_MATCHED} or more logged choices"
        )
    return singles


def _reference(replay: Replay, c_best: float, summary: dict[str, Any]) -> tuple[str, float, float]:
    """The logged policy's row (on logged decisions) or the per-request oracle's."""
    if replay.logged:
        summary["notes"] = "off-policy (SNIPS) estimates from logged decisions" + (
            "" if (replay.propensity < 1).any() else "; the log has no exploration: biased"
        )
        return "logged policy", float(replay.resolved.mean()), float(replay.cost.sum()) / c_best
    yz, cz = replay.y, replay.costs
    oracle_q = float(yz.max(axis=1).mean())
    best_cost = np.where(yz > 0, cz, np.inf).min(axis=1)
    oracle_cost = float(np.where(yz.max(axis=1) > 0, best_cost, cz.min(axis=1)).sum())
    return "per-request oracle", oracle_q, oracle_cost / c_best


def compare_many(
    data: RoutingData, p: np.ndarray, seed: int, completion: np.ndarray | None
) -> Compared:
    """The λ sweep of P(resolved) ``p`` against the best, cheapest and a random model,
    and the logged policy or the per-request oracle, on the evaluation rows of ``data``."""
    replay = Replay(data, completion)
    pk = p[replay.rows]
    singles = _singles(replay, data.source)
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
    summary: dict[str, Any] = {}
    reference = _reference(replay, c_best, summary)
    sweep = {
        "router": "quality model (λ sweep)",
        "AIQ": aiq(cs, qs, c_lo, c_hi) if c_hi > c_lo and qs else None,
        "cost at parity": cost_at_parity(cs, qs, q_best, c_best) if qs else None,
        "quality": max(qs) if qs else None,
        "relative cost": None,
    }
    fixed = [
        (f"best single model ({best})", q_best, 1.0),
        (f"cheapest model ({cheapest})", singles[cheapest][0], singles[cheapest][1] / c_best),
        ("random model", q_rand, c_rand / c_best if c_rand == c_rand else None),
        reference,
    ]
    rows = [sweep] + [
        {"router": r, "AIQ": None, "cost at parity": None, "quality": q, "relative cost": c}
        for r, q, c in fixed
    ]
    summary.update(
        {
            "AIQ": sweep["AIQ"],
            "cost_at_parity": sweep["cost at parity"],
            "best_single_model": best,
            "best_single_quality": q_best,
            "best_single_cost_usd": c_best,
            "max_router_quality": max(qs) if qs else None,
            "compared_on": replay.rule,
        }
    )
    if replay.logged:
        summary["effective_sample_size_min"] = float(min(e for _, _, e in curve))
    return Compared(
        rows,
        {"router": {"cost": cs, "quality": qs}, "singles": singles},
        summary,
    )
