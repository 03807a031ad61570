"""The soak's figures: memory slope, plot and Markdown report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.soak.load import KNOWN, RATE, WINDOW_S


def slope_mb_per_hour(samples: list[dict[str, float]]) -> float:
    t = np.array([s["t"] for s in samples])
    y = np.array([s["rss_mb"] for s in samples])
    return float(np.polyfit(t, y, 1)[0] * 3600)


def plot(samples: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] / 60 for s in samples]
    fig, ax = plt.subplots(figsize=(8, 4))
    (rss,) = ax.plot(t, [s["rss_mb"] for s in samples], color="tab:blue", label="server RSS (MB)")
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS (MB)")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    (pending,) = ax2.plot(
        t,
        [s["waiting"] for s in samples],
        color="tab:orange",
        label="decisions waiting for an outcome (kept in the log)",
    )
    ax2.set_ylabel("decisions waiting for an outcome")
    ax2.set_ylim(bottom=0)
    ax.legend(handles=[rss, pending], loc="center right")
    ax.set_title(f"soak: {RATE:.0f} decisions/s, join window {WINDOW_S:.0f} s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(summary: dict[str, Any], warm: list[dict[str, float]]) -> str:
    """The soak's figures as a Markdown table, with the machine and the date."""
    from bench.common import machine

    codes = summary["codes"]
    first, last = summary["samples"][0], summary["samples"][-1]
    rows = [
        (
            "load (open loop)",
            f"{summary['sent']:,} decisions in {summary['seconds'] / 60:.0f} min "
            f"({summary['rate_per_s']:.0f}/s), {codes.get('feedback 202', 0):,} feedback "
            f"requests, join window {summary['join_window_s']:.0f} s",
        ),
        (
            "answers",
            f"route 200: {codes.get('route 200', 0):,}; feedback 202: "
            f"{codes.get('feedback 202', 0):,} ({codes.get('duplicate', 0):,} resent, "
            f"acknowledged as duplicates); malformed 422: {codes.get('bad 422', 0):,}; "
            "anything else: "
            f"{sum(v for k, v in codes.items() if k not in KNOWN)}",
        ),
        (
            "server memory (RSS)",
            f"{first['rss_mb']:.0f} MB at start, {warm[0]['rss_mb']:.0f} MB at "
            f"{warm[0]['t'] / 60:.0f} min, {last['rss_mb']:.0f} MB at the end; slope after "
            f"{warm[0]['t'] / 60:.0f} min: {summary['rss_slope_after_warm_up_mb_per_hour']} "
            "MB/hour",
        ),
        (
            "online layer",
            f"{summary['max_waiting']:,.0f} decisions waiting for their outcome at the end "
            "(their call results stay in the log: the learner holds nothing per decision); "
            f"{summary['updates']:,.0f} outcomes learned; at most "
            f"{summary['max_lag_events']:,.0f} feedback events not read yet at a sample",
        ),
        ("decision log", f"WAL file at most {summary['max_wal_mb']} MB"),
    ]
    lines = ["| soak | measured |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    stamp = time.strftime("%Y-%m-%d %H:%M")
    lines += [
        "",
        "![Server memory and decisions waiting for their outcome over the soak](img/soak.png)",
        "",
        f"_Measured with `make soak` on {machine()}, {stamp}._",
    ]
    return "\n".join(lines) + "\n"
