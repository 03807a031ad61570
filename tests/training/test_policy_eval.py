"""`selector ope` on a log written by the real service, against the truth that drew its
outcomes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from models import registry
from selector.cli import cli
from selector.config import Settings
from selector.store import SQLiteLog
from selector.wiring import build_service
from tests.builders import LARGE, SMALL, TRUTH, covering, write_outcome_log
from training.logged_decisions import load_logged
from training.policy_eval import evaluate_policy

N = 1_500


def write_log(folder: Path, policy: str, seed: int = 5) -> tuple[Settings, dict[str, str]]:
    """A log of ``policy`` (bandit-v1 exploring widely), every outcome reported."""
    return write_outcome_log(
        folder,
        N,
        seed,
        db_path=folder / f"{policy}.db",
        policy=policy,
        bandit_gamma=20.0,
        bandit_min_exploration=0.3,
        bandit_updates="inline",
    )


@pytest.fixture(scope="module")
def bandit_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, str]]:
    return write_log(tmp_path_factory.mktemp("ope"), "bandit-v1")


def true_value(settings: Settings, kinds: dict[str, str], policy_name: str) -> float:
    """The mean reward the policy would have had on the logged decisions: the truth's
    P(resolved) of its choice minus the expected cost and latency it weighed."""
    logged = load_logged(SQLiteLog(settings.store.db_path), settings.reward.late_penalty)
    policy = build_service(settings.replace(policy=policy_name)).policy
    values = []
    for did, (fv, ctx) in zip(logged.ids, logged.contexts, strict=True):
        d = policy.decide(fv, ctx)
        s = next(x for x in d.scores if x.model == d.model)
        values.append(
            TRUTH[kinds[did], d.model]
            - ctx.cost_weight * s.expected_cost_usd
            - d.latency_weight * s.expected_latency_ms / 1000
        )
    return float(np.mean(values))


def test_dr_covers_the_true_value_of_the_greedy_policy(
    bandit_log: tuple[Settings, dict[str, str]],
) -> None:
    settings, kinds = bandit_log
    logged = load_logged(SQLiteLog(settings.store.db_path), settings.reward.late_penalty)
    assert len(logged.ids) == N
    greedy = build_service(settings.replace(policy="utility-v0")).policy
    out = evaluate_policy(logged, greedy, min_ess=50)
    truth = true_value(settings, kinds, "utility-v0")
    assert out["dr"]["low"] <= truth <= out["dr"]["high"]
    assert out["snips"]["low"] <= truth <= out["snips"]["high"]
    # greedy on the prior sends billing to the large model, which the truth rewards
    assert truth > out["logged_value"]


def test_selector_ope_prints_the_estimates_and_records_them_in_mlflow(
    bandit_log: tuple[Settings, dict[str, str]],
) -> None:
    settings, _ = bandit_log
    result = CliRunner().invoke(
        cli,
        [
            "ope",
            "--db",
            str(settings.store.db_path),
            "--policy",
            "utility-v0",
            "--quality-model",
            "prior",
            "--min-ess",
            "50",
            "--tracking-uri",
            settings.models.mlflow_tracking_uri,
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"on {N:,} logged decisions" in result.output
    for row in ("| IPS |", "| SNIPS |", "| DR |"):
        assert row in result.output
    c = registry.client(settings.models.mlflow_tracking_uri, create=False)
    exp = c.get_experiment_by_name("model-selector-ope")
    (run,) = c.search_runs([exp.experiment_id])
    assert {"ips", "snips", "dr", "dr_low", "dr_high", "ess"} <= set(run.data.metrics)
    assert run.data.params["policy"] == "utility-v0"


def test_on_a_log_without_exploration_only_agreements_count_and_too_few_are_refused(
    tmp_path: Path,
) -> None:
    settings, _ = write_log(tmp_path, "utility-v0")
    logged = load_logged(SQLiteLog(settings.store.db_path), settings.reward.late_penalty)
    assert set(logged.propensity) == {1.0}
    rules = build_service(settings.replace(policy="static-rules")).policy
    agree = sum(
        rules.decide(fv, ctx).model == fv.candidates[c]
        for (fv, ctx), c in zip(logged.contexts, logged.chosen, strict=True)
    )
    assert 0 < agree < N
    result = CliRunner().invoke(
        cli,
        [
            "ope",
            "--db",
            str(settings.store.db_path),
            "--policy",
            "static-rules",
            "--quality-model",
            "prior",
            "--min-ess",
            str(agree + 1),
            "--no-track",
        ],
    )
    assert isinstance(result.exception, ConfigError)  # `selector` exits with 2 and the message
    assert f"effective sample size {agree:.1f} is under the threshold {agree + 1}" in str(
        result.exception
    )


def test_models_learned_from_a_log_are_promoted_by_their_dr_value(
    bandit_log: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    from models.quality import QualityTrainer
    from training.promotion import promote
    from training.train import train

    settings, _ = bandit_log
    cover = covering(tmp_path, [SMALL, LARGE])
    store = f"sqlite:///{tmp_path}/mlflow.db"
    weak = QualityTrainer(
        inner_folds=2,
        use_text_scores=False,
        use_embeddings="never",
        max_boost_round=10,
        lgb_params={"learning_rate": 1e-6},
    )
    for make in (lambda: QualityTrainer(seed=0, inner_folds=2), lambda: weak):
        train(str(settings.store.db_path), folds=0, tracking_uri=store, make_model=make)
    # about 300 hold-out decisions: a lower threshold than the default
    second = promote(
        "model-selector-quality", "2", store, min_ess=30, settings=cover
    )  # no champion yet
    assert second.metric == "DR reward / decision"
    first = promote("model-selector-quality", "1", store, min_ess=30, settings=cover)
    assert first.metric == "DR reward / decision"
    assert first.champion_value is not None
    assert first.promoted == (first.candidate_value > first.champion_value)
    assert "95 % intervals" in first.message()
    # the model that learned which kind of question each model fails serves better
    assert first.promoted
