"""Plots of an evaluation, as PNG files: the routing curve (PGR against the share of
strong-model calls, or quality against cost), the calibration diagram before and after
calibration, and the quality model's feature importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.evaluate import Evaluation
from training.tradeoff import Calibrated

__all__ = ["plot_evaluation", "plot_tradeoff", "pyplot", "save"]


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _routing(plt: Any, ev: Evaluation, folder: Path) -> Path:
    """The router's cost–quality curve against the single models (many models), or its
    PGR curve (two)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if "singles" in ev.curves:
        router = ev.curves["router"]
        ax.plot(router["cost"], router["quality"], "-o", ms=2, label="quality model (λ sweep)")
        singles = ev.curves["singles"]
        ax.scatter(
            [c for _, c in singles.values()],
            [q for q, _ in singles.values()],
            s=12,
            c="grey",
            label="single models",
        )
        best = ev.summary.get("best_single_model")
        if best in singles:
            q, c = singles[best]
            ax.scatter([c], [q], s=40, c="red", label=f"best single: {best}")
        ax.set_xscale("symlog", linthresh=max(1e-6, min(c for _, c in singles.values()) or 1e-6))
        ax.set_xlabel("total cost (USD)")
        ax.set_ylabel("quality (share resolved)")
        ax.set_title(f"Cost–quality, {ev.source} ({ev.folds}-fold CV)")
        name = "cost_quality.png"
    else:
        for router, curve in ev.curves.items():
            ax.plot(curve["share"], curve["pgr"], label=router)
        ax.axhline(0.5, ls=":", c="grey")
        ax.set_xlabel("share of calls to the strong model")
        ax.set_ylabel("performance gap recovered")
        ax.set_title(f"PGR curve, {ev.source} ({ev.folds}-fold CV)")
        name = "pgr_curve.png"
    ax.legend(fontsize=7)
    return save(plt, fig, folder / name)


def _calibration(plt: Any, ev: Evaluation, folder: Path) -> Path:
    """The reliability diagram of the raw and the calibrated probabilities."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    for label in ("raw", "calibrated"):
        part = ev.calibration[label]
        xs = [d[0] for d in part["diagram"]]
        ys = [d[1] for d in part["diagram"]]
        ax.plot(
            xs, ys, "-o", ms=3, label=f"{label}: Brier {part['brier']:.3f}, ECE {part['ece']:.3f}"
        )
    ax.set_xlabel("predicted P(resolved)")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration (out-of-fold)")
    ax.legend(fontsize=7)
    return save(plt, fig, folder / "calibration.png")


def plot_evaluation(
    ev: Evaluation, folder: Path, importance: dict[str, float] | None = None
) -> list[Path]:
    """Write the plots of ``ev`` (and of ``importance``, gain by feature) into ``folder``."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    out = [_routing(plt, ev, folder)]
    if ev.calibration:
        out.append(_calibration(plt, ev, folder))
    if importance:
        ranked = sorted(importance.items(), key=lambda kv: kv[1])
        fig, ax = plt.subplots(figsize=(6, 0.22 * len(ranked) + 1))
        ax.barh([k for k, _ in ranked], [v for _, v in ranked])
        ax.set_xlabel("total gain")
        ax.set_title("Feature importance (boosted model)")
        out.append(save(plt, fig, folder / "feature_importance.png"))
    return out


def plot_tradeoff(cal: Calibrated, folder: Path) -> Path:
    """Quality and spend per 1,000 requests along the λ sweep, with the calibrated λ."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    pts = [t for t in cal.sweep if t.cost_weight > 0 and t.quality == t.quality]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot([t.cost_weight for t in pts], [t.quality for t in pts], "-", c="C0")
    ax.set_xscale("log")
    ax.set_xlabel("λ (utility per USD)")
    ax.set_ylabel("quality (share resolved)", color="C0")
    right = ax.twinx()
    right.plot([t.cost_weight for t in pts], [t.cost_per_1k for t in pts], "-", c="C1")
    right.set_ylabel("USD per 1,000 requests", color="C1")
    s = cal.setting
    if s.cost_weight > 0:
        ax.axvline(s.cost_weight, ls=":", c="grey")
    ax.set_title(
        f"λ = {s.cost_weight:.3g} for {cal.target}: quality {s.quality:.3f}, "
        f"${s.cost_per_1k:.3g}/1k, {s.strong_share:.0%} strong",
        fontsize=9,
    )
    return save(plt, fig, folder / "cost_weight.png")


def save(plt: Any, fig: Any, path: Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` (110 dpi), close it; the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
