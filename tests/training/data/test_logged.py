"""Training and evaluating from the service's own decision log (one outcome a decision,
weighted by its logged propensity), on a log written by the real service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from features.extractor import Conversation
from models.quality import QualityPredictor, QualityTrainer
from selector.cli import cli
from selector.config import load_settings
from selector.decisions import RouteInput
from selector.export import export_log
from selector.wiring import build_service
from tests.builders import LARGE, SMALL, TRUTH, write_outcome_log
from training.counterfactual import Replay
from training.data import MAX_IPS_WEIGHT, load_source
from training.evaluate import cross_validate, evaluate

N = 900


def write_log(folder: Path, seed: int = 7) -> tuple[Path, dict[str, str]]:
    """Decisions of the real service with 50 % exploration, outcomes drawn from TRUTH;
    the last 20 decisions get no outcome and one is overridden by the gateway."""
    settings, kinds = write_outcome_log(
        folder, N, seed, unanswered=20, override_first=True, exploration=0.5
    )
    return settings.store.db_path, kinds


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return write_log(tmp_path_factory.mktemp("log"))


def test_a_decision_log_loads_one_weighted_outcome_per_decision(
    log: tuple[Path, dict[str, str]],
) -> None:
    path, _ = log
    data = load_source(str(path))
    assert data.logged
    assert not data.full_information
    assert len(data.requests) == N - 20 - 1
    assert len(data.outcomes) == len(data.requests)
    assert any("20 of 900 decisions have no outcome" in n for n in data.notes)
    assert any("1 decisions the gateway overrode" in n for n in data.notes)
    out = data.outcomes
    assert set(out["propensity"].round(6)) == {0.25, 0.75}  # ε = 0.5 over two candidates
    raw = np.minimum(1 / out["propensity"], MAX_IPS_WEIGHT)
    assert np.allclose(out["weight"], raw / raw.mean())
    assert set(data.models["model"]) == {SMALL, LARGE}
    assert data.offered().notna().all().all()  # both were candidates every time
    assert (data.requests["text"].str.contains("ref")).all()


def test_the_exported_log_loads_the_same(log: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    from selector.store import SQLiteLog

    path, _ = log
    export_log(SQLiteLog(path), tmp_path / "log.parquet")
    a, b = load_source(str(path)), load_source(str(tmp_path / "log.parquet"))
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes)
    pd.testing.assert_frame_equal(a.requests, b.requests, check_dtype=False)
    assert b.source == "log:log.parquet"


def test_off_policy_estimates_match_the_worlds_truth(log: tuple[Path, dict[str, str]]) -> None:
    path, kinds = log
    data = load_source(str(path))
    replay = Replay(data)
    kind = data.requests["request_id"].map(kinds).to_numpy()
    for j, model in enumerate(replay.models):
        truth = np.mean([TRUTH[k, model] for k in kind])
        quality, _, ess = replay.outcome(replay.single(j))
        assert quality == pytest.approx(truth, abs=0.05), model
        assert 100 < ess < len(kind)
    # the policy that sends billing to the large model and cards to the small one
    best = np.where(kind == "billing", replay.models.index(LARGE), replay.models.index(SMALL))
    truth = np.mean([TRUTH[k, replay.models[c]] for k, c in zip(kind, best, strict=True)])
    assert replay.outcome(best)[0] == pytest.approx(truth, abs=0.05)


def test_a_model_learned_from_the_log_knows_where_the_small_model_fails(
    log: tuple[Path, dict[str, str]],
) -> None:
    path, kinds = log
    data = load_source(str(path))
    model = QualityTrainer(inner_folds=3).fit(data.requests, data.outcomes, data.models)
    p = pd.DataFrame(model.predict_proba(data.requests, data.models), columns=data.models["model"])
    billing = (data.requests["request_id"].map(kinds) == "billing").to_numpy()
    # each model's P on the requests of each kind, against the world's truth
    for kind, rows in (("billing", billing), ("card", ~billing)):
        for model_name in (SMALL, LARGE):
            assert p[model_name][rows].mean() == pytest.approx(TRUTH[kind, model_name], abs=0.1)

    oof = cross_validate(data, lambda: QualityTrainer(inner_folds=2), folds=3)
    ev = evaluate(data, oof, folds=3)
    assert "off-policy" in ev.summary["notes"]
    assert ev.summary["AIQ"] is not None
    # the learned router does better than the logged policy it learned from
    logged = next(r for r in ev.rows if r["router"] == "logged policy")
    assert ev.summary["max_router_quality"] > logged["quality"]


def test_graded_rewards_are_learned_as_they_are_not_rounded(tmp_path: Path) -> None:
    settings, kinds = write_outcome_log(tmp_path, 600, 11, exploration=0.5, graded=True)
    data = load_source(str(settings.store.db_path))
    labels = data.outcomes["resolved"]
    assert ((labels > 0) & (labels < 1)).mean() > 0.5  # the rewards, as they came
    model = QualityTrainer(inner_folds=2).fit(data.requests, data.outcomes, data.models)
    p = pd.DataFrame(model.predict_proba(data.requests, data.models), columns=data.models["model"])
    billing = (data.requests["request_id"].map(kinds) == "billing").to_numpy()
    # rounded at 0.5, the small model's 0.25 on billing would be learned as about 0.05,
    # and the large model's 0.85 as about 0.99
    for kind, rows in (("billing", billing), ("card", ~billing)):
        for model_name in (SMALL, LARGE):
            assert p[model_name][rows].mean() == pytest.approx(TRUTH[kind, model_name], abs=0.08)


def test_training_from_the_log_calibrates_lambda_and_the_service_serves_it(
    log: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, _ = log
    store = f"sqlite:///{tmp_path}/mlflow.db"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--source",
            str(path),
            "--folds",
            "2",
            "--target",
            "strong-share=0.6",
            "--strong",
            LARGE,
            "--tracking-uri",
            store,
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "λ = " in result.output
    assert "SELECTOR_COST_WEIGHT=" in result.output
    spec = json.loads((tmp_path / "m" / "model" / "model.json").read_text())
    policy = spec["meta"]["policy"]
    assert policy["target"] == "strong-share=0.6"
    assert policy["strong_share"] <= 0.6
    assert policy["cost_weight"] > 0
    assert QualityPredictor.load(tmp_path / "m" / "model").cost_weight == policy["cost_weight"]

    def served(**env: object) -> float:
        settings = load_settings(
            db_path=tmp_path / "serve.db", quality_model=str(tmp_path / "m" / "model"), **env
        )
        service = build_service(settings)
        assert service.quality_status.loaded
        return service.cost_weight()

    assert served() == pytest.approx(policy["cost_weight"])
    assert served(cost_weight=3.5) == 3.5  # an explicit setting wins


def test_a_log_without_outcomes_is_refused_with_the_fix(tmp_path: Path) -> None:
    settings = load_settings(db_path=tmp_path / "empty.db", quality_model="prior")
    service = build_service(settings)
    service.start()
    try:
        asyncio.run(service.route(RouteInput("c", Conversation(messages=[("user", "hi")]))))
    finally:
        service.stop()
    with pytest.raises(ConfigError, match="has an outcome: report `resolved`"):
        load_source(str(settings.store.db_path))


@pytest.mark.integration
def test_a_postgresql_log_trains_as_its_export(tmp_path: Path, postgres: Any) -> None:
    pytest.importorskip("psycopg")
    from tests.selector.online.traffic import run_traffic, settings_for
    from training.data.logged import load_shared_log

    url = postgres.new_database()
    svc = build_service(settings_for(tmp_path, database_url=url))
    svc.start()
    try:
        run_traffic(svc, 40)
    finally:
        svc.stop()
    export = tmp_path / "export.parquet"
    done = CliRunner().invoke(cli, ["export-log", "--db", url, "--out", str(export)])
    assert done.exit_code == 0, done.output
    direct, exported = load_source(url), load_source(str(export))
    assert len(direct.requests) == 40
    for frame in ("requests", "outcomes"):
        pd.testing.assert_frame_equal(getattr(direct, frame), getattr(exported, frame))
    in_chunks = load_shared_log(url, chunk=7)  # rows read 7 at a time: the same data
    pd.testing.assert_frame_equal(in_chunks.outcomes, direct.outcomes)
    assert in_chunks.content_hash == direct.content_hash
