"""Train the built-in intent classifier on BANKING77 and CLINC150 and export it.

Data (read from ``../shared/data/intents`` by default):

- BANKING77 ``banking77_train.csv`` / ``banking77_test.csv`` (text, category), 77 intents;
- CLINC150 ``clinc150_data_full.json``: ``train`` + ``val`` for training, ``test`` held out;
  its out-of-scope utterances (``oos_*``) are the ``other`` class.

Held-out accuracy is measured on BANKING77's test split and CLINC150's test split
(in-scope, and the recall of ``other`` on its out-of-scope test set), and is written
into the artifact's manifest and printed.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.artifacts import save_arrays, write_manifest
from features.intents import ARRAYS_FILE, OTHER, IntentClassifier, normalize_intent

__all__ = [
    "IntentCorpus",
    "choose_threshold",
    "evaluate",
    "export_classifier",
    "fit_text_classifier",
    "load_corpus",
    "train_and_export",
    "train_classifier",
]

Example = tuple[str, str, str]  # text, intent, source


@dataclass
class IntentCorpus:
    train: list[Example] = field(default_factory=list)
    tests: dict[str, list[Example]] = field(default_factory=dict)


def load_corpus(data_dir: Path) -> IntentCorpus:
    """Read BANKING77 and CLINC150 from ``data_dir`` (the shared ``intents/`` folder)."""
    corpus = IntentCorpus()

    def banking(name: str) -> list[Example]:
        with (data_dir / name).open(encoding="utf-8", newline="") as f:
            return [
                (row["text"], normalize_intent(row["category"]), "banking77")
                for row in csv.DictReader(f)
            ]

    corpus.train += banking("banking77_train.csv")
    corpus.tests["banking77"] = banking("banking77_test.csv")
    clinc = json.loads((data_dir / "clinc150_data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((data_dir / "clinc150_domains.json").read_text(encoding="utf-8"))
    domain_of = {normalize_intent(i): d for d, intents in domains.items() for i in intents}

    def clinc_rows(split: str) -> list[Example]:
        out = []
        for text, label in clinc[split]:
            intent = normalize_intent(label)
            if intent == "oos":
                out.append((text, OTHER, "clinc150/oos"))
            else:
                out.append((text, intent, f"clinc150/{domain_of.get(intent, 'unknown')}"))
        return out

    corpus.train += clinc_rows("train") + clinc_rows("val")
    corpus.train += clinc_rows("oos_train") + clinc_rows("oos_val")
    corpus.tests["clinc150"] = clinc_rows("test")
    corpus.tests["clinc150_oos"] = clinc_rows("oos_test")
    return corpus


@dataclass
class FittedClassifier:
    vectorizers: list[Any]
    model: Any


def fit_text_classifier(
    texts: Sequence[str], labels: Any, c: float, min_df: tuple[int, int]
) -> FittedClassifier:
    """Word and character n-gram TF-IDF, then a logistic regression with ``C=c``."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vecs = [
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df[0]),
        TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=min_df[1]
        ),
    ]
    x = hstack([v.fit_transform(texts) for v in vecs]).tocsr()
    model = LogisticRegression(C=c, max_iter=300).fit(x, list(labels))
    return FittedClassifier(vecs, model)


def choose_threshold(probs: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> float:
    """Confidence below which a prediction becomes ``other``, maximising accuracy."""
    best_t, best_acc = 0.0, -1.0
    for t in np.linspace(0.0, 0.6, 61):
        labelled = np.where(probs.max(axis=1) < t, OTHER, pred)
        acc = float(np.mean(labelled == truth))
        if acc > best_acc + 1e-9:
            best_t, best_acc = float(t), acc
    return best_t


def train_classifier(
    train: Sequence[Example],
    *,
    c: float = 20.0,
    min_df: tuple[int, int] = (3, 15),
    validation_share: float = 0.1,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _msg: None,
) -> tuple[FittedClassifier, float, list[str]]:
    """Fit the classifier; pick the ``other`` threshold on a validation split of ``train``."""
    texts = [t for t, _, _ in train]
    labels = np.array([y for _, y, _ in train])
    sources: dict[str, str] = {}
    for _, y, s in train:
        sources.setdefault(y, s)
    threshold = 0.0
    if validation_share > 0:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(texts))
        n_val = int(len(texts) * validation_share)
        val, fit_idx = order[:n_val], order[n_val:]
        progress(f"fitting on {len(fit_idx)} examples to choose the 'other' threshold")
        tmp = fit_text_classifier([texts[i] for i in fit_idx], labels[fit_idx], c, min_df)
        clf_tmp = export_in_memory(tmp, sources, threshold=0.0)
        probs = np.vstack([clf_tmp.scores(texts[i]) for i in val])
        pred = np.array(clf_tmp.labels)[probs.argmax(axis=1)]
        threshold = choose_threshold(probs, pred, labels[val])
    progress(f"fitting on all {len(texts)} examples")
    fitted = fit_text_classifier(texts, labels, c, min_df)
    return fitted, threshold, [sources[label] for label in fitted.model.classes_]


def _arrays(
    fitted: FittedClassifier, sources: dict[str, str] | list[str]
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    model = fitted.model
    classes = [str(c) for c in model.classes_]
    coef = np.asarray(model.coef_, dtype=np.float32).T  # features x classes
    intercept = np.asarray(model.intercept_, dtype=np.float32)
    if coef.shape[1] == 1:  # binary problem: expand to two columns for a softmax
        coef = np.hstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2], dtype=np.float32)
    scale = np.abs(coef).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    coef_q = np.round(coef / scale[:, None]).astype(np.int8)
    arrays: dict[str, np.ndarray] = {
        "coef_q": coef_q,
        "coef_scale": scale.astype(np.float32),
        "intercept": intercept,
        "labels": np.array(classes),
        "sources": np.array(
            [sources[c] for c in classes] if isinstance(sources, dict) else list(sources)
        ),
    }
    blocks = []
    idfs = []
    offset = 0
    for vec in fitted.vectorizers:
        terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        arrays[f"vocab_{vec.analyzer}"] = np.array(terms)
        idfs.append(np.asarray(vec.idf_, dtype=np.float32))
        blocks.append(
            {"analyzer": vec.analyzer, "ngram_range": list(vec.ngram_range), "offset": offset}
        )
        offset += len(terms)
    arrays["idf"] = np.concatenate(idfs)
    return arrays, blocks


def export_in_memory(
    fitted: FittedClassifier, sources: dict[str, str] | list[str], threshold: float
) -> IntentClassifier:
    """The run-time classifier of a fitted pipeline, without writing files."""
    with tempfile.TemporaryDirectory() as tmp:
        export_classifier(fitted, sources, threshold, Path(tmp), metrics={})
        return IntentClassifier.load(Path(tmp))


def export_classifier(
    fitted: FittedClassifier,
    sources: dict[str, str] | list[str],
    threshold: float,
    out_dir: Path,
    metrics: dict[str, Any],
) -> Path:
    """Write the artifact: ``intent_classifier.npz`` (no pickles) and ``MANIFEST.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays, blocks = _arrays(fitted, sources)
    save_arrays(out_dir / ARRAYS_FILE, arrays)
    meta = {
        "kind": "intent_classifier",
        "blocks": blocks,
        "threshold": threshold,
        "n_intents": len(arrays["labels"]),
        "n_features": int(arrays["idf"].shape[0]),
        "held_out": metrics,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return write_manifest(out_dir, [ARRAYS_FILE], meta)


def evaluate(clf: IntentClassifier, tests: dict[str, list[Example]]) -> dict[str, Any]:
    """Held-out accuracy per test set (for ``*_oos`` sets: the recall of ``other``)."""
    out: dict[str, Any] = {}
    for name, rows in tests.items():
        hits = sum(clf.predict(text)[0] == y for text, y, _ in rows)
        out[name] = {"n": len(rows), "accuracy": round(hits / max(len(rows), 1), 4)}
    return out


def train_and_export(
    data_dir: Path, out_dir: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train on the shared intent data, export to ``out_dir``, return held-out metrics."""
    corpus = load_corpus(data_dir)
    t0 = time.perf_counter()
    fitted, threshold, sources = train_classifier(corpus.train, progress=progress)
    clf = export_in_memory(fitted, sources, threshold)
    progress(f"trained in {time.perf_counter() - t0:.0f} s; evaluating on the held-out splits")
    metrics = evaluate(clf, corpus.tests)
    metrics["threshold"] = threshold
    metrics["train_examples"] = len(corpus.train)
    export_classifier(fitted, sources, threshold, out_dir, metrics)
    return metrics
