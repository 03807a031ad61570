"""Offline jobs: data sources (:mod:`training.data`), evaluation and metrics
(:mod:`training.evaluate`, :mod:`training.routing_metrics`), λ calibration
(:mod:`training.tradeoff`), training (:mod:`training.train`), experiment tracking and
registration (:mod:`training.tracking`), promotion (:mod:`training.promotion`),
off-policy evaluation on the decision log (:mod:`training.ope`,
:mod:`training.policy_eval`), the intent classifier's training (:mod:`training.intents`),
and their commands (:mod:`training.cli`).

Each name below is imported from its module when first used (``train`` and
``evaluate`` are modules here: their functions are ``training.train.train`` and
``training.evaluate.evaluate``)."""

from __future__ import annotations

from typing import Any

from core.lazy import load

_EXPORTS = {
    "RoutingData": "training.data",
    "cross_validate": "training.evaluate",
    "estimate_all": "training.ope",
    "evaluate_policy": "training.policy_eval",
    "load_logged": "training.logged_decisions",
    "load_source": "training.data",
    "promote": "training.promotion",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load(__name__, _EXPORTS, name)
