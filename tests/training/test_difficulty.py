"""Learning the request difficulty from outcome tables: it finds what makes requests
hard in one table and carries it to another; the evaluated table's texts never enter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.difficulty import load_difficulty
from tests.conftest import SHARED_DATA, requires_shared_data
from training.difficulty import (
    Outcomes,
    difficulty_auc,
    fit_difficulty,
    held_out_difficulty,
    outcomes_of,
    transfer,
    without_texts,
)

EASY = ["what are your opening hours", "where is my parcel", "how do I reset my password"]
HARD = [
    "prove that the quantum spectral gap of this lattice hamiltonian stays open",
    "derive the quantum error bound of the variational estimator in closed form",
    "show the quantum channel capacity is additive for these two noisy maps",
]


def _table(source: str, n: int, models: int, seed: int, hard_share: float = 0.5) -> Outcomes:
    """Requests of two kinds; every model (abilities spread) fails the hard kind more."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < hard_share
    texts = [
        f"{(HARD if h else EASY)[rng.integers(3)]} case {rng.integers(10_000)} ({source})"
        for h in hard
    ]
    ability = np.linspace(-0.5, 1.5, models)
    logit = ability[None, :] - np.where(hard, 2.0, -1.0)[:, None]
    y = (rng.random((n, models)) < 1 / (1 + np.exp(-logit))).astype(float)
    return outcomes_of(source, texts, y, "wordllama-256")


def test_the_difficulty_learned_on_one_table_ranks_another() -> None:
    a, b = _table("a", 400, 6, 0), _table("b", 300, 3, 1)
    d = fit_difficulty([a], c=1.0)
    scores = d.of_rows(b.vectors, b.shape)
    assert difficulty_auc(scores, b.y) > 0.7
    # without a signal in the outcomes there is nothing to learn
    blind = Outcomes(
        "n", a.texts, np.random.default_rng(2).integers(0, 2, a.y.shape) * 1.0, a.vectors, a.shape
    )
    assert difficulty_auc(fit_difficulty([blind], c=1.0).of_rows(b.vectors, b.shape), b.y) < 0.65


def test_centred_on_the_given_texts() -> None:
    d = fit_difficulty([_table("a", 300, 4, 0)], c=1.0, centre_on=EASY)
    assert abs(float(d.of_texts(EASY).mean())) < 1e-6
    assert float(d.of_texts(HARD).mean()) > 0.5


def test_the_evaluated_texts_are_left_out() -> None:
    a, b = _table("a", 200, 3, 0), _table("b", 200, 3, 1)
    # b shares a fifth of its texts with the judged table: the same benchmark, left out
    judged = a.texts[:20] + b.texts[:40]
    kept = without_texts([a, b], judged)
    assert [t.source for t in kept] == ["a"]
    assert len(kept[0].texts) == 180
    assert not set(kept[0].texts) & set(judged)
    assert kept[0].y.shape == (180, 3)


def test_transfer_judges_each_table_on_the_others() -> None:
    tables = [_table("a", 300, 4, 0), _table("b", 300, 3, 1), _table("c", 200, 5, 2)]
    rows = transfer(tables, c=1.0)
    assert [r["evaluated_on"] for r in rows] == ["a", "b", "c"]
    for r in rows:
        assert r["evaluated_on"] not in r["learned_from"]
        assert r["auc"] > 0.7  # the word carries across; so does length, a little less
        assert 0.0 <= r["auc_length"] <= 1.0
        assert 0.0 <= r["auc_shape_only"] <= 1.0


def test_the_shipped_difficulty_serves_tables_it_never_learned_from(tmp_path: Path) -> None:
    found, seen = held_out_difficulty(["a request no public table holds"], tmp_path)
    assert seen == 0
    assert found is load_difficulty()


@requires_shared_data("routellm", "gsm8k.csv.gz")
def test_a_table_of_public_texts_gets_a_difficulty_learned_without_them(tmp_path: Path) -> None:
    texts = pd.read_csv(SHARED_DATA / "routellm" / "gsm8k.csv.gz")["prompt"].astype(str)
    judged = texts.iloc[:300].tolist()
    assert load_difficulty().seen(judged) == 300
    # without the public tables it cannot be refitted: none, and how many it saw
    assert held_out_difficulty(judged, tmp_path) == (None, 300)
    found, seen = held_out_difficulty(judged, SHARED_DATA)
    assert seen == 300
    assert found is not None
    # both tables holding GSM8K's questions are left out; what is left never saw them
    assert sorted(found.meta["sources"]) == ["routellm-mmlu", "zeroeval-crux"]
    assert found.seen(judged) == 0
