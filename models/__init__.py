"""The offline models: the P(resolved) prior (:mod:`models.prior`), the quality model
(:mod:`models.quality`) and the MLflow registry (:mod:`models.registry`). The online
layer's learners are part of the online layer (:mod:`selector.online`).

Each name below is imported from its module when first used."""

from __future__ import annotations

from typing import Any

from core.lazy import load

_EXPORTS = {
    "PriorQualityModel": "models.prior",
    "QualityTrainer": "models.quality",
    "QualityPredictor": "models.quality",
    "load_prior": "models.prior",
    "resolve": "models.registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load(__name__, _EXPORTS, name)
