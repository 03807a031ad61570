from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import ArtifactError
from features.intents import (
    DEFAULT_INTENT_DIR,
    IntentClassifier,
    IntentTaxonomy,
    char_wb_ngrams,
    normalize_intent,
    word_ngrams,
)
from training.intents import export_classifier, fit_text_classifier

WORDS = [
    "card",
    "refund",
    "transfer",
    "pin",
    "lost",
    "stolen",
    "charged",
    "twice",
    "arrive",
    "cash",
    "atm",
    "fee",
    "rate",
    "top",
    "up",
]


def test_ngrams_match_scikit_learn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["Where is my   NEW card?", "I was charged twice!!", "a b", "ok"]
    for analyzer, rng, ours in (
        ("word", (1, 2), word_ngrams),
        ("char_wb", (3, 5), char_wb_ngrams),
    ):
        build = TfidfVectorizer(analyzer=analyzer, ngram_range=rng).build_analyzer()
        for t in texts:
            assert ours(t, rng) == build(t), (analyzer, t)


def test_runtime_classifier_matches_the_scikit_learn_model(tmp_path: Path) -> None:
    rnd = random.Random(0)
    labels = ["card_arrival", "request_refund", "other", "change_pin"]
    texts, ys = [], []
    for i, label in enumerate(labels):
        for _ in range(40):
            words = rnd.sample(WORDS, 4) + [WORDS[i * 3]] * 2
            texts.append(" ".join(words))
            ys.append(label)
    fitted = fit_text_classifier(texts, np.array(ys), c=5.0, min_df=(1, 1))
    export_classifier(fitted, ["banking77"] * 4, 0.0, tmp_path, metrics={})
    clf = IntentClassifier.load(tmp_path)
    from scipy.sparse import hstack

    x = hstack([v.transform(texts) for v in fitted.vectorizers]).tocsr()
    expected = fitted.model.predict_proba(x)
    ours = np.vstack([clf.scores(t) for t in texts])
    assert np.abs(ours - expected).max() < 0.02  # int8 weights
    assert (ours.argmax(1) == expected.argmax(1)).mean() > 0.99


def test_shipped_classifier_labels_support_questions() -> None:
    clf = IntentClassifier.load()
    assert clf.predict("I think someone stole my card")[0] == "lost_or_stolen_card"
    assert clf.predict("why was I charged twice for one purchase")[0] == "transaction_charged_twice"
    assert clf.meta["held_out"]["banking77"]["accuracy"] > 0.85


def test_a_corrupt_artifact_is_refused(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_INTENT_DIR, tmp_path / "clf")
    npz = tmp_path / "clf" / "intent_classifier.npz"
    data = bytearray(npz.read_bytes())
    data[1000] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        IntentClassifier.load(tmp_path / "clf")


def test_a_missing_artifact_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="MANIFEST"):
        IntentClassifier.load(tmp_path)


def test_taxonomy_puts_every_intent_in_one_group() -> None:
    clf = IntentClassifier.load()
    tax = IntentTaxonomy.from_classifier(clf)
    assert tax.intent_names[0] == "other"
    assert tax.group_names[0] == "other"
    assert set(tax.group_of.values()) <= set(tax.group_names)
    assert tax.group_of["transaction_charged_twice"] == "billing_dispute"
    assert tax.group_of["pending_transfer"] == "payments"
    assert tax.group_of["change_pin"] == "account"
    assert tax.group_of["book_flight"] == "general"
    assert tax.resolve("Something New") == ("other", 0, 0)


def test_normalize_intent() -> None:
    assert normalize_intent("  Card-Arrival ") == "card_arrival"
