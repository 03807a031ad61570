"""λ calibrated to a strong-call share, a budget or a minimum quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError
from tests.generated_routing import generated
from training.counterfactual import Replay
from training.data import RoutingData
from training.tradeoff import Target, calibrate


def truth(data_seed: int = 0) -> tuple[RoutingData, np.ndarray]:
    data = generated(800, data_seed)
    hard = ~data.requests["text"].str.startswith("what").to_numpy()
    p = np.column_stack([np.where(hard, 0.2, 0.97), np.where(hard, 0.85, 0.95)])
    return data, p


def test_a_strong_share_target_is_met_as_closely_as_the_data_allows() -> None:
    data, p = truth()
    hard_share = float((p[:, 0] < 0.5).mean())
    cal = calibrate(data, p, Target.parse("strong-share=0.6"))
    assert cal.strong_models == ["strong"]
    # every hard request (about half) goes to the strong model, no easy one does
    assert cal.setting.strong_share == pytest.approx(hard_share)
    assert cal.setting.cost_weight == 0  # cheap is also better on easy requests: λ = 0 does
    tight = calibrate(data, p, Target.parse("strong-share=0.2"))
    assert tight.setting.strong_share <= 0.2
    assert tight.setting.cost_weight > cal.setting.cost_weight
    assert tight.setting.quality < cal.setting.quality


def with_a_twin(data: RoutingData) -> RoutingData:
    """``data`` with a second model at the strong one's price, resolving as it does."""
    import pandas as pd

    twin = data.outcomes[data.outcomes["model"] == "strong"].assign(model="twin")
    models = pd.concat([data.models, data.models.iloc[[1]].assign(model="twin")])
    return RoutingData(
        data.requests,
        pd.concat([data.outcomes, twin], ignore_index=True),
        models.reset_index(drop=True),
        "generated with a twin",
        "x",
    )


def test_every_model_at_the_top_price_is_capped_together() -> None:
    data, p = truth()
    data = with_a_twin(data)
    p = np.column_stack([p, p[:, 1] + 0.001])  # the twin looks a little better
    cal = calibrate(data, p, Target.parse("strong-share=0.3"))
    assert cal.strong_models == ["strong", "twin"]
    replay = Replay(data)
    choice = replay.choose(p[replay.rows], cal.setting.cost_weight)
    assert np.isin(choice, [1, 2]).mean() <= 0.3  # both together, not one of them
    assert cal.setting.strong_share == pytest.approx(np.isin(choice, [1, 2]).mean())
    said = cal.summary()
    assert "strong models together (strong, twin)" in said
    assert "every model at the data's top list price" in said
    named = calibrate(data, p, Target.parse("strong-share=0.3"), strong="twin")
    assert named.strong_models == ["twin"]
    assert "named by --strong" in named.summary()


def test_a_share_of_models_all_at_one_price_asks_for_the_strong_ones() -> None:
    data, p = truth()
    data.models["input_usd_per_mtok"] = 1.0
    data.models["output_usd_per_mtok"] = 2.0
    with pytest.raises(ConfigError, match="--strong"):
        calibrate(data, p, Target.parse("strong-share=0.3"))
    assert calibrate(data, p, Target.parse("strong-share=0.6"), strong="strong").strong_models


def test_budget_and_minimum_quality_targets() -> None:
    data, p = truth()
    replay = Replay(data)
    all_strong = float(replay.costs[:, 1].sum()) / replay.n * 1000
    budget = calibrate(data, p, Target.parse(f"budget={all_strong * 0.6}"))
    assert budget.setting.cost_per_1k <= all_strong * 0.6
    floor = calibrate(data, p, Target.parse("min-quality=0.85"))
    assert floor.setting.quality >= 0.85
    # the cheapest way to 0.85 is cheaper than the best quality within the looser budget
    assert floor.setting.cost_per_1k <= budget.setting.cost_per_1k
    assert len(floor.sweep) > 100
    assert "SELECTOR_COST_WEIGHT=" in floor.summary()


def test_unreachable_targets_say_what_is_reachable() -> None:
    data, p = truth()
    with pytest.raises(ConfigError, match=r"best quality reached is 0\.9"):
        calibrate(data, p, Target.parse("min-quality=0.999"))
    with pytest.raises(ConfigError, match="cheapest setting costs"):
        calibrate(data, p, Target.parse("budget=0.0001"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("share=0.3", "kind one of strong-share"),
        ("budget", "kind=value"),
        ("strong-share=abc", "is not a number"),
        ("min-quality=1.5", "between 0 and 1"),
        ("budget=-1", "≥ 0"),
    ],
)
def test_bad_targets_name_the_fix(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Target.parse(text)


def test_evaluate_reports_the_calibrated_lambda(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from selector.cli import cli
    from tests.training.test_train import write_table

    table = write_table(tmp_path)
    out = tmp_path / "metrics.json"
    args = ["evaluate", "--source", str(table), "--folds", "2", "--no-track", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--target", "min-quality=0.8"])
    assert result.exit_code == 0, result.output
    found = json.loads(out.read_text())["cost_weight"]
    assert found["target"] == "min-quality=0.8"
    assert found["quality"] >= 0.8
    assert f"SELECTOR_COST_WEIGHT={found['cost_weight']:.6g}" in result.output
    bad = CliRunner().invoke(cli, [*args, "--target", "min-quality=2"])
    assert bad.exit_code != 0
    assert "between 0 and 1" in bad.output


def test_evaluate_of_a_users_two_models_prints_each_meaning_in_its_column(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from selector.cli import cli
    from tests.user_tables import write_user_table

    table = write_user_table(tmp_path, "two", n=300)
    out = tmp_path / "metrics.json"
    args = ["evaluate", "--source", str(table), "--folds", "2", "--no-track", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    said = result.stdout
    assert "300 requests, 2 models" in said  # the counts, on standard output
    assert "| router | AIQ | cost at parity | quality | relative cost |" in said
    assert "— : the column does not apply" in said  # the empty cells, explained
    assert "| router | APGR | CPT(50%) | CPT(80%) |" in said
    pair = json.loads(out.read_text())["two_model_rows"]
    routers = [r["router"] for r in pair]
    assert routers[0].startswith("quality model")
    assert routers[1].startswith("naive")
    assert {"random", "prompt length", "per-request oracle"} <= set(routers)
    assert all(r["APGR"] is not None for r in pair)  # APGR and CPT for every row
    assert "the second table gives each router's APGR" in said
