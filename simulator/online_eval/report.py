"""The online layer's report: the targets met or missed (:func:`checks`), the Markdown
page and its plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.online_eval.measures import ONLINE, TARGETS
from training.plots import pyplot

__all__ = ["checks", "markdown", "plot"]


def checks(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, measured, goal, met) of the online layer."""
    c, r = results["cliff"][ONLINE], results["regression"][ONLINE]
    s, p, d = results["stationary"], results["propensities"], results["dr_coverage"]
    rows = [
        (
            "latency cliff: decisions until the share is within 5 points of its optimum",
            _n(c["decisions"], c["measurable"]),
            f"≤ {TARGETS['cliff_decisions']}",
            c["decisions"] is not None and c["decisions"] <= TARGETS["cliff_decisions"],
        ),
        (
            "quality regression: feedback events until the share is within 5 points",
            _n(r["feedback_events"], r["measurable"]),
            f"≤ {TARGETS['regression_feedback']:,}",
            r["feedback_events"] is not None
            and r["feedback_events"] <= TARGETS["regression_feedback"],
        ),
        (
            "stationary: exploration cost, share of the greedy offline policy's reward",
            f"{s['exploration_cost']:.2%}",
            f"≤ {TARGETS['exploration_cost']:.0%}",
            s["exploration_cost"] <= TARGETS["exploration_cost"],
        ),
        (
            f"propensities: χ² over {p['decisions']:,} decisions (p-value)",
            f"{p['p_value']:.3f}",
            "> 0.05",
            p["p_value"] > 0.05,
        ),
        *[
            (
                f"OPE: DR's 95 % interval covers the true value of the {name} policy, over "
                f"{d['replicates']} replicates",
                f"{t['coverage']:.0%}",
                f"≥ {TARGETS['dr_coverage']:.0%}",
                t["coverage"] >= TARGETS["dr_coverage"],
            )
            for name, t in d["targets"].items()
        ],
    ]
    return rows


def markdown(results: dict[str, Any], plots: list[Path]) -> str:
    lines = [
        "# The online layer in the simulator",
        "",
        "Every figure below comes from `selector measure-online` (seeded: a rerun gives the "
        "same numbers). The offline model is trained on the calm world's history; the online "
        "layer (`bandit-v2`) and the offline policy alone (`utility-v0`) then serve the same "
        "days. A share is the model's share over a sliding window of decisions; its optimum "
        "is the oracle's share on the same turns under the same load.",
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
        *[f"| {t} | {m} | {g} | {'yes' if ok else 'no'} |" for t, m, g, ok in checks(results)],
        "",
        "## Adaptation",
        "",
        "| experiment | policy | share before | optimum after | share after | decisions | "
        "feedback events | windows within 5 pts after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += _adaptation_rows(results)
    s = results["stationary"]
    p = results["propensities"]
    lines += [
        "",
        *_ope_section(results["dr_coverage"]),
        "## Stationary world",
        "",
        "| policy | reward / conversation | resolution rate |",
        "|---|---|---|",
        *[
            f"| {k} | {v:.4f} | {s['resolution_rate'][k]:.1%} |"
            for k, v in s["reward_per_conversation"].items()
        ],
        "",
        f"## Propensities (χ² = {p['chi2']:.2f}, {p['dof']} degrees of freedom, "
        f"p = {p['p_value']:.3f})",
        "",
        "| model | chosen | expected from the logged probabilities |",
        "|---|---|---|",
        *[f"| {m} | {o:,} | {p['expected'][m]:,.1f} |" for m, o in p["observed"].items()],
        "",
        "## Plots",
        "",
        *[f"![{q.stem}](plots/{q.name})\n" for q in plots],
        "Time taken: " + ", ".join(f"{k} {v:.1f} s" for k, v in results["timings_s"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def _adaptation_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for exp in ("cliff", "regression"):
        for policy, a in results[exp].items():
            rows.append(
                f"| {exp} ({a['model']}{', ' + a['group'] if a['group'] else ''}) | {policy} "
                f"| {_pct(a['share_before'])} | {_pct(a['optimum_after'])} "
                f"| {_pct(a['share_after'])} | {_n(a['decisions'], a['measurable'])} "
                f"| {_n(a['feedback_events'], a['measurable'])} "
                f"| {_pct(a['windows_within_after'])} |"
            )
    return rows


def _ope_section(d: dict[str, Any]) -> list[str]:
    return [
        f"## Off-policy evaluation ({d['replicates']} replicates of {d['decisions']:,} "
        f"decisions logged with SquareCB, γ = {d['logging']['gamma']:g}, floor "
        f"{d['logging']['floor']:g})",
        "",
        "| target policy | agrees with the log's greedy choice | true value | mean DR estimate "
        "| sd of estimates | mean interval width | mean ESS | coverage |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {t['agreement_with_logged_greedy']:.0%} | {t['true_value']:.4f} "
            f"| {t['mean_estimate']:.4f} | {t['sd_of_estimates']:.4f} "
            f"| {t['mean_interval_width']:.4f} | {t['mean_ess']:,.0f} | {t['coverage']:.0%} |"
            for name, t in d["targets"].items()
        ],
        "",
    ]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _n(v: int | None, measurable: bool = True) -> str:
    if not measurable:
        return "— (already within 5 points)"
    return "never" if v is None else f"{v:,}"


def plot(results: dict[str, Any], folder: Path) -> list[Path]:
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for exp, xkey, xlabel in (
        ("cliff", "index", "decisions since the change (dotted line)"),
        ("regression", "feedback", "feedback events since the change (dotted line)"),
    ):
        fig, ax = plt.subplots(figsize=(8, 3.8))
        first = next(iter(results[exp].values()))
        for policy, a in results[exp].items():
            x = a["curve"][xkey]
            ax.plot(x, a["curve"]["share"], lw=1.2, label=f"{policy}")
            ax.plot(x, a["curve"]["optimum"], lw=0.8, ls=":", label=f"optimum ({policy}'s turns)")
            if a["decisions"] is not None:
                hit = a["decisions"] if xkey == "index" else a["feedback_events"]
                ax.axvline(hit, color=ax.lines[-2].get_color(), ls="--", lw=0.8)
        limit = TARGETS["cliff_decisions" if exp == "cliff" else "regression_feedback"]
        ax.axvline(limit, color="k", lw=0.8, label=f"target ({limit:,})")
        scope = first["model"] + (f" on {first['group']}" if first["group"] else "")
        ax.set_title(f"{exp}: share of {scope} (window of {first['window']} decisions)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share")
        ax.set_ylim(-0.02, 1.02)
        ax.axvline(0, color="0.5", lw=0.8, ls=":")
        ax.set_xlim(min(min(a["curve"][xkey][:1] or [0]) for a in results[exp].values()), 3 * limit)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(folder / f"online_{exp}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
