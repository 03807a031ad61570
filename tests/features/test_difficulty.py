"""The shipped request difficulty: checked on load, the same one text at a time as in a
batch, and ranking the kinds of request it learned from above support messages."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import ArtifactError
from features.difficulty import DEFAULT_DIFFICULTY_DIR, DIFFICULTY_FILE, Difficulty, load_difficulty
from tests.conftest import SHARED_DATA, requires_shared_data

SUPPORT = [
    "where is my new card",
    "I was charged twice for the same coffee, please refund one",
    "how do I change my PIN",
]
EXAM = [
    "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer:",
    "A train leaves at 3:15 pm travelling 62 miles per hour; a second leaves 40 minutes "
    "later at 75 miles per hour. At what time, to the minute, does the second catch up, "
    "and how far from the station is that?",
]


def test_the_shipped_difficulty_loads_and_names_what_it_learned_from() -> None:
    d = load_difficulty()
    assert d.embedder == "wordllama-256"
    assert len(d.weights) == d.representation.dim
    assert set(d.meta["sources"]) >= {"routellm-mmlu", "zeroeval-crux"}
    # each transfer row judges a table on a difficulty learned without it
    for row in d.meta["transfer"]:
        assert row["evaluated_on"] not in row["learned_from"]


def test_one_text_at_a_time_equals_the_batch() -> None:
    d = load_difficulty()
    texts = SUPPORT + EXAM + [""]
    batch = d.of_texts(texts)
    assert np.allclose(batch, [d.of_text(t) for t in texts], atol=1e-5)


def test_exam_questions_are_harder_than_support_messages() -> None:
    d = load_difficulty()
    assert min(d.of_texts(EXAM)) > max(d.of_texts(SUPPORT))


@requires_shared_data("intents", "banking77_test.csv")
def test_support_messages_centre_on_zero() -> None:
    path = SHARED_DATA / "intents" / "banking77_test.csv"
    with path.open(encoding="utf-8", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    values = load_difficulty().of_texts(texts)
    # centred on BANKING77's training messages: its test messages sit near 0
    assert abs(float(np.median(values))) < 0.25


def test_a_changed_artifact_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "difficulty"
    shutil.copytree(DEFAULT_DIFFICULTY_DIR, folder)
    with (folder / DIFFICULTY_FILE).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ArtifactError, match="checksum"):
        load_difficulty(folder)


def test_saved_and_loaded_it_is_the_same(tmp_path: Path) -> None:
    d = load_difficulty()
    copy = Difficulty(
        d.embedder, d.weights, d.shape_weights, d.shape_mean, d.shape_std, d.centre, d.meta
    )
    folder = copy.save(tmp_path / "again")
    again = load_difficulty(folder)
    assert np.allclose(again.of_texts(EXAM + SUPPORT), d.of_texts(EXAM + SUPPORT))


def test_a_difficulty_of_the_wrong_width_is_refused() -> None:
    d = load_difficulty()
    with pytest.raises(ValueError, match="shape_weights"):
        Difficulty(d.embedder, d.weights, d.shape_weights[:3], d.shape_mean, d.shape_std)
    short = Difficulty(d.embedder, d.weights[:10], d.shape_weights, d.shape_mean, d.shape_std)
    with pytest.raises(ValueError, match="10 weights"):
        short.of_text("hello")
