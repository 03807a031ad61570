"""What ``/readyz`` reports: whether decisions can be acknowledged, and every part of the
service served in a reduced form, each as ``{"part": ..., "reason": ...}``.

Parts: ``decision_log`` (cannot write: not ready), ``quality_model`` and
``challenger_quality_model`` (serving the prior), ``intent_classifier`` (intents are
'other' unless sent), ``online_learner`` (stopped, failing or lagging; failing for longer than
``SELECTOR_LEARNER_MAX_FAILING_S``: not ready),
``retention`` (the last run failed), ``replicas`` (live state not shared with the other
replicas of a PostgreSQL log).

``/v1/models`` reports each model's live figures (:func:`models_status`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selector.catalog import Catalog
    from selector.decisions import RecentChoices
    from selector.latency import LatencyTracker

__all__ = [
    "Health",
    "LearnerStatus",
    "Problem",
    "QualityStatus",
    "learner_problems",
    "learner_unready",
    "models_status",
]


@dataclass(frozen=True)
class Problem:
    """One part served in a reduced form, and why."""

    part: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"part": self.part, "reason": self.reason}


@dataclass(frozen=True)
class Health:
    """``ready``: decisions and feedback can be acknowledged (else ``reasons`` say why);
    ``degraded``: every part served in a reduced form."""

    ready: bool
    reasons: list[str]
    degraded: list[Problem]


@dataclass(frozen=True)
class QualityStatus:
    """Which P(resolved) model is served, and why (reported by /readyz)."""

    requested: str
    serving: str
    loaded: bool
    reason: str | None = None
    at: float = field(default_factory=time.time)
    unknown_models: tuple[str, ...] = ()  # enabled models it was not trained on

    def as_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "serving": self.serving,
            "loaded": self.loaded,
            "reason": self.reason,
            "loaded_at": self.at,
            "unknown_models": list(self.unknown_models),
        }

    def problems(self) -> list[Problem]:
        """What /readyz lists as degraded of the quality model."""
        if not self.loaded:
            why = f"{self.requested} not loaded, serving {self.serving}: {self.reason}"
            return [Problem("quality_model", why)]
        if self.unknown_models:
            names = ", ".join(self.unknown_models)
            why = f"{self.serving} was not trained on {names}: scored by their prices alone"
            return [Problem("quality_model", why)]
        return []


@dataclass(frozen=True)
class LearnerStatus:
    """How the online layer's learner is doing, for /readyz and /metrics."""

    running: bool  # its thread is alive (background mode)
    failure: str | None  # the last round's error, while it lasts
    lag_rows: int  # feedback rows committed and not read yet
    lag_s: float  # age of the oldest of them (0 when none)
    failing_s: float = 0.0  # how long its rounds have been failing (0: the last succeeded)
    state_age_s: float = 0.0  # seconds since it last read the log to its end


def learner_problems(st: LearnerStatus | None, max_lag_s: float) -> list[Problem]:
    """The learner's part of ``/readyz`` (none without an online layer): stopped,
    failing, or lagging more than ``max_lag_s`` behind the log."""
    if st is None:
        return []
    out = []
    if not st.running:
        out.append(
            Problem(
                "online_learner",
                "stopped: decisions use what it learned so far; restart the service",
            )
        )
    elif st.failure:
        out.append(
            Problem(
                "online_learner",
                f"failing for {st.failing_s:,.0f} s, retrying; decisions use its state of "
                f"{st.state_age_s:,.0f} s ago: {st.failure}",
            )
        )
    if st.lag_s > max_lag_s:
        out.append(
            Problem(
                "online_learner",
                f"lagging: {st.lag_rows:,} feedback events not learned yet, the oldest "
                f"{st.lag_s:,.0f} s old (SELECTOR_LEARNER_MAX_LAG_S={max_lag_s:g})",
            )
        )
    return out


def learner_unready(st: LearnerStatus | None, max_failing_s: float) -> str | None:
    """Why the service is not ready because of its learner: it has failed to read the
    log for longer than ``max_failing_s`` (its state is that old; None: ready)."""
    if st is None or not st.failure or st.failing_s <= max_failing_s:
        return None
    return (
        f"the online layer has not read the decision log for {st.failing_s:,.0f} s "
        f"(SELECTOR_LEARNER_MAX_FAILING_S={max_failing_s:g}): {st.failure}"
    )


def models_status(
    catalog: Catalog, tracker: LatencyTracker, recent: RecentChoices
) -> list[dict[str, Any]]:
    """Each catalog model, its live figures and circuit, and its recent share of
    decisions."""
    out = []
    for m in catalog:
        h = tracker.health(m.name)
        live = {
            "latency_p50_ms": h.p50_ms,
            "latency_p95_ms": h.p95_ms,
            "error_rate": h.error_rate,
            "samples": h.samples,
            "circuit": h.state_name,
        }
        out.append({**m.model_dump(), "live": live, "recent_share": round(recent.share(m.name), 4)})
    return out
