"""A quality model fitted once for these tests, on generated data."""

from __future__ import annotations

import pytest

from models.quality import QualityTrainer
from tests.generated_routing import generated
from training.data import RoutingData


@pytest.fixture(scope="package")
def fitted() -> tuple[RoutingData, QualityTrainer]:
    data = generated(400, seed=1)
    return data, QualityTrainer(inner_folds=2).fit(data.requests, data.outcomes, data.models)
