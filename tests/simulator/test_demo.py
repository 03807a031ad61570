"""`selector demo` end to end on a short day: history, training, MLflow, the service on
loopback, the replay of every policy and the report."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from models import registry
from selector.cli import cli
from simulator.demo import run_demo
from simulator.scenario import Scenario
from tests.simulator.conftest import needs_data, shrink

pytestmark = needs_data


def test_the_demo_trains_serves_replays_and_reports(
    incident: Scenario, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    result = run_demo(shrink(incident, 60, history=150), out, data_dir)

    assert [r.policy for r in result.results] == [
        "always-heavy",
        "static-rules",
        "oracle",
        "selector",
        "selector + online",
    ]
    # the model was registered, promoted, and served by the replayed service
    c = registry.client(result.tracking_uri, create=False)
    assert str(c.get_model_version_by_alias("model-selector-quality", "champion").version) == "1"
    with sqlite3.connect(out / "selector.db") as db:
        versions = {v for (v,) in db.execute("SELECT DISTINCT policy_version FROM decisions")}
        n = db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    assert versions == {"0.1+model-selector-quality/v1"}
    assert n == len(result.results[-2].turns)
    with sqlite3.connect(out / "online.db") as db:
        policies = {p for (p,) in db.execute("SELECT DISTINCT policy FROM decisions")}
        outcomes = db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
        overridden = db.execute(
            "SELECT COUNT(DISTINCT decision_id) FROM feedback WHERE override = 1"
        ).fetchone()[0]
    assert policies == {"bandit-v2"}
    # every outcome was learned from, but those of decisions a fallback served and those
    # of calls that failed or came late (the live estimates learn those)
    state = json.loads((out / "online.db.bandit.json").read_text())["state"]
    assert state["counts"].get("overridden", 0) == overridden
    transient = state["counts"].get("transient", 0)
    assert state["bandit"]["updates"] == outcomes - overridden - transient > 0
    # the report, its plots and the metrics
    text = result.report.read_text()
    for policy in ("always-heavy", "static-rules", "oracle", "selector", "selector + online"):
        assert f"| {policy} |" in text
    for plot in ("traffic_share", "p95_latency", "cost_per_conversation", "resolution_rate"):
        png = out / "plots" / f"{plot}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert f"(plots/{plot}.png)" in text
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["summary"]) == {
        "always-heavy",
        "static-rules",
        "oracle",
        "selector",
        "selector + online",
    }
    assert [len(saved["targets"][p]) for p in ("selector", "selector + online")] == [7, 7]
    assert saved["summary"]["oracle"]["reward_share_of_oracle"] == 1.0
    # the latency priors of the catalog the service used came from the history
    assert "median latency" in (out / "catalog.yaml").read_text()


def test_simulate_prints_the_day_and_writes_its_truth(tmp_path: Path, data_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--data", str(data_dir), "--out", str(tmp_path), "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "scenario incident" in result.output
    assert "| claude-opus-4.1 | large |" in result.output
    for name in ("traffic", "truth", "history"):
        assert (tmp_path / f"{name}.parquet").stat().st_size > 0


def test_a_bad_scenario_is_refused_with_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nday: {conversations: -1}\n")
    result = CliRunner().invoke(cli, ["demo", "--scenario", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "day.conversations" in result.output
