"""A user's own outcome table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.errors import ConfigError
from training.data import load_table


def write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "outcomes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_users_table_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {
                "request_id": "r1",
                "model": "a",
                "resolved": 1,
                "text": "refund please",
                "cost_usd": 0.01,
            },
            {
                "request_id": "r1",
                "model": "b",
                "resolved": 0,
                "text": "refund please",
                "cost_usd": 0.001,
            },
            {"request_id": "r2", "model": "a", "resolved": "true", "text": "hi", "cost_usd": 0.02},
        ],
    )
    d = load_table(path)
    assert list(d.requests["request_id"]) == ["r1", "r2"]
    assert d.matrix().loc["r2", "b"] != d.matrix().loc["r2", "b"]  # NaN: not tried
    assert not d.full_information
    assert d.source == "table:outcomes.csv"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"request_id": "r", "model": "a", "resolved": "maybe"}, "row 3, column 'resolved'"),
        ({"request_id": "r", "model": "a", "resolved": 1.5}, "graded outcome in \\[0, 1\\]"),
        ({"request_id": "r", "model": "a", "resolved": -0.2}, "row 3, column 'resolved'"),
        (
            {"request_id": "r", "model": "a", "resolved": 1, "cost_usd": -2},
            "row 3, column 'cost_usd'",
        ),
        (
            {"request_id": "r", "model": "a", "resolved": 1, "cost_usd": "x"},
            "row 3, column 'cost_usd'",
        ),
        ({"request_id": "r0", "model": "a", "resolved": 1}, "row 3, column 'model'"),
    ],
)
def test_bad_rows_are_named_by_row_and_column(
    tmp_path: Path, row: dict[str, object], message: str
) -> None:
    good = {"request_id": "r0", "model": "a", "resolved": 0, "cost_usd": 0.1}
    with pytest.raises(ConfigError, match=message):
        load_table(write(tmp_path, [good, row]))


def test_missing_columns_are_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="resolved"):
        load_table(write(tmp_path, [{"request_id": "r", "model": "a"}]))


def test_graded_outcomes_load_as_they_are(tmp_path: Path) -> None:
    rows = [
        {"request_id": "r1", "model": "a", "resolved": 0.75},
        {"request_id": "r1", "model": "b", "resolved": "0.2"},
        {"request_id": "r2", "model": "a", "resolved": "TRUE"},
    ]
    m = load_table(write(tmp_path, rows)).matrix()
    assert (m.loc["r1", "a"], m.loc["r1", "b"], m.loc["r2", "a"]) == (0.75, 0.2, 1.0)
