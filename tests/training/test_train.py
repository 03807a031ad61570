"""Training job, MLflow tracking and registry, and promotion, on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ArtifactError, ConflictError, NotFoundError
from models import registry
from models.quality import QualityPredictor, QualityTrainer
from selector.config import Settings
from tests.builders import covering
from tests.generated_routing import generated
from training.promotion import promote
from training.train import train


def write_table(folder: Path, n: int = 300, seed: int = 3) -> Path:
    data = generated(n, seed)
    table = data.outcomes.merge(data.requests[["request_id", "text", "intent"]], on="request_id")
    path = folder / "outcomes.parquet"
    table.merge(data.models, on="model").to_parquet(path)
    return path


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/mlflow.db"


def covers(folder: Path) -> Settings:
    """A catalog of the generated data's models."""
    return covering(folder, ["cheap", "strong"])


def small(seed: int = 0) -> QualityTrainer:
    return QualityTrainer(inner_folds=2, seed=seed)


def test_a_training_run_is_logged_and_registered(tmp_path: Path, store: str) -> None:
    table = write_table(tmp_path)
    result = train(str(table), folds=2, tracking_uri=store, make_model=small)
    assert result.version == "1"
    assert result.cv is not None
    assert result.cv.folds == 2
    c = registry.client(store)
    run = c.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["source"] == "table:outcomes.parquet"
    assert run.data.params["inner_folds"] == "2"
    assert len(run.data.tags["data.content_hash"]) == 64
    assert run.data.tags["data.location"] == str(table.resolve())
    assert run.data.metrics["cv_AIQ"] == pytest.approx(result.cv.summary["AIQ"])
    assert run.data.metrics["holdout_AIQ"] == pytest.approx(result.holdout.summary["AIQ"])
    assert {"cv_brier_raw", "cv_brier_calibrated", "cv_ece_raw"} <= set(run.data.metrics)
    artifacts = {a.path for a in c.list_artifacts(result.run_id)}
    assert {"model", "plots", "evaluation.json"} <= artifacts
    plots = {a.path for a in c.list_artifacts(result.run_id, "plots")}
    assert plots == {
        "plots/cost_quality.png",
        "plots/calibration.png",
        "plots/feature_importance.png",
    }
    # the artifact store sits beside the database
    assert (tmp_path / "mlartifacts").is_dir()
    found = registry.resolve("models:/model-selector-quality/1", store)
    assert found.version == "1"
    assert found.run_id == result.run_id
    assert QualityPredictor.load(found.folder).models == ["cheap", "strong"]


def test_the_hold_out_is_never_trained_on(tmp_path: Path, store: str) -> None:
    from training.data import load_table

    data = load_table(write_table(tmp_path))
    held = set(data.requests["request_id"][data.holdout_mask()])
    assert 0.1 < len(held) / len(data.requests) < 0.3
    seen: list[set[str]] = []

    class Spy(QualityTrainer):
        def fit(self, requests, outcomes, models, progress=lambda _m: None, meta=None):  # type: ignore[no-untyped-def]
            seen.append(set(requests["request_id"]))
            return super().fit(requests, outcomes, models, progress, meta)

    train(str(tmp_path / "outcomes.parquet"), folds=0, track=False, make_model=lambda: Spy(2))
    assert len(seen) == 1
    assert not seen[0] & held


def test_a_model_that_does_not_know_the_catalog_is_not_promoted_unless_forced(
    tmp_path: Path, store: str
) -> None:
    train(str(write_table(tmp_path)), folds=0, tracking_uri=store, make_model=small)
    served = covering(tmp_path, ["cheap", "strong", "gpt-5", "other-house-model"])
    with pytest.raises(
        ConflictError,
        match=r"does not know 2 of the catalog's enabled models \(gpt-5, other-house-model\)",
    ):
        promote("model-selector-quality", "1", store, settings=served)
    assert registry.client(store).get_registered_model("model-selector-quality").aliases == {}
    forced = promote("model-selector-quality", "1", store, force=True, settings=served)
    assert forced.promoted
    assert forced.forced
    assert "2 catalog models unknown" in forced.message()
    tags = registry.client(store).get_model_version("model-selector-quality", "1").tags
    assert tags["promotion.unknown_models"] == "gpt-5,other-house-model"
    # a catalog it knows whole: no question asked
    assert not promote("model-selector-quality", "1", store, settings=covers(tmp_path)).forced


def test_promotion_needs_a_better_model_or_force(tmp_path: Path, store: str) -> None:
    table = str(write_table(tmp_path))
    for _ in range(2):  # the same model twice: v2 ties v1
        train(table, folds=0, tracking_uri=store, make_model=small)
    first = promote("model-selector-quality", "1", store, settings=covers(tmp_path))
    assert first.promoted
    assert first.previous is None
    assert not first.forced
    with pytest.raises(ConflictError, match="does not beat the champion; pass --force"):
        promote("model-selector-quality", "2", store, settings=covers(tmp_path))
    c = registry.client(store)
    assert str(c.get_model_version_by_alias("model-selector-quality", "champion").version) == "1"
    forced = promote("model-selector-quality", "2", store, force=True, settings=covers(tmp_path))
    assert forced.promoted
    assert forced.forced
    assert forced.previous == "1"
    mv = c.get_model_version_by_alias("model-selector-quality", "champion")
    assert str(mv.version) == "2"
    assert mv.tags["promotion.forced"] == "true"
    assert "promoted (forced)" in mv.tags["promotion"]


def test_promotion_of_a_weaker_model_is_refused(tmp_path: Path, store: str) -> None:
    table = str(write_table(tmp_path))
    train(table, folds=0, tracking_uri=store, make_model=small)
    # no learning: trees without a split, every request gets its model's base rate
    weak = QualityTrainer(
        inner_folds=2,
        use_text_scores=False,
        use_embeddings="never",
        max_boost_round=10,
        lgb_params={"learning_rate": 1e-6, "min_data_in_leaf": 100_000},
    )
    train(table, folds=0, tracking_uri=store, make_model=lambda: weak)
    promote(
        "model-selector-quality", "2", store, settings=covers(tmp_path)
    )  # no champion yet: any model is better
    better = promote("model-selector-quality", "1", store, settings=covers(tmp_path))
    assert better.promoted
    assert better.champion_value is not None
    assert better.candidate_value > better.champion_value
    with pytest.raises(ConflictError):
        promote("model-selector-quality", "2", store, settings=covers(tmp_path))


def test_unknown_versions_and_missing_stores_say_what_to_do(tmp_path: Path, store: str) -> None:
    with pytest.raises(ArtifactError, match="train and register a model first"):
        promote("model-selector-quality", "1", store, settings=covers(tmp_path))
    assert not (tmp_path / "mlflow.db").exists()  # looking did not create a store
    train(str(write_table(tmp_path)), folds=0, tracking_uri=store, make_model=small)
    with pytest.raises(NotFoundError, match="has no version '9'"):
        promote("model-selector-quality", "9", store, settings=covers(tmp_path))


def test_data_already_loaded_is_trained_on_as_it_is(tmp_path: Path) -> None:
    """`selector train` reads its source once (it chooses the request difficulty from the
    texts first): the job trains on the data it is given, not on a second read."""
    from training.data import load_source

    table = write_table(tmp_path)
    data = load_source(str(table))
    table.unlink()  # a second read would fail
    result = train(str(table), folds=0, track=False, make_model=small, data=data)
    assert result.holdout.n_requests == int(data.requests["eval"][data.holdout_mask()].sum())
