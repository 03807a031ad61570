"""The online layer on Vowpal Wabbit: ``cb_explore_adf`` with SquareCB.

Each decision is one ADF example: a shared line with the intent group and one line per
eligible candidate with its model and offline utility, with shared × action
interactions (``-q sa``), so VW learns a cost per model, per model × group and the
weight of the utility. The cost of the chosen action is ``−reward``; VW's SquareCB
gives the distribution (its ``γ`` grows with the number of examples: ``gamma_scale ·
t^gamma_exponent``), mixed with the configured floor here, and the draw is ours so it
is seeded and logged like the other learner's.

VW's workspace is not safe for concurrent use: predictions and updates take a lock.
Its state is VW's own binary model (data, not code), base64 in the JSON state.
"""

from __future__ import annotations

import base64
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selector.online.bandit import BanditParams, Contexts, Update, sample

__all__ = ["VWBandit"]

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def _args(params: BanditParams) -> str:
    return (
        f"--cb_explore_adf --squarecb --gamma_scale {params.gamma:g} -q sa --random_seed 0 --quiet"
    )


class VWBandit:
    """A learner behind :class:`selector.online.bandit.OnlineModel` on VW's ``cb_explore_adf``."""

    contextual = False

    def __init__(self, params: BanditParams | None = None, initial: Path | None = None) -> None:
        from vowpalwabbit import Workspace

        self.params = params or BanditParams(learner="vw")
        args = _args(self.params) + (f" -i {initial}" if initial is not None else "")
        self._vw = Workspace(args)
        self._lock = threading.Lock()
        self.updates_ = 0

    @staticmethod
    def _lines(models: Sequence[str], group: str, utilities: Sequence[float]) -> list[str]:
        return [f"shared |s g={_SAFE.sub('_', group)}"] + [
            f"|a m={_SAFE.sub('_', m)} u:{u:.6f}" for m, u in zip(models, utilities, strict=True)
        ]

    def distribution(
        self,
        models: Sequence[str],
        group: str,
        utilities: Sequence[float],
        u: float,
        contexts: Contexts | None = None,
    ) -> tuple[list[float], list[float], int]:
        if len(models) == 1:
            return list(utilities), [1.0], 0
        with self._lock:
            pmf = self._vw.predict(self._lines(models, group, utilities))
        total = float(sum(pmf))
        floor, k = self.params.min_exploration, len(models)
        probs = [(1.0 - floor) * p / total + floor / k for p in pmf]
        return list(utilities), probs, sample(probs, u)

    def learn(self, update: Update) -> None:  # VW's cb labels carry no weight
        u = update
        lines = self._lines(u.models, u.group, u.utilities)
        lines[1 + u.chosen] = f"0:{-u.reward:.6f}:{u.propensity:.6f} {lines[1 + u.chosen]}"
        with self._lock:
            self._vw.learn(lines)
        self.updates_ += 1

    def state(self) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp, self._lock:
            path = Path(tmp) / "vw.model"
            self._vw.save(str(path))
            blob = base64.b64encode(path.read_bytes()).decode()
        return {"params": self.params.as_state(), "vw_model": blob, "updates": self.updates_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> VWBandit:
        try:
            params = BanditParams(**state["params"])
            blob = base64.b64decode(state["vw_model"])
            updates = int(state["updates"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a VW bandit state: {exc!r}") from exc
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "vw.model"
            path.write_bytes(blob)
            out = cls(params, initial=path)
        out.updates_ = updates
        return out
