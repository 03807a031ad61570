"""One model's live window: its recent call results, kept with their latencies sorted and
its errors counted as samples come and go (so a result costs a binary search, not a sort
of the window), the figures decisions read, and its circuit's state.
:class:`selector.latency.LatencyTracker` keeps one per model."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

from features.estimates import LatencyEstimate, LogLatency

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "STATE_NAMES",
    "ModelHealth",
    "ModelWindow",
    "drop_oldest",
    "percentile",
]

CLOSED, HALF_OPEN, OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", HALF_OPEN: "half_open", OPEN: "open"}


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """What the decision path reads about one model."""

    p50_ms: float | None
    p95_ms: float | None
    error_rate: float
    samples: int
    state: int
    probing: bool = False
    # what decisions read (:mod:`features.estimates`): the prior shrunk toward the calls
    # seen, or the window's figures once it holds ``min_samples`` calls
    estimate: LatencyEstimate | None = None

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]


@dataclass
class ModelWindow:
    slo_ms: float
    name: str = ""
    latency: LogLatency | None = None  # None: no prior given
    samples: deque[tuple[float, float | None, bool]] = field(default_factory=deque)
    # the window's latencies kept sorted and its errors counted as samples come and go,
    # so a result costs a binary search, not a sort of the window
    sorted_ms: list[float] = field(default_factory=list)
    errors: int = 0
    health: ModelHealth = ModelHealth(None, None, 0.0, 0, CLOSED)
    computed_at: float = float("-inf")
    state: int = CLOSED
    opened_at: float = 0.0
    probe_sent_at: float | None = None
    lease_wanted: bool = False  # shared probes: waiting for the probe's lease
    lease_held: bool = False  # shared probes: this replica holds it


def drop_oldest(m: ModelWindow) -> None:
    _, latency_ms, error = m.samples.popleft()
    if latency_ms is not None:
        del m.sorted_ms[bisect.bisect_left(m.sorted_ms, latency_ms)]
    m.errors -= error


def percentile(ordered: list[float], q: float) -> float | None:
    """The ``q``-th percentile of sorted values, interpolated as NumPy's default does.

    >>> percentile([10.0, 20.0, 30.0, 40.0], 50)
    25.0
    >>> percentile([10.0, 20.0, 30.0, 40.0], 95)
    38.5
    >>> percentile([], 50) is None
    True
    """
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
