"""Calibrating λ, the price of a dollar in the policy's utility, to a target the user
states in their own terms.

The policy picks the candidate maximising P(resolved) − λ · expected cost. λ itself
means little to a person; what they know is a target:

- ``strong-share=0.3``: at most 30 % of requests go to the strong models (every model
  at the top list price of the data, or those ``--strong`` names), as RouteLLM
  calibrates its threshold;
- ``budget=2.5``: at most $2.50 of model spend per 1,000 requests;
- ``min-quality=0.9``: at least 90 % of requests resolved, as cheaply as possible.

:func:`calibrate_cost_weight` replays the policy for every λ of a grid (then refines
between the two grid points that bracket the target) on predictions the model made
for requests it did not train on, and measures each setting with
:class:`training.evaluate.Replay`: exactly where every model's outcome is known,
off-policy from logged decisions. The λ found is the one that meets the target with
the best quality (share, budget) or the lowest cost (minimum quality).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ConfigError
from training.counterfactual import LAMBDAS, Replay
from training.data import RoutingData

__all__ = ["KINDS", "Calibrated", "Target", "TradeOff", "calibrate", "calibrate_cost_weight"]

KINDS = {
    "strong-share": "largest share of requests sent to the strong model (0–1)",
    "budget": "largest model spend per 1,000 requests, in USD",
    "min-quality": "smallest share of requests resolved (0–1)",
}


@dataclass(frozen=True)
class Target:
    kind: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Target:
        """``kind=value``, e.g. ``strong-share=0.3``.

        >>> Target.parse("budget=2.5")
        Target(kind='budget', value=2.5)
        """
        kind, sep, raw = text.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in KINDS:
            raise ConfigError(
                f"target {text!r}: write kind=value with kind one of "
                + ", ".join(f"{k} ({v})" for k, v in KINDS.items())
            )
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"target {text!r}: {raw!r} is not a number") from None
        if not value >= 0 or (kind != "budget" and value > 1):
            limit = "≥ 0" if kind == "budget" else "between 0 and 1"
            raise ConfigError(f"target {text!r}: the value must be {limit}")
        return cls(kind, value)

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"


@dataclass
class TradeOff:
    """A policy setting: λ and what it gives on the replayed requests."""

    cost_weight: float
    quality: float
    cost_per_1k: float
    strong_share: float
    ess: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "cost_weight": self.cost_weight,
            "quality": self.quality,
            "cost_per_1k_usd": self.cost_per_1k,
            "strong_share": self.strong_share,
            "effective_sample_size": self.ess,
        }


def _setting(replay: Replay, p: np.ndarray, lam: float, strong: list[int]) -> TradeOff:
    choice = replay.choose(p, lam)
    quality, cost, ess = replay.outcome(choice)
    share = float(np.mean(np.isin(choice, strong)))
    return TradeOff(lam, quality, cost / replay.n * 1000, share, ess)


def _meets(t: TradeOff, target: Target) -> bool:
    if target.kind == "strong-share":
        return t.strong_share <= target.value + 1e-12
    if target.kind == "budget":
        return t.cost_per_1k <= target.value + 1e-12
    return t.quality >= target.value - 1e-12


def strong_models(replay: Replay, names: str | None = None) -> list[int]:
    """Indices of the strong models: those ``names`` lists (comma-separated) or, without
    it, every model at the data's top list price (input + output per million tokens);
    where the data has no prices, the model dearest on average.

    A target on one of several models at the same top price would cap it alone and let
    the others take its share: all of them are the strong set.
    """
    if names is not None:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in replay.models]
        if not wanted or unknown:
            raise ConfigError(
                f"--strong {names!r}: {', '.join(unknown) or 'no model'} is not a model of "
                f"the data: {replay.models}"
            )
        return [replay.models.index(n) for n in wanted]
    price = replay.list_price
    if np.isfinite(price).any():
        top = float(np.nanmax(price))
        found = [int(j) for j in np.flatnonzero(price >= top - 1e-9 * max(top, 1.0))]
        if len(found) == len(replay.models):
            raise ConfigError(
                "every model of the data has the same list price, so none is the strong "
                "one: name the strong models with --strong A[,B]"
            )
        return found
    return [int(np.argmax(np.where(replay.available, replay.expected, 0).mean(axis=0)))]


def calibrate_cost_weight(
    replay: Replay, p: np.ndarray, target: Target, strong: str | None = None
) -> tuple[TradeOff, list[TradeOff]]:
    """The setting meeting ``target`` (see the module docstring) and the whole sweep.

    ``p``: P(resolved) of the replayed (evaluated) requests × models, predicted by a
    model that did not train on them.
    """
    j = strong_models(replay, strong)
    sweep = [_setting(replay, p, float(lam), j) for lam in LAMBDAS]
    valid = [t for t in sweep if t.quality == t.quality]
    ok = [t for t in valid if _meets(t, target)]
    if not ok:
        closest = {
            "strong-share": "the smallest share reached is "
            f"{min(t.strong_share for t in valid):.3f}",
            "budget": f"the cheapest setting costs ${min(t.cost_per_1k for t in valid):.4g} "
            "per 1,000 requests",
            "min-quality": f"the best quality reached is {max(t.quality for t in valid):.3f}",
        }[target.kind]
        raise ConfigError(f"no setting of λ meets {target}: {closest}")
    # the cheapest setting good enough (largest λ) or the best one within the limit
    # (smallest λ); then bisect towards its failing neighbour on the grid
    if target.kind == "min-quality":
        good = max(t.cost_weight for t in ok)
        bad = _next(good)
    else:
        good = min(t.cost_weight for t in ok)
        bad = _previous(good)
    if bad is not None:
        for _ in range(30):
            mid = float(np.sqrt(good * bad)) if min(good, bad) > 0 else max(good, bad) / 2
            t = _setting(replay, p, mid, j)
            if t.quality == t.quality and _meets(t, target):
                good = mid
            else:
                bad = mid
    return _setting(replay, p, good, j), sweep


def _previous(lam: float) -> float | None:
    i = int(np.searchsorted(LAMBDAS, lam))
    return float(LAMBDAS[i - 1]) if i > 0 else None


def _next(lam: float) -> float | None:
    i = int(np.searchsorted(LAMBDAS, lam))
    return float(LAMBDAS[i + 1]) if i + 1 < len(LAMBDAS) else None


@dataclass
class Calibrated:
    """λ calibrated to a target, with the setting it gives and the sweep it came from."""

    target: Target
    strong_models: list[str]
    setting: TradeOff
    sweep: list[TradeOff]
    measured_on: str
    named: bool = False  # the strong models were named (--strong), not found by price

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "strong_models": self.strong_models,
            "measured_on": self.measured_on,
            **self.setting.as_dict(),
        }

    def summary(self) -> str:
        s = self.setting
        strong = ", ".join(self.strong_models)
        capped = f"{s.strong_share:.1%} to the strong " + (
            f"models together ({strong})" if len(self.strong_models) > 1 else strong
        )
        text = (
            f"λ = {s.cost_weight:.4g} per USD meets {self.target} on {self.measured_on}: "
            f"quality {s.quality:.3f}, ${s.cost_per_1k:.4g} per 1,000 requests, {capped}"
        )
        if self.target.kind == "strong-share":
            text += f"\nthe share is capped for {strong}: " + (
                "the models named by --strong"
                if self.named
                else "every model at the data's top list price (--strong A,B to name others)"
            )
        return text + (
            f"\nserve it with SELECTOR_COST_WEIGHT={s.cost_weight:.6g} (a model trained with "
            "--target carries it)"
        )


def calibrate(
    data: RoutingData,
    p: np.ndarray,
    target: Target,
    strong: str | None = None,
    measured_on: str = "out-of-fold predictions",
    completion: np.ndarray | None = None,
) -> Calibrated:
    """:func:`calibrate_cost_weight` on ``data`` with ``p`` for all its requests × models
    (only the evaluated requests count) and the expected completion lengths, if any."""
    replay = Replay(data, completion)
    setting, sweep = calibrate_cost_weight(replay, p[replay.rows], target, strong)
    names = [replay.models[j] for j in strong_models(replay, strong)]
    return Calibrated(target, names, setting, sweep, measured_on, named=strong is not None)
