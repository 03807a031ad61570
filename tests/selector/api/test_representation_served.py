"""A promoted quality model whose held-out loss kept the pretrained representation's
scorers serves them through /v1/route: words its training table never had are routed
by meaning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from models.quality import QualityTrainer
from tests.builders import covering
from tests.conftest import Server
from tests.models.quality.test_embedded import TEST, TRAIN, _table
from training.promotion import promote
from training.train import train

pytestmark = pytest.mark.integration

NAME = "model-selector-quality"


def _disputes(folder: Path) -> Path:
    """'cheap' fails billing disputes, 'strong' resolves nine in ten of everything."""
    requests, cheap = _table(TRAIN, 500, seed=0)
    rng = np.random.default_rng(1)
    strong = cheap.assign(model="strong", resolved=(rng.random(len(cheap)) < 0.9).astype(float))
    table = pd.concat([cheap, strong]).merge(requests[["request_id", "text"]], on="request_id")
    prices = {"cheap": (0.1, 0.4), "strong": (0.2, 0.8)}  # as the covering catalog's
    table["input_usd_per_mtok"] = table["model"].map(lambda m: prices[m][0])
    table["output_usd_per_mtok"] = table["model"].map(lambda m: prices[m][1])
    path = folder / "disputes.parquet"
    table.to_parquet(path)
    return path


def test_the_served_model_reads_the_representation(
    tmp_path: Path, make_server: Callable[..., Server]
) -> None:
    store = f"sqlite:///{tmp_path}/mlflow.db"
    found = train(
        str(_disputes(tmp_path)),
        folds=0,
        tracking_uri=store,
        # on its own training phrasings the table's words suffice, so held-out loss
        # may drop the representation; what it adds shows on words never seen
        make_model=lambda: QualityTrainer(inner_folds=3, use_embeddings="always"),
    )
    settings = covering(tmp_path, ["cheap", "strong"])
    promote(NAME, found.version, store, settings=settings)
    server = make_server(
        SELECTOR_MLFLOW_TRACKING_URI=store,
        SELECTOR_POLICY="utility-v0",
        SELECTOR_CATALOG_PATH=str(settings.models.catalog_path),
    )

    def p_cheap(c: httpx.Client, text: str) -> float:
        body = c.post(
            "/v1/route",
            json={"conversation_id": text, "messages": [{"role": "user", "content": text}]},
        ).json()
        assert body["policy"]["quality_model"] == f"{NAME}/v{found.version}"
        return next(float(s["p_resolved"]) for s in body["scores"] if s["model"] == "cheap")

    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        hard = np.mean([p_cheap(c, f"{t} #{i}") for i, t in enumerate(TEST["hard"])])
        easy = np.mean([p_cheap(c, f"{t} #{i}") for i, t in enumerate(TEST["easy"])])
    assert easy - hard > 0.2  # new words for a billing dispute, still hard for 'cheap'
