"""The incident replay's plots: the share of turns each model served, and p95 latency,
cost and resolution rate by hour, with the traffic spikes shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.scenario import Scenario
from simulator.world import World
from training.plots import pyplot

__all__ = ["plot"]


def _shade(ax: Any, scenario: Scenario) -> None:
    for s in scenario.day.spikes:
        ax.axvspan(s.start_hour, s.end_hour, color="0.9", zorder=0)
        for edge in (s.start_hour, s.end_hour):  # visible over filled areas too
            ax.axvline(edge, color="0.3", ls="--", lw=0.8, zorder=3)


def plot(
    scenario: Scenario, world: World, series: dict[str, pd.DataFrame], folder: Path
) -> list[Path]:
    """The report's PNG plots."""
    folder.mkdir(parents=True, exist_ok=True)
    return [_shares(scenario, world, series, folder), *_hourly(scenario, series, folder)]


def _shares(
    scenario: Scenario, world: World, series: dict[str, pd.DataFrame], folder: Path
) -> Path:
    """The share of turns each model served, by hour, one panel per policy."""
    plt = pyplot()
    colors = {m: plt.get_cmap("tab10")(i) for i, m in enumerate([*world.models, "(none)"])}
    policies = list(series)
    fig, axes = plt.subplots(len(policies), 1, figsize=(9, 2.1 * len(policies)), sharex=True)
    for ax, name in zip(np.atleast_1d(axes), policies, strict=True):
        frame = series[name]
        cols = [c for c in frame.columns if c.startswith("share:")]
        models = [c.removeprefix("share:") for c in cols]
        ax.stackplot(
            frame.index + 0.5,
            *[frame[c].to_numpy() for c in cols],
            labels=models,
            colors=[colors[m] for m in models],
        )
        _shade(ax, scenario)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share")
        ax.set_title(name, fontsize=9, loc="left")
    handles = {m: plt.Rectangle((0, 0), 1, 1, color=colors[m]) for m in world.models}
    fig.legend(handles.values(), handles.keys(), loc="upper right", fontsize=7, ncols=2)
    np.atleast_1d(axes)[-1].set_xlabel("hour of the day (spike between dashed lines)")
    fig.suptitle("Share of turns served by each model")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path = folder / "traffic_share.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _hourly(scenario: Scenario, series: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """p95 latency, cost and resolution rate by hour, every policy on one plot each."""
    plt = pyplot()
    paths: list[Path] = []
    for column, title, ylabel, fname, log in (
        ("p95_latency_ms", "p95 latency of a turn, by hour", "ms", "p95_latency.png", True),
        (
            "cost_per_conversation_usd",
            "Cost per conversation, by the hour it began",
            "USD",
            "cost_per_conversation.png",
            False,
        ),
        (
            "resolution_rate",
            "Resolution rate, by the hour the conversation began",
            "resolved",
            "resolution_rate.png",
            False,
        ),
    ):
        fig, ax = plt.subplots(figsize=(8, 3.6))
        for name, frame in series.items():
            ax.plot(frame.index + 0.5, frame[column], "-o", ms=3, label=name)
        if column == "p95_latency_ms":
            ax.axhline(scenario.gateway.deadline_ms, color="k", ls=":", lw=1, label="deadline")
        _shade(ax, scenario)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("hour of the day (spike between dashed lines)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(folder / fname)
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
