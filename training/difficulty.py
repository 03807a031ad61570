"""Fit the shipped request difficulty (:mod:`features.difficulty`) on the public outcome
tables, and measure how well it transfers to a table it never saw.

The fit is one logistic regression over every known outcome of every public table:
a column per (source, model) for the model's ability on that source, and the text's
embedding and standardised shape counts, whose weights (negated) are the difficulty.
Each outcome weighs ``1 / √n`` where ``n`` is the number of models tried on its request,
so a request answered by 44 models does not count 22 times as much as one answered by
two. The regularisation ``C`` is chosen from :data:`CS` by the transfer measurement
below, and the difficulty is centred on BANKING77's customer-support messages.

**Transfer** (:func:`transfer`): for each public table, the difficulty is fitted on the
others, without any request whose text the evaluated table holds (a table sharing
more than :data:`OVERLAP_SHARE` of its texts, the same benchmark under another name, is
left out whole), and scored on the evaluated table: the AUC with which a higher
difficulty marks a failure, per model, averaged over its models, beside the same fit
without the embedding and the AUC of the text's length alone.

``selector evaluate`` uses :func:`held_out_difficulty`: the shipped difficulty when it
learned from none of the evaluated table's texts (it keeps a hash of each), else the
same fit without them, so no figure it reports has seen its own requests' outcomes.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.difficulty import DEFAULT_DIFFICULTY_DIR, Difficulty, load_difficulty, text_hashes
from features.embeddings import DEFAULT_EMBEDDER, load_embedder
from features.text import text_features
from training.data import DEFAULT_DATA_DIR, load_source

__all__ = [
    "CS",
    "OVERLAP_SHARE",
    "PUBLIC_SOURCES",
    "Outcomes",
    "build_difficulty",
    "difficulty_auc",
    "fit_difficulty",
    "held_out_difficulty",
    "outcome_tables",
    "outcomes_of",
    "transfer",
    "without_texts",
]

PUBLIC_SOURCES = ("routellm-mmlu", "routellm-gsm8k", "zeroeval-gsm", "zeroeval-crux")
CS: tuple[float, ...] = (0.01, 0.1)
OVERLAP_SHARE = 0.1


@dataclass
class Outcomes:
    """One table as the fit reads it: texts, their embeddings and shape counts, and the
    outcomes (requests × models, NaN where a model was not tried)."""

    source: str
    texts: list[str]
    y: np.ndarray
    vectors: np.ndarray
    shape: np.ndarray

    def subset(self, keep: np.ndarray) -> Outcomes:
        texts = [t for t, k in zip(self.texts, keep, strict=True) if k]
        return Outcomes(self.source, texts, self.y[keep], self.vectors[keep], self.shape[keep])


def outcomes_of(source: str, texts: list[str], y: np.ndarray, embedder: str) -> Outcomes:
    """A table's texts and outcomes (requests × models), embedded by ``embedder``."""
    vectors = load_embedder(embedder).embed(texts)
    shape = np.array([text_features(t) for t in texts], dtype=float).reshape(len(texts), -1)
    return Outcomes(source, texts, y, vectors, shape)


def outcome_tables(
    data_dir: Path = DEFAULT_DATA_DIR,
    sources: Sequence[str] = PUBLIC_SOURCES,
    embedder: str = DEFAULT_EMBEDDER,
) -> list[Outcomes]:
    """The public ``sources`` from ``data_dir``, embedded."""
    out = []
    for name in sources:
        data = load_source(name, data_dir)
        texts = data.requests["text"].fillna("").astype(str).tolist()
        out.append(outcomes_of(data.source, texts, data.matrix().to_numpy(float), embedder))
    return out


def without_texts(tables: Sequence[Outcomes], texts: Sequence[str]) -> list[Outcomes]:
    """``tables`` without any request whose text is among ``texts``; a table sharing
    more than :data:`OVERLAP_SHARE` of its texts is left out whole."""
    seen = set(texts)
    out = []
    for t in tables:
        shared = np.array([x in seen for x in t.texts], dtype=bool)
        if shared.mean() > OVERLAP_SHARE:
            continue
        out.append(t.subset(~shared) if shared.any() else t)
    return out


def fit_difficulty(
    tables: Sequence[Outcomes],
    c: float = 1.0,
    embedder: str = DEFAULT_EMBEDDER,
    centre_on: Sequence[str] = (),
) -> Difficulty:
    """The difficulty of :mod:`this module <training.difficulty>`, fitted on ``tables``
    and centred on the texts ``centre_on`` (else on the tables' requests)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    if not tables:
        raise ValueError("no outcome table to learn a difficulty from")
    logs = np.log1p(np.maximum(np.vstack([t.shape for t in tables]), 0.0))
    mean, std = logs.mean(axis=0), logs.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    blocks, ability, labels, weights = [], [], [], []
    first = 0
    for t in tables:
        req, mod = np.nonzero(~np.isnan(t.y))
        tried = (~np.isnan(t.y)).sum(axis=1)
        z = (np.log1p(np.maximum(t.shape, 0.0)) - mean) / std
        blocks.append(np.hstack([t.vectors, z])[req])
        ability.append(first + mod)
        labels.append(t.y[req, mod])
        weights.append(1.0 / np.sqrt(tried[req]))
        first += t.y.shape[1]
    cols = np.concatenate(ability)
    onehot = sparse.csr_matrix((np.ones(len(cols)), (np.arange(len(cols)), cols)))
    x = sparse.hstack([sparse.csr_matrix(np.vstack(blocks)), onehot]).tocsr()
    y, w = np.concatenate(labels), np.concatenate(weights)
    fit = LogisticRegression(C=c, fit_intercept=False, max_iter=3000)
    fit.fit(x, (y > 0.5).astype(int), sample_weight=w / w.mean())
    width = tables[0].vectors.shape[1]
    coef = -fit.coef_[0]
    model = Difficulty(embedder, coef[:width], coef[width : width + len(mean)], mean, std)
    model.learned = np.unique(np.concatenate([text_hashes(t.texts) for t in tables]))
    if centre_on:
        model.centre = float(model.of_texts(list(centre_on)).mean())
    else:
        model.centre = float(
            np.mean(np.concatenate([model.of_rows(t.vectors, t.shape) for t in tables]))
        )
    return model


def difficulty_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Mean over models (columns of ``y`` with both outcomes) of the AUC with which a
    higher score marks a failure; NaN when no model has both."""
    from sklearn.metrics import roc_auc_score

    aucs = []
    for j in range(y.shape[1]):
        known = ~np.isnan(y[:, j])
        ok = y[known, j] > 0.5
        if 0 < ok.sum() < len(ok):
            aucs.append(roc_auc_score(~ok, scores[known]))
    return float(np.mean(aucs)) if aucs else float("nan")


def _shape_only(t: Outcomes) -> Outcomes:
    """``t`` with its embeddings zeroed: what the shape counts alone learn."""
    return Outcomes(t.source, t.texts, t.y, np.zeros_like(t.vectors), t.shape)


def transfer(tables: Sequence[Outcomes], c: float = 1.0) -> list[dict[str, Any]]:
    """For each table, the difficulty fitted on the others (without its texts) scored on
    it, beside the same fit on the shape counts alone and the text's length alone
    (:mod:`module doc <training.difficulty>`)."""
    rows = []
    for i, held in enumerate(tables):
        others = without_texts([t for j, t in enumerate(tables) if j != i], held.texts)
        if not others:
            continue
        model = fit_difficulty(others, c, centre_on=())
        blind = fit_difficulty([_shape_only(t) for t in others], c, centre_on=())
        rows.append(
            {
                "evaluated_on": held.source,
                "learned_from": [t.source for t in others],
                "auc": round(difficulty_auc(model.of_rows(held.vectors, held.shape), held.y), 4),
                "auc_shape_only": round(
                    difficulty_auc(blind.of_rows(held.vectors, held.shape), held.y), 4
                ),
                "auc_length": round(difficulty_auc(held.shape[:, 0], held.y), 4),
            }
        )
    return rows


def _support_texts(data_dir: Path) -> list[str]:
    """BANKING77's training messages: what an ordinary support request reads like."""
    path = data_dir / "intents" / "banking77_train.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


def build_difficulty(
    data_dir: Path = DEFAULT_DATA_DIR,
    out: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Choose ``C`` by transfer, fit on every public table, centre on support messages,
    write the artifact to ``out`` (default: the shipped one's folder); its manifest's
    description, with the transfer table, is returned."""
    progress(f"reading and embedding {', '.join(PUBLIC_SOURCES)}")
    tables = outcome_tables(data_dir)
    best: tuple[float, float, list[dict[str, Any]]] | None = None
    for c in CS:
        progress(f"transfer to each table from the others, C={c}")
        rows = transfer(tables, c)
        score = float(np.mean([r["auc"] for r in rows]))
        if best is None or score > best[0]:
            best = (score, c, rows)
    assert best is not None
    _, c, rows = best
    progress(f"fitting on every table, C={c}")
    support = _support_texts(data_dir)
    model = fit_difficulty(tables, c, centre_on=support)
    model.meta = {
        "sources": [t.source for t in tables],
        "c": c,
        "centred_on": "BANKING77 train" if support else "the tables' requests",
        "transfer": rows,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    model.save(out or DEFAULT_DIFFICULTY_DIR)
    return model.spec()


def held_out_difficulty(
    texts: Sequence[str], data_dir: Path = DEFAULT_DATA_DIR
) -> tuple[Difficulty | None, int]:
    """A difficulty that learned from none of ``texts`` (the evaluated table's), and how
    many of them the shipped one learned from: the shipped one when it learned from
    none, else the same fit without them from the public tables in ``data_dir`` (None
    when they are not there)."""
    shipped = load_difficulty()
    seen = shipped.seen(texts)
    if not seen:
        return shipped, 0
    if not all((data_dir / folder).is_dir() for folder in ("routellm", "zeroeval")):
        return None, seen
    kept = without_texts(outcome_tables(data_dir), texts)
    if not kept:
        return None, seen
    c = float(shipped.meta.get("c", 1.0))
    model = fit_difficulty(kept, c, centre_on=_support_texts(data_dir))
    model.meta = {"sources": [t.source for t in kept], "c": c, "held_out": True}
    return model, seen
