"""The quality model's files: exact round trips, checksums, and serving without the
training extras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import ArtifactError
from features.schema import SCHEMA_VERSION
from models.quality import QualityPredictor, QualityTrainer
from training.data import RoutingData


def test_a_saved_model_predicts_exactly_as_the_trained_one(
    fitted: tuple[RoutingData, QualityTrainer], tmp_path: Path
) -> None:
    data, model = fitted
    folder = model.save(tmp_path / "m")
    embedded = ["embedded_scorers.npz"] if model.predictor_.embedded is not None else []
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "MANIFEST.json",
            "booster.txt",
            "completion.txt",
            "model.json",
            "text_scorers.npz",
            *embedded,
        ]
    )
    assert (folder / "booster.txt").read_text().startswith("tree")  # LightGBM's text format
    assert (folder / "completion.txt").read_text().startswith("tree")
    loaded = QualityPredictor.load(folder)
    for again, trained in zip(
        loaded.predict_frames(data.requests, data.models),
        model.predict_frames(data.requests, data.models),
        strict=True,
    ):  # calibrated P, raw P, completion lengths
        np.testing.assert_allclose(again, trained, rtol=1e-12, atol=1e-12)
    spec = json.loads((folder / "model.json").read_text())
    assert spec["feature_schema_version"] == SCHEMA_VERSION
    assert spec["models"] == ["cheap", "strong"]


def test_a_changed_file_is_refused(
    fitted: tuple[RoutingData, QualityTrainer], tmp_path: Path
) -> None:
    folder = fitted[1].save(tmp_path / "m")
    booster = folder / "booster.txt"
    booster.write_text(booster.read_text().replace("tree", "trees", 1))
    with pytest.raises(ArtifactError, match=r"booster\.txt fails its checksum"):
        QualityPredictor.load(folder)


SERVE_WITHOUT_EXTRAS = """
import sys
for name in ("sklearn", "matplotlib", "vowpalwabbit", "threadpoolctl"):  # scipy comes with lightgbm
    sys.modules[name] = None  # an import of any of them fails, as without the extras
import json
from pathlib import Path
import pandas as pd
from models.quality import QualityPredictor
import selector.api.app, selector.cli, selector.service, selector.retention
folder, frame, models = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
requests, candidates = pd.read_parquet(frame), pd.read_parquet(models)
p, _, _ = QualityPredictor.load(folder).predict_frames(requests, candidates)
print(json.dumps(p.tolist()))
"""


def test_a_trained_model_is_served_without_the_training_extras(
    fitted: tuple[RoutingData, QualityTrainer], tmp_path: Path
) -> None:
    """`pip install .` serves: loading and running a trained model, the service and its
    commands need none of the train/sim/vw extras."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    data, model = fitted
    folder = model.save(tmp_path / "m")
    frame = tmp_path / "requests.parquet"
    data.requests.head(20).to_parquet(frame)
    models = tmp_path / "models.parquet"
    data.models.to_parquet(models)
    done = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_EXTRAS, str(folder), str(frame), str(models)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    served = np.array(json.loads(done.stdout))
    expected = model.predict_frames(data.requests.head(20), data.models)[0]
    np.testing.assert_allclose(served, expected, rtol=1e-12, atol=1e-12)
