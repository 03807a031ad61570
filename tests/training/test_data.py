from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.errors import ConfigError
from tests.conftest import SHARED_DATA, requires_shared_data
from training.data import STRONG, WEAK, load_source, load_table


@requires_shared_data("routellm", "mmlu.csv.gz")
def test_routellm_mmlu_has_both_models_and_excludes_contaminated_prompts() -> None:
    d = load_source("routellm-mmlu", SHARED_DATA)
    assert list(d.models["model"]) == [WEAK, STRONG]
    assert len(d.requests) == 14_042
    assert int((~d.requests["eval"]).sum()) == 5
    y = d.matrix()
    assert y[WEAK].mean() == pytest.approx(0.681, abs=0.001)
    assert y[STRONG].mean() == pytest.approx(0.806, abs=0.001)
    assert d.requests["intent"].nunique() == 57


@requires_shared_data("zeroeval", "prices.csv")
def test_zeroeval_gsm_is_priced_and_matches_the_published_best_model() -> None:
    d = load_source("zeroeval-gsm", SHARED_DATA)
    y = d.matrix()
    assert y.mean().idxmax() == "claude-3-5-sonnet-20241022"
    assert y.mean().max() == pytest.approx(0.967, abs=0.001)
    assert d.matrix("cost_usd")["claude-3-5-sonnet-20241022"].sum() == pytest.approx(2.24, rel=0.05)


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


def test_unknown_sources_say_what_exists() -> None:
    with pytest.raises(ConfigError, match="routellm-mmlu"):
        load_source("no-such-source")
