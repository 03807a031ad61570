"""measure-worlds through the real service, small: every policy gets a share of the
oracle's reward in every world, and the report says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
