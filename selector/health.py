"""What ``/readyz`` reports: whether decisions can be acknowledged, and every part of the
service served in a reduced form, each as ``{"part": ..., "reason": ...}``.

Parts: ``decision_log`` (cannot write: not ready), ``quality_model`` and
``challenger_quality_model`` (serving the prior), ``intent_classifier`` (intents are
'other' unless sent), ``online_learner`` (stopped, failing or lagging),
``retention`` (the last run failed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Health", "Problem", "QualityStatus"]


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "serving": self.serving,
            "loaded": self.loaded,
            "reason": self.reason,
            "loaded_at": self.at,
        }
