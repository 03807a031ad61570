"""Measuring the online layer: the statistics on known inputs, and the command end to end
on short days."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selector.store import DecisionRecord, LoggedRequest, SQLiteLog
from simulator.online_eval import adaptation, measure_online, propensity_test
from simulator.online_eval.measures import OFFLINE, ONLINE
from simulator.scenario import load_scenario
from tests.simulator.conftest import needs_data, shrink

MODELS = ["a", "b", "c"]


def write_log(path: Path, logged: list[float], drawn: list[float], n: int = 3_000) -> Path:
    """``n`` decisions logging the probabilities ``logged`` but choosing by ``drawn``."""
    rng = np.random.default_rng(0)
    log = SQLiteLog(path)
    log.start()
    try:
        futures = []
        for i in range(n):
            # vary the logged distribution a little, as a policy's would
            p = np.asarray(logged) * rng.uniform(0.8, 1.2, 3)
            p /= p.sum()
            q = np.asarray(drawn) if drawn != logged else p
            chosen = MODELS[int(rng.choice(3, p=q))]
            futures.append(
                log.submit_decision(
                    DecisionRecord(
                        f"{i:024d}",
                        float(i),
                        "c",
                        ONLINE,
                        "1",
                        chosen,
                        0.5,
                        [],
                        [],
                        LoggedRequest(),
                        {},
                        [
                            {"model": m, "probability": float(x)}
                            for m, x in zip(MODELS, p, strict=True)
                        ],
                        None,
                    )
                )
            )
        for f in futures:
            f.result(timeout=10)
    finally:
        log.close()
    return path


def test_choices_drawn_from_the_logged_probabilities_pass(tmp_path: Path) -> None:
    found = propensity_test(write_log(tmp_path / "ok.db", [0.7, 0.2, 0.1], [0.7, 0.2, 0.1]))
    assert found["decisions"] == 3_000
    assert found["dof"] == 2
    assert found["p_value"] > 0.01


def test_choices_drawn_otherwise_fail(tmp_path: Path) -> None:
    found = propensity_test(write_log(tmp_path / "bad.db", [0.7, 0.2, 0.1], [0.74, 0.18, 0.08]))
    assert found["p_value"] < 1e-3


def test_adaptation_is_counted_in_feedback_events_on_the_group() -> None:
    rows = []
    for i in range(400):
        group = "pay" if i % 2 else "other"
        chosen = "m" if (group == "pay" and i < 260) else "x"
        rows.append((float(i), group, chosen, "x"))
    frame = pd.DataFrame(rows, columns=["t", "group", "chosen", "optimum"])
    feedback = [float(i) + 0.5 for i in range(400)] * 2  # two events per turn
    a = adaptation(frame, "m", 200.0, 400.0, window=10, group="pay", feedback_t=feedback)
    # the last "m" on pay is turn 259; a window of 10 pay turns clean of it ends at 279
    assert a["decisions"] == 80
    assert a["feedback_events"] == 2 * 79
    assert a["share_before"] == 1.0
    assert a["windows_within_after"] == 1.0


@pytest.mark.slow  # three simulated days, each through two policies
@needs_data
def test_measure_online_runs_every_experiment_and_reports(tmp_path: Path, data_dir: Path) -> None:
    scenarios = {
        n: shrink(load_scenario(n), 90, history=150) for n in ("calm", "cliff", "regression")
    }
    out = tmp_path / "online"
    report = measure_online(
        out,
        data_dir,
        scenarios=scenarios,
        cliff_window=10,
        regression_window=5,
        dr_replicates=4,
        dr_decisions=600,
        # a short day has few outcomes: an online layer that forgets sooner
        settings={"bandit_memory": 50.0},
    )
    saved = json.loads((out / "online.json").read_text())
    assert set(saved) >= {"cliff", "regression", "stationary", "propensities", "dr_coverage"}
    assert set(saved["dr_coverage"]["targets"]) == {"greedy", "other model"}
    text = report.report.read_text()
    assert "## Targets" in text
    for plot in ("online_cliff", "online_regression"):
        assert (out / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    # each change hit the model the online layer used most in the last window before it
    # on the calm day
    calm = next(r for r in report.runs if r.scenario == "calm" and r.policy == ONLINE)
    choices = calm.watched.frame()
    for exp, group, window in (("cliff", None, 10), ("regression", "payments", 5)):
        event = scenarios[exp].events[0]
        before = choices[choices["t"] < event.start_hour * 3600]
        if group:
            before = before[before["group"] == group]
        top = before["chosen"].tail(window).value_counts().index[0]
        assert saved[exp][ONLINE]["model"] == top
        for a in saved[exp].values():
            # a figure only where the change moved the optimum away from the share, and
            # at that point the share is within the tolerance of the optimum
            gap = abs(a["share_before"] - a["optimum_after"])
            assert a["measurable"] == (gap > a["tolerance"])
            if a["decisions"] is not None:
                at = a["curve"]["index"].index(a["decisions"])
                assert abs(a["curve"]["share"][at] - a["curve"]["optimum"][at]) <= 0.05 + 1e-9
    s = saved["stationary"]
    assert s["exploration_cost"] == pytest.approx(
        1 - s["reward_per_conversation"][ONLINE] / s["reward_per_conversation"][OFFLINE]
    )
    assert saved["propensities"]["decisions"] == len(calm.result.turns)
    assert 0.0 <= saved["propensities"]["p_value"] <= 1.0
