"""The shipped intent classifier, measured again on the held-out shared data."""

from __future__ import annotations

from features.intents import IntentClassifier
from tests.conftest import SHARED_DATA, requires_shared_data
from training.intents import evaluate, load_corpus


@requires_shared_data("intents", "banking77_test.csv")
def test_held_out_accuracy_is_what_the_artifact_reports() -> None:
    corpus = load_corpus(SHARED_DATA / "intents")
    clf = IntentClassifier.load()
    measured = evaluate(clf, corpus.tests)
    reported = clf.meta["held_out"]
    for split in ("banking77", "clinc150", "clinc150_oos"):
        assert measured[split] == reported[split], split
    assert measured["banking77"]["accuracy"] >= 0.88
    assert measured["clinc150"]["accuracy"] >= 0.90


@requires_shared_data("intents", "banking77_train.csv")
def test_corpus_holds_both_datasets_and_out_of_scope() -> None:
    corpus = load_corpus(SHARED_DATA / "intents")
    labels = {y for _, y, _ in corpus.train}
    sources = {s for _, _, s in corpus.train}
    assert len(labels) == 77 + 150 - 1 + 1  # exchange_rate is in both; plus 'other'
    assert {"banking77", "clinc150/oos", "clinc150/travel"} <= sources
    assert len(corpus.tests["banking77"]) == 3080
    assert len(corpus.tests["clinc150"]) == 4500
    assert all(y == "other" for _, y, _ in corpus.tests["clinc150_oos"])


def test_threshold_choice_maximises_accuracy() -> None:
    import numpy as np

    from training.intents import choose_threshold

    probs = np.array([[0.9, 0.1], [0.45, 0.55], [0.1, 0.9]])
    pred = np.array(["a", "b", "b"])
    truth = np.array(["a", "other", "b"])
    t = choose_threshold(probs, pred, truth)
    assert 0.55 < t <= 0.6  # the lowest threshold that sends the unsure one to 'other'
    assert choose_threshold(probs, pred, np.array(["a", "b", "b"])) == 0.0
