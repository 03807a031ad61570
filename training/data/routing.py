"""What every training source becomes: :class:`RoutingData` (see :mod:`training.data`),
and the helpers the loaders share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.paths import default_data_dir

__all__ = [
    "DEFAULT_DATA_DIR",
    "HOLDOUT_SHARE",
    "MAX_IPS_WEIGHT",
    "ROUTELLM_MODELS",
    "STRONG",
    "WEAK",
    "RoutingData",
    "as_flag",
    "hash_files",
    "require",
    "unit_hash",
]

DEFAULT_DATA_DIR = default_data_dir()  # SELECTOR_DATA_DIR, else ../shared/data (core.paths)
HOLDOUT_SHARE = 0.2  # of requests kept out of every registered model, to compare them
MAX_IPS_WEIGHT = 50.0  # cap of 1 / propensity: a propensity under 2 % counts as 2 %

# RouteLLM's two models, with the list prices its paper uses for cost (USD / Mtok).
ROUTELLM_MODELS = pd.DataFrame(
    {
        "model": ["mixtral-8x7b-instruct", "gpt-4-1106-preview"],
        "input_usd_per_mtok": [0.24, 10.0],
        "output_usd_per_mtok": [0.24, 30.0],
    }
)
WEAK, STRONG = "mixtral-8x7b-instruct", "gpt-4-1106-preview"


@dataclass
class RoutingData:
    requests: pd.DataFrame
    outcomes: pd.DataFrame
    models: pd.DataFrame
    source: str
    content_hash: str
    offers: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def matrix(self, column: str = "resolved") -> pd.DataFrame:
        """``column`` as a requests × models table (NaN where a model was not tried, and
        everywhere when the data has no such column)."""
        if column not in self.outcomes:
            return pd.DataFrame(
                np.nan, index=self.requests["request_id"], columns=self.models["model"]
            )
        table = self.outcomes.pivot(index="request_id", columns="model", values=column)
        return table.reindex(index=self.requests["request_id"], columns=self.models["model"])

    def subset(self, mask: np.ndarray) -> RoutingData:
        """The requests where ``mask`` is True, with their outcomes."""
        requests = self.requests[mask].reset_index(drop=True)
        ids = set(requests["request_id"])
        outcomes = self.outcomes[self.outcomes["request_id"].isin(ids)]
        offers = None
        if self.offers is not None:
            offers = self.offers[self.offers["request_id"].isin(ids)].reset_index(drop=True)
        return RoutingData(
            requests,
            outcomes.reset_index(drop=True),
            self.models,
            self.source,
            self.content_hash,
            offers,
            list(self.notes),
        )

    def holdout_mask(self, share: float = HOLDOUT_SHARE) -> np.ndarray:
        """True for the requests of the promotion hold-out: a fixed function of each
        request id, so no model trained by ``selector train`` on this source ever sees them
        and every model can be compared on them."""
        return np.array([unit_hash(str(r)) < share for r in self.groups()])

    def groups(self) -> pd.Series:
        """Each request's group (the table's ``group``, else its ``conversation_id``), kept
        whole in one fold and on one side of the hold-out; else the request itself."""
        if "group" in self.requests:
            return self.requests["group"].astype(str)
        return self.requests["request_id"].astype(str)

    def folds(self, n: int, seed: int) -> list[np.ndarray]:
        """The requests of each of ``n`` cross-validation folds: whole groups, drawn by
        ``seed`` (requests shuffled alike when the data has no groups)."""
        from sklearn.model_selection import KFold

        if "group" not in self.requests:
            split = KFold(n, shuffle=True, random_state=seed).split(self.requests)
            return [te for _, te in split]
        names, group = np.unique(self.groups().to_numpy(), return_inverse=True)
        if len(names) < n:
            raise ConfigError(
                f"{self.source}: {len(names)} groups cannot fill {n} folds: use fewer folds"
            )
        fold = np.random.default_rng(seed).permutation(len(names)) % n
        return [np.flatnonzero(fold[group] == i) for i in range(n)]

    @property
    def full_information(self) -> bool:
        """True when every model was tried on every request (benchmarks, not logs)."""
        return len(self.outcomes) == len(self.requests) * len(self.models)

    @property
    def logged(self) -> bool:
        """True for decisions logged with their propensities (one outcome a request)."""
        return self.offers is not None and "propensity" in self.outcomes

    def offered(self, column: str = "expected_cost_usd") -> pd.DataFrame:
        """``column`` of the logged offers as a requests × models table (NaN where a
        model was not a candidate)."""
        if self.offers is None:
            raise ValueError(f"{self.source} has no logged candidates")
        table = self.offers.pivot(index="request_id", columns="model", values=column)
        return table.reindex(index=self.requests["request_id"], columns=self.models["model"])


def unit_hash(key: str) -> float:
    """A stable number in [0, 1) from ``key``.

    >>> unit_hash("q-17") == unit_hash("q-17") and 0 <= unit_hash("q-17") < 1
    True
    """
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hash_files(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def require(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: pass --data with the folder that holds it")
    return path


def as_flag(value: object) -> float:
    """1.0 / 0.0 for 1, 0, true, false (any case, as number or text); NaN otherwise."""
    text = str(value).strip().lower()
    return {"1": 1.0, "1.0": 1.0, "true": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0}.get(text, np.nan)
