"""measure-worlds through the real service, small: every policy gets a share of the
oracle's reward in every world, and the report says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

pytestmark = [
    pytest.mark.integration,
    requires_shared_data("intents", "banking77_test.csv"),
    requires_shared_data("intents", "banking77_train.csv"),
    requires_shared_data("dialogues", "sgd_dialogues.csv.gz"),
]


def test_measure_worlds_replays_each_world_through_every_policy(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "selector",
            "measure-worlds",
            "--worlds",
            "2",
            "--conversations",
            "30",
            "--data",
            str(SHARED_DATA),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "worlds.json").read_text())
    assert [w["seed"] for w in result["worlds"]] == [0, 1]
    expected = {
        "uniform-random",
        "always-dearest",
        "always-cheapest",
        "static-rules",
        "oracle",
        "utility-v0",
        "bandit-v1",
        "bandit-v2",
    }
    for world in result["worlds"]:
        assert set(world["share_of_oracle"]) == expected
        assert world["share_of_oracle"]["oracle"] == 1.0
    assert set(result["summary"]["policies"]) == expected - {"oracle"}
    # world 0 has a latency incident: every policy's way through it is measured
    (incident,) = result["worlds"][0]["incidents"]
    assert set(incident["policies"]) == expected
    assert incident["end_s"] > incident["start_s"]
    assert set(incident["policies"]["bandit-v2"]) >= {"share_before", "leave", "back"}
    assert result["worlds"][1]["incidents"] == []
    assert "| bandit-v2 |" in done.stdout
    assert (tmp_path / "worlds.png").stat().st_size > 0
    assert (tmp_path / "world-0" / "catalog.yaml").is_file()


def test_a_warm_start_serves_a_model_trained_on_a_one_model_history(tmp_path: Path) -> None:
    from features.intents import IntentClassifier, IntentTaxonomy
    from selector.config import load_settings
    from selector.wiring import build_service
    from simulator.corpus import load_corpus
    from simulator.online_eval.worlds import measure_world

    taxonomy = IntentTaxonomy.from_classifier(IntentClassifier.load())
    corpus = load_corpus(SHARED_DATA, taxonomy, "test")
    past = load_corpus(SHARED_DATA, taxonomy, "train")
    found = measure_world(3, tmp_path, corpus, 30, ("bandit-v2",), past=past)
    assert found["start"] == "warm"
    assert set(found["share_of_oracle"]) >= {"bandit-v2", "oracle", "uniform-random"}
    history = pd.read_parquet(tmp_path / "world-3" / "history.parquet")
    catalog = yaml.safe_load((tmp_path / "world-3" / "catalog.yaml").read_text())
    assert set(history["model"]) == {catalog["models"][-1]["name"]}  # the dearest alone
    model = tmp_path / "world-3" / "warm" / "model"
    settings = load_settings(
        db_path=tmp_path / "check.db",
        catalog_path=tmp_path / "world-3" / "catalog.yaml",
        quality_model=str(model),
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/none.db",
    )
    assert build_service(settings).quality_status.loaded


def _incident(
    oracle: tuple[float, float], **policies: tuple[float, int | None, int | None]
) -> dict[str, Any]:
    def measured(before: float, leave: int | None, back: int | None) -> dict[str, Any]:
        return {"share_before": before, "measurable": before >= 0.2, "leave": leave, "back": back}

    from simulator.incidents import LEAVE_SHARE, USED_SHARE

    return {
        "worth_leaving": oracle[0] >= USED_SHARE and oracle[1] < LEAVE_SHARE,
        "policies": {p: measured(*v) for p, v in policies.items()},
    }


def test_the_incident_summary_counts_never_as_slower_than_any_figure() -> None:
    from simulator.incidents import incident_lines as _incident_lines
    from simulator.incidents import recovery_summary

    worlds = [
        {"incidents": [_incident((0.6, 0.0), a=(0.5, 40, 100), b=(0.5, None, None))]},
        {"incidents": [_incident((0.6, 0.05), a=(0.7, 60, None), b=(0.1, 5, 5))]},
        {"incidents": [_incident((0.6, 0.3), a=(0.9, 900, 900), b=(0.9, 900, 900))]},  # stayed
        {"incidents": [_incident((0.4, 0.0), a=(0.3, 80, 300), b=(0.6, 20, 30))]},
    ]
    found = recovery_summary(worlds)
    assert found["a"] == {
        "incidents": 3,
        "never_left": 0,
        "never_back": 1,
        "leave_median": 60.0,
        "leave_p90": 80.0,
        "back_median": 300.0,
        "back_p90": None,  # never
    }
    assert found["b"]["incidents"] == 2
    assert found["b"]["never_left"] == 1
    assert found["b"]["leave_median"] == 20.0
    assert found["b"]["leave_p90"] is None
    table = "\n".join(_incident_lines(found))
    assert "| a | 3 | 60 | 80 | 0 | 300 | never | 1 |" in table


def test_a_world_s_day_under_a_budget_is_set_beside_the_fixed_weights(tmp_path: Path) -> None:
    from features.intents import IntentClassifier, IntentTaxonomy
    from simulator.corpus import load_corpus
    from simulator.online_eval.budgets import GRID, budget_lines, budget_summary
    from simulator.online_eval.worlds import measure_world

    taxonomy = IntentTaxonomy.from_classifier(IntentClassifier.load())
    corpus = load_corpus(SHARED_DATA, taxonomy, "test")
    found = measure_world(1, tmp_path, corpus, 40, ("bandit-v2",), budgets=True)
    b = found["budget"]
    assert b is not None, "world 1's cheapest fixed weight spends far less than its demand"
    floor, demand = b["floor_usd"], b["demand_usd"]
    assert floor + 0.2 * (demand - floor) <= b["budget_usd"] <= floor + 0.8 * (demand - floor)
    assert b["spent_usd"] < b["demand_usd"]  # paced below what it spends unpaced
    assert [f["factor"] for f in b["fixed"]] == list(GRID)
    spends = [f["spent"] for f in b["fixed"]]
    assert spends[-1] < spends[0]  # a larger weight spends less
    if b["best_fixed"] is not None:
        assert b["best_fixed"]["spent"] <= 1.01 * b["budget_usd"]
        assert b["reward_ratio"] == pytest.approx(b["reward"] / b["best_fixed"]["reward"])
    lines = "\n".join(budget_lines(budget_summary([found])))
    assert "| overshoot at the day's end |" in lines


def test_a_world_s_day_with_the_prompt_cache_priced_and_ignored(tmp_path: Path) -> None:
    from features.intents import IntentClassifier, IntentTaxonomy
    from simulator.corpus import load_corpus
    from simulator.generated_worlds import generate
    from simulator.online_eval.caching import cache_lines, cache_summary, measure_cache
    from simulator.online_eval.worlds import measure_world

    def never(_overrides: object) -> None:
        raise AssertionError("a world without a cache has nothing to compare")

    assert measure_cache(generate(5).catalog, None, never) is None  # type: ignore[arg-type]
    taxonomy = IntentTaxonomy.from_classifier(IntentClassifier.load())
    corpus = load_corpus(SHARED_DATA, taxonomy, "test")
    found = measure_world(0, tmp_path, corpus, 60, ("bandit-v2",), cache=2)
    c = found["cache"]
    assert c is not None, "world 0's providers cache prompts"
    long = c["long"]
    assert 0 < long["conversations"] <= c["all"]["conversations"] == 60
    for run in ("priced", "ignored"):  # the provider bills the cache either way
        assert 0 < long[run]["cached_share"] < 1
        assert 0 <= long[run]["switches"] <= 1
    assert long["cost_cut"] == pytest.approx(1 - long["priced"]["cost"] / long["ignored"]["cost"])
    assert long["days"] == 2  # means of two days each way
    assert len(long["cost_cut_each_day"]) == 2
    assert long["reward_gain"] == pytest.approx(
        long["priced"]["reward"] - long["ignored"]["reward"]
    )
    assert c["priced_fresh_draws"]["ignored"] == long["ignored"]  # the same baseline day
    lines = "\n".join(cache_lines(cache_summary([found])))
    assert "| cost cut per conversation |" in lines


def _day(cost: float, reward: float) -> Any:
    """A day of one 6-turn conversation costing ``cost``, all turns on one model."""
    from simulator.replay import ReplayResult

    turns = pd.DataFrame(
        {
            "conversation": ["c"] * 6,
            "user_turn": range(6),
            "served": ["m"] * 6,
            "cached_tokens": [0] * 6,
            "prompt_tokens": [100] * 6,
        }
    )
    conv = pd.DataFrame(
        {"conversation": ["c"], "user_turns": [6], "cost_usd": [cost], "reward": [reward]}
    )
    return ReplayResult("bandit-v2", turns, conv)


def test_the_cache_figures_are_means_over_days_with_the_selector_s_seed_varied() -> None:
    from simulator.online_eval.caching import measure_cache

    catalog = [{"name": "m", "cached_input_usd_per_mtok": 0.1}]
    asked: list[dict[str, Any]] = []

    def run(overrides: dict[str, Any]) -> Any:
        asked.append(overrides)
        ignored = overrides.get("prompt_cache") is False
        seed = overrides.get("seed", 0)
        if ignored:
            return _day(1.0 if seed == 0 else 3.0, 0.5)
        return _day(0.5 if seed == 0 else 2.5, 0.7)  # a fresh-draw day or a priced one

    found = measure_cache(catalog, _day(0.5, 0.7), run, seeds=[11])
    assert found is not None
    long = found["long"]
    assert long["days"] == 2
    assert long["priced"]["cost"] == pytest.approx(1.5)  # (0.5 + 2.5) / 2
    assert long["ignored"]["cost"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert long["cost_cut"] == pytest.approx(0.25)
    assert long["cost_cut_each_day"] == pytest.approx([0.5, 1 - 2.5 / 3])
    assert long["reward_gain"] == pytest.approx(0.2)
    assert {o.get("seed") for o in asked} == {None, 11}
    assert sum(o.get("prompt_cache") is False for o in asked) == 2  # two ignored days
