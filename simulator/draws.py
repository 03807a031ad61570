"""Random draws of the world generator (:mod:`simulator.generated_worlds`): log-uniform numbers
and a day's mid-day events."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.scenario import GROUPS

__all__ = ["draw_events", "loguniform"]


def loguniform(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> Any:
    """Draws whose logarithm is uniform between ``lo``'s and ``hi``'s."""
    return np.exp(rng.uniform(math.log(lo), math.log(hi), size))


def draw_events(rng: np.random.Generator, names: list[str]) -> list[dict[str, Any]]:
    """A world's mid-day events over its models ``names`` (in price order): see
    :mod:`simulator.generated_worlds`."""
    events: list[dict[str, Any]] = []
    if rng.random() < 0.5:
        start = float(rng.uniform(6.0, 16.0))
        events.append(
            {
                "kind": "latency",
                "model": str(rng.choice(names)),
                "start_hour": round(start, 2),
                "end_hour": round(min(24.0, start + float(rng.uniform(1.0, 6.0))), 2),
                "multiplier": round(float(rng.uniform(3.0, 10.0)), 2),
            }
        )
    if rng.random() < 0.5:
        events.append(
            {
                "kind": "quality",
                "model": str(rng.choice(names)),
                "start_hour": round(float(rng.uniform(6.0, 18.0)), 2),
                "delta": -round(float(rng.uniform(0.05, 0.3)), 3),
                "group": str(rng.choice(GROUPS)),
            }
        )
    events.extend(_deployment_events(rng, names))
    return events


def _deployment_events(rng: np.random.Generator, names: list[str]) -> list[dict[str, Any]]:
    """A price change (a third of the worlds), a model the gateway deploys mid-day and
    one it retires (a quarter each); the cheapest model stays deployed all day."""
    events: list[dict[str, Any]] = []
    if rng.random() < 1 / 3:
        events.append(
            {
                "kind": "price",
                "model": str(rng.choice(names)),
                "start_hour": round(float(rng.uniform(4.0, 16.0)), 2),
                "multiplier": round(float(loguniform(rng, 0.25, 4.0)), 3),
            }
        )
    movable = list(rng.permutation(names[1:])) if len(names) > 2 else []
    for kind in ("added", "removed"):
        if movable and rng.random() < 0.25:
            events.append(
                {
                    "kind": kind,
                    "model": str(movable.pop()),
                    "start_hour": round(float(rng.uniform(6.0, 16.0)), 2),
                }
            )
    return events
