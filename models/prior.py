"""The P(resolved) prior: a table by model tier × intent group × conversation length,
moved by how hard the request's text is.

It is the quality model of the ``utility-v0`` policy, used until an offline model
trained on real outcomes is available. Loaded from YAML (``models/prior.yaml`` by
default), validated, and turned into a lookup table at start-up.

The request difficulty (:mod:`features.difficulty`, learned from public outcome
tables and centred on ordinary support messages) moves every candidate's P(resolved)
on the log-odds scale: ``logit p − difficulty_weight × difficulty``. A harder text
lowers every model's chance, most where it is middling, so the gap between a small
and a large model widens on hard requests before any outcome of the user's arrives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError
from features.difficulty import Difficulty
from features.extractor import C, FeatureVector, R
from features.schema import TIER_CODES

__all__ = ["DEFAULT_PRIOR_PATH", "PriorQualityModel", "PriorTable", "load_prior"]

DEFAULT_PRIOR_PATH = Path(str(resources.files("models") / "prior.yaml"))
Probability = float
Delta = Annotated[float, Field(ge=-1.0, le=1.0)]  # a change of probability


class PriorTable(BaseModel):
    """The prior as written in YAML."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    length_buckets: list[int] = Field(min_length=2, max_length=2)
    p_resolved: dict[str, dict[str, list[float]]]
    escalation_delta: dict[str, Delta] = Field(default_factory=dict)
    model_delta: dict[str, Delta] = Field(default_factory=dict)
    # log-odds of P(resolved) taken off per unit of the request's difficulty (0: off)
    difficulty_weight: float = Field(default=0.0, ge=0.0, le=3.0)

    @model_validator(mode="after")
    def _check(self) -> PriorTable:
        lo, hi = self.length_buckets
        if not 0 <= lo < hi:
            raise ValueError("length_buckets: need 0 <= short < medium, e.g. [4, 12]")
        if "other" not in self.p_resolved:
            raise ValueError("p_resolved: a row for the intent group 'other' is required")
        for group, tiers in self.p_resolved.items():
            for tier in TIER_CODES:
                row = tiers.get(tier)
                if row is None:
                    raise ValueError(
                        f"p_resolved.{group}.{tier}: missing; give [short, medium, long]"
                    )
                if len(row) != 3 or not all(0.0 <= p <= 1.0 for p in row):
                    raise ValueError(
                        f"p_resolved.{group}.{tier}: need three probabilities in [0, 1]"
                    )
            extra = set(tiers) - set(TIER_CODES)
            if extra:
                raise ValueError(f"p_resolved.{group}: unknown tier(s) {sorted(extra)}")
        return self


def load_prior(path: Path | None = None) -> PriorTable:
    """Read and validate a prior file; mistakes are ConfigErrors naming the field."""
    path = path or DEFAULT_PRIOR_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return PriorTable.model_validate(raw)
    except FileNotFoundError as exc:
        raise ConfigError(f"prior file {path} does not exist; fix SELECTOR_PRIOR_PATH") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"prior file {path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        msgs = [f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"prior file {path}: " + "; ".join(msgs)) from exc


class PriorQualityModel:
    """P(resolved | tier, intent group, length, escalation[, model]) from a :class:`PriorTable`."""

    name = "prior"

    def __init__(
        self,
        table: PriorTable,
        group_names: Sequence[str],
        model_names: Sequence[str],
        difficulty: Difficulty | None = None,
    ):
        self.table = table
        # the request difficulty, when the table weighs it
        self.difficulty = difficulty if table.difficulty_weight > 0.0 else None
        tiers = sorted(TIER_CODES, key=TIER_CODES.__getitem__)
        # lookup[group_id][tier_code] -> (short, medium, long)
        other = table.p_resolved["other"]
        self._lookup = [
            [tuple(table.p_resolved.get(g, other)[t]) for t in tiers] for g in group_names
        ]
        self._esc = [table.escalation_delta.get(t, 0.0) for t in tiers]
        self._model_delta = {m: table.model_delta.get(m, 0.0) for m in model_names}
        self._short, self._medium = table.length_buckets

    def predict(self, fv: FeatureVector) -> list[Probability]:
        """P(resolved) for each candidate of ``fv``."""
        req = fv.request
        turns = req[_TURNS]
        bucket = 0 if turns <= self._short else 1 if turns <= self._medium else 2
        by_tier = self._lookup[int(req[_GROUP])]
        escalated = req[_ESC] > 0
        shift = 0.0
        if self.difficulty is not None and fv.text:
            shift = self.table.difficulty_weight * self.difficulty.of_text(fv.text)
        out = []
        for name, row in zip(fv.candidates, fv.candidate_rows, strict=True):
            tier = int(row[_TIER])
            p = by_tier[tier][bucket] + self._model_delta.get(name, 0.0)
            if escalated:
                p += self._esc[tier]
            p = min(1.0, max(0.0, p))
            if shift and 0.0 < p < 1.0:
                p = 1.0 / (1.0 + math.exp(shift - math.log(p / (1.0 - p))))
            out.append(p)
        return out


_TURNS, _GROUP, _ESC = R["turns"], R["intent_group_id"], R["escalation"]
_TIER = C["tier"]
