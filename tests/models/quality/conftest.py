"""A quality model fitted once for these tests, on generated data."""

from __future__ import annotations

import pytest

from models.quality import QualityModel
from tests.generated_routing import generated
from training.data import RoutingData


@pytest.fixture(scope="package")
def fitted() -> tuple[RoutingData, QualityModel]:
    data = generated(400, seed=1)
    return data, QualityModel(inner_folds=2).fit(data.requests, data.outcomes, data.models)
