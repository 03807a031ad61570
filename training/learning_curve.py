"""Learning curves: the quality model and both baselines as the training data shrinks.

Each point is a whole cross-validation on the same folds, each fold training on a
share (10 %, 25 %, 50 %, 100 %) of its training groups, drawn with the seed and kept
whole, and evaluated on all of its test requests, so every share is judged on the same
requests. ``selector evaluate --learning-curve`` prints the table and writes the plot;
a user with a few hundred outcomes reads off what the learned model is worth at their
size, against the two rows the field compares routers with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.quality import QualityTrainer
from training.baselines import BASELINES, PerModel
from training.data import RoutingData
from training.evaluate import Evaluation, OutOfFold, cross_validate, evaluate

__all__ = ["SHARES", "LearningCurve", "learning_curve", "plot_learning_curve"]

SHARES: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
QUALITY = "quality model"


@dataclass
class LearningCurve:
    """One row per share: its training requests (mean over folds), and each router's
    figure on ``metric`` (AIQ where the evaluation has it, else APGR)."""

    source: str
    metric: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        routers = [QUALITY, *BASELINES]
        head = ["share of training groups", "training requests", *routers]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [f"{r['share']:.0%}", f"{r['training_requests']:,.0f}"]
            cells += [f"{r[k]:.3f}" for k in routers]
            lines.append("| " + " | ".join(cells) + " |")
        names = "; ".join(label for label, _ in BASELINES.values())
        return f"learning curve, {self.metric} ({names}):\n" + "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "metric": self.metric, "rows": self.rows}


def _row(share: float, oof: OutOfFold, ev: Evaluation) -> tuple[str, dict[str, Any]]:
    metric = "AIQ" if "AIQ" in ev.summary else "APGR"
    row = {
        "share": share,
        "training_requests": sum(oof.trained) / max(1, len(oof.trained)),
        QUALITY: float(ev.summary[metric]),
        **{key: float(ev.summary[f"{metric}_{key}"]) for key in BASELINES},
        "ece": float(ev.calibration["calibrated"]["ece"]),
    }
    return metric, row


def learning_curve(
    data: RoutingData,
    make_model: Callable[[], QualityTrainer | PerModel],
    folds: int,
    seed: int = 0,
    strong: str | None = None,
    shares: Sequence[float] = SHARES,
    full: tuple[OutOfFold, Evaluation] | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> LearningCurve:
    """The curve over ``shares``; ``full``: the evaluation on all of the training data
    already made with the same folds and seed (share 1 is then not run again)."""
    curve: LearningCurve | None = None
    for share in sorted(shares):
        if share == 1.0 and full is not None:
            oof, ev = full
        else:
            progress(f"learning curve: {share:.0%} of the training groups")
            oof = cross_validate(
                data, make_model, folds, seed, progress, baselines=True, train_share=share
            )
            ev = evaluate(data, oof, folds, seed, strong)
        metric, row = _row(share, oof, ev)
        curve = curve or LearningCurve(data.source, metric)
        curve.rows.append(row)
    if curve is None:
        raise ValueError("no shares to draw a learning curve over")
    return curve


def plot_learning_curve(curve: LearningCurve, path: Path) -> Path:
    """The routers' figure against the training requests (log scale)."""
    from training.plots import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    x = [r["training_requests"] for r in curve.rows]
    for key, label in ((QUALITY, QUALITY), *((k, v[0]) for k, v in BASELINES.items())):
        ax.plot(x, [r[key] for r in curve.rows], "-o", ms=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training requests per fold")
    ax.set_ylabel(curve.metric)
    ax.set_title(f"Learning curve, {curve.source}")
    ax.legend(fontsize=7)
    return save(plt, fig, path)
