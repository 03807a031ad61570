"""The calibration metrics."""

from __future__ import annotations

import numpy as np
import pytest

from models.quality import brier_score, calibration_error


def test_brier_and_calibration_error_of_perfect_and_poor_forecasts() -> None:
    y = np.array([0, 1] * 50, dtype=float)
    assert brier_score(y, y) == 0.0
    assert calibration_error(y, y) == 0.0
    assert brier_score(np.full(100, 0.5), y) == pytest.approx(0.25)
    assert calibration_error(np.full(100, 0.9), y) == pytest.approx(0.4)
