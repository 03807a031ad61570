"""A user's own outcome table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from features.estimates import LogLatency, p_slower
from tests.builders import default_catalog
from training.counterfactual import Replay
from training.data import load_table
from training.data.tables import with_served_priors

PRICES = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 4.0}


def write(tmp_path: Path, rows: list[dict[str, object]], priced: bool = True) -> Path:
    path = tmp_path / "outcomes.csv"
    pd.DataFrame([{**PRICES, **r} if priced else r for r in rows]).to_csv(path, index=False)
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
            {"request_id": "r", "model": "a", "resolved": 1.5},
            "'1.5' is not 0/1, true/false or a number in \\[0, 1\\]",
        ),
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


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("header.csv", b"request_id,model,resolved\n", "header.csv: no rows"),
        ("zero.parquet", b"", "zero.parquet: not a readable Parquet file"),
        ("junk.parquet", b"not parquet at all", "junk.parquet: not a readable Parquet file"),
        ("binary.csv", bytes(range(256)) * 4, "binary.csv: not a readable CSV file"),
    ],
)
def test_an_unreadable_table_is_one_line_naming_it(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_table(path)
    assert "\n" not in str(caught.value)


def test_missing_prices_are_an_error_naming_the_models_unless_the_catalog_has_them(
    tmp_path: Path,
) -> None:
    catalog = default_catalog()
    known = catalog.names[0]
    rows = [
        {"request_id": "r1", "model": known, "resolved": 1},
        {"request_id": "r1", "model": "house-model", "resolved": 0},
    ]
    with pytest.raises(ConfigError, match=r"no prices for model\(s\) \['house-model'\]"):
        load_table(write(tmp_path, rows, priced=False), catalog)
    rows[1]["model"] = catalog.names[1]
    models = load_table(write(tmp_path, rows, priced=False), catalog).models.set_index("model")
    for name in catalog.names[:2]:
        assert models.loc[name, "input_usd_per_mtok"] == catalog[name].input_usd_per_mtok
        assert models.loc[name, "output_usd_per_mtok"] == catalog[name].output_usd_per_mtok
    # the table's own prices win over the catalog's
    priced = load_table(write(tmp_path, rows), catalog).models
    assert (priced["input_usd_per_mtok"] == 1.0).all()


def test_a_reward_column_is_the_outcome_beside_or_instead_of_resolved(tmp_path: Path) -> None:
    rows = [
        {"request_id": "r1", "model": "a", "resolved": 1, "reward": 0.4},
        {"request_id": "r1", "model": "b", "resolved": 0, "reward": None},
        {"request_id": "r2", "model": "a", "resolved": None, "reward": "0.9"},
    ]
    m = load_table(write(tmp_path, rows)).matrix()
    assert (m.loc["r1", "a"], m.loc["r1", "b"], m.loc["r2", "a"]) == (0.4, 0.0, 0.9)
    only = [{"request_id": "r1", "model": "a", "reward": 0.25}]
    assert load_table(write(tmp_path, only)).matrix().loc["r1", "a"] == 0.25
    with pytest.raises(ConfigError, match="row 2, column 'reward'"):
        load_table(write(tmp_path, [{"request_id": "r1", "model": "a", "reward": 2}]))
    with pytest.raises(ConfigError, match=r"row 2, column 'resolved or reward': empty"):
        load_table(
            write(tmp_path, [{"request_id": "r1", "model": "a", "resolved": None, "reward": None}])
        )


def test_a_conversation_s_requests_stay_in_one_fold_and_one_side_of_the_hold_out(
    tmp_path: Path,
) -> None:
    rows = [
        {"request_id": f"c{c}-t{t}", "model": "a", "resolved": t % 2, "conversation_id": f"c{c}"}
        for c in range(60)
        for t in range(4)
    ]
    data = load_table(write(tmp_path, rows))
    conversation = data.requests["request_id"].str.split("-").str[0].to_numpy()
    folds = data.folds(5, seed=3)
    assert sorted(np.concatenate(folds)) == list(range(len(data.requests)))
    for te in folds:
        inside = set(conversation[te])
        assert not inside & set(conversation[np.setdiff1d(np.arange(len(conversation)), te)])
        assert 8 <= len(inside) <= 16  # 60 conversations over 5 folds
    held = data.holdout_mask()
    for c in set(conversation):
        assert len(set(held[conversation == c])) == 1
    assert 0 < held.mean() < 0.5
    # a group column wins over the conversation; too few groups for the folds is an error
    grouped = [{**r, "group": "all"} for r in rows]
    with pytest.raises(ConfigError, match="1 groups cannot fill 5 folds"):
        load_table(write(tmp_path, grouped)).folds(5, seed=0)


def test_without_groups_the_folds_are_the_shuffled_requests(tmp_path: Path) -> None:
    rows = [{"request_id": f"r{i}", "model": "a", "resolved": i % 2} for i in range(50)]
    folds = load_table(write(tmp_path, rows)).folds(5, seed=1)
    assert [len(f) for f in folds] == [10] * 5
    assert sorted(np.concatenate(folds)) == list(range(50))
    assert list(folds[0]) != sorted(folds[0]) or list(folds[1]) != list(range(10, 20))


def test_offline_replays_assume_what_the_service_assumes_of_each_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = default_catalog()
    known = "gpt-5"
    rows = [
        {"request_id": f"r{i}", "model": m, "resolved": 1, "text": "hi", "prompt_tokens": 100}
        for i in range(40)
        for m in (known, "house-model")
    ]

    def penalty() -> float:
        found = with_served_priors(load_table(write(tmp_path, rows)), catalog)
        return float(found.models.set_index("model").loc[known, "latency_penalty"])

    data = with_served_priors(load_table(write(tmp_path, rows)), catalog)
    models = data.models.set_index("model")
    spec = catalog[known]
    # no lengths in the table: the catalog's, else the default setting (350)
    assert models.loc[known, "expected_completion_tokens"] == spec.expected_completion_tokens
    assert models.loc["house-model", "expected_completion_tokens"] == 350
    assert models.loc["house-model", "latency_penalty"] == 0.0  # not in the catalog
    assert (models["error_prior"] == 0.01).all()
    # the utility's charges before any call: latency weight × prior p50, and the late
    # penalty × P(fails or late) under the prior latency estimate
    cold = LogLatency(spec.expected_latency_ms).estimate()
    late = 0.01 + 0.99 * p_slower(cold.p50_ms, cold.p95_ms, 3_000.0)  # the default deadline
    assert models.loc[known, "latency_penalty"] == pytest.approx(
        0.02 * cold.p50_ms / 1000 + 0.05 * late
    )
    monkeypatch.setenv("SELECTOR_REWARD_LATE_PENALTY", "0")
    assert penalty() == pytest.approx(0.02 * cold.p50_ms / 1000)
    monkeypatch.setenv("SELECTOR_LATENCY_WEIGHT", "0.05")
    assert penalty() == pytest.approx(0.05 * cold.p50_ms / 1000)
    assert any("house-model" in note and "SELECTOR_CATALOG_PATH" in note for note in data.notes)
    # the replay scores as the service does: equal P(resolved) and cost, the slower loses
    replay = Replay(data)
    p = np.full((replay.n, 2), 0.8)
    priced = replay.expected.copy()
    replay.expected[:] = priced.mean()
    slow = int(np.argmax(replay.penalty))
    assert (replay.choose(p, lam=0.0) == 1 - slow).all()


def test_with_lengths_in_the_table_no_length_is_assumed(tmp_path: Path) -> None:
    rows = [
        {"request_id": f"r{i}", "model": "gpt-5", "resolved": 1, "completion_tokens": 90}
        for i in range(5)
    ]
    data = with_served_priors(load_table(write(tmp_path, rows)), default_catalog())
    assert data.models["expected_completion_tokens"].isna().all()
