"""Intent of a conversation: the built-in classifier and the taxonomy of intent groups.

The classifier is TF-IDF over word 1–2-grams and character 3–5-grams (inside word
boundaries) feeding a multinomial logistic regression, trained by
``selector train-intents`` on BANKING77 and CLINC150. At run time it is plain NumPy:
the vocabulary, IDF weights and int8-quantised coefficients are read from an ``.npz``
file (no pickles) whose checksum is verified against the artifact's manifest.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.artifacts import verify_manifest
from core.errors import ArtifactError, ConfigError

__all__ = [
    "ARRAYS_FILE",
    "DEFAULT_INTENT_DIR",
    "OTHER",
    "IntentClassifier",
    "IntentTaxonomy",
    "char_wb_ngrams",
    "ngram_counts",
    "normalize_intent",
    "word_ngrams",
]

OTHER = "other"
DEFAULT_INTENT_DIR = Path(str(resources.files("features") / "artifacts" / "intent_classifier"))
ARRAYS_FILE = "intent_classifier.npz"
MAX_CHARS = 1_000

_WORD = re.compile(r"(?u)\b\w\w+\b")
_MULTISPACE = re.compile(r"\s\s+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_intent(label: str) -> str:
    """Canonical form of an intent name: lower case, runs of other characters as ``_``.

    >>> normalize_intent("Refund_not_showing_up")
    'refund_not_showing_up'
    >>> normalize_intent("reverted card payment?")
    'reverted_card_payment'
    """
    return _NOT_ALNUM.sub("_", label.lower()).strip("_")


def word_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Word n-grams exactly as scikit-learn's ``TfidfVectorizer(analyzer='word')`` makes them."""
    tokens = _WORD.findall(text.lower())
    lo, hi = ngram_range
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), hi + 1):
        # the n-grams starting at each token, the shorter ones at the end left out
        out.extend(map(" ".join, zip(*(tokens[k:] for k in range(n)), strict=False)))
    return out


def ngram_counts(grams: Iterable[str], vocab: Mapping[str, int]) -> dict[int, int]:
    """How often each of ``vocab``'s columns occurs among ``grams`` (n-grams not in it
    are left out), in the order of first occurrence.

    >>> ngram_counts(["a", "b", "a", "c"], {"a": 7, "b": 3})
    {7: 2, 3: 1}
    """
    return dict(Counter(col for col in map(vocab.get, grams) if col is not None))


def char_wb_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Character n-grams inside word boundaries, as scikit-learn's ``analyzer='char_wb'``."""
    lo, hi = ngram_range
    out: list[str] = []
    for word in _MULTISPACE.sub(" ", text.lower()).split():
        w = f" {word} "
        size = len(w)
        for n in range(lo, hi + 1):
            out.extend(w[i : i + n] for i in range(max(1, size - n + 1)))
            if size <= n:  # a word no longer than n counts once
                break
    return out


_ANALYZERS = {"word": word_ngrams, "char_wb": char_wb_ngrams}


@dataclass(frozen=True)
class _Block:
    analyzer: str
    ngram_range: tuple[int, int]
    vocab: dict[str, int]  # term -> global column


class IntentClassifier:
    """Label the last user message with one of the known intents, or ``other``."""

    def __init__(
        self,
        blocks: list[_Block],
        idf: np.ndarray,
        coef_q: np.ndarray,
        coef_scale: np.ndarray,
        intercept: np.ndarray,
        labels: list[str],
        sources: list[str],
        threshold: float,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.blocks = blocks
        self.idf = idf.astype(np.float32)
        self.coef_q = coef_q
        self.coef_scale = coef_scale.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self.labels = labels
        self.sources = sources
        self.threshold = threshold
        self.meta = meta or {}

    @classmethod
    def load(cls, folder: Path | None = None) -> IntentClassifier:
        """Load and checksum-verify an artifact folder (default: the built-in classifier)."""
        folder = folder or DEFAULT_INTENT_DIR
        meta = verify_manifest(folder, [ARRAYS_FILE])
        try:
            with np.load(folder / ARRAYS_FILE, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            blocks = []
            for spec in meta["blocks"]:
                terms = arrays[f"vocab_{spec['analyzer']}"]
                offset = int(spec["offset"])
                blocks.append(
                    _Block(
                        analyzer=spec["analyzer"],
                        ngram_range=(int(spec["ngram_range"][0]), int(spec["ngram_range"][1])),
                        vocab={str(t): offset + i for i, t in enumerate(terms)},
                    )
                )
            return cls(
                blocks=blocks,
                idf=arrays["idf"],
                coef_q=arrays["coef_q"],
                coef_scale=arrays["coef_scale"],
                intercept=arrays["intercept"],
                labels=[str(x) for x in arrays["labels"]],
                sources=[str(x) for x in arrays["sources"]],
                threshold=float(meta["threshold"]),
                meta=meta,
            )
        except (KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"intent classifier in {folder} is malformed: {exc}") from exc

    def scores(self, text: str) -> np.ndarray:
        """Class probabilities of ``text`` (softmax of the linear scores)."""
        cols: list[int] = []
        vals: list[float] = []
        for block in self.blocks:
            counts = ngram_counts(_ANALYZERS[block.analyzer](text, block.ngram_range), block.vocab)
            if not counts:
                continue
            idf = self.idf
            block_vals = [(1.0 + math.log(c)) * float(idf[col]) for col, c in counts.items()]
            norm = math.sqrt(sum(v * v for v in block_vals)) or 1.0
            cols.extend(counts)
            vals.extend(v / norm for v in block_vals)
        z = self.intercept.copy()
        if cols:
            idx = np.fromiter(cols, dtype=np.intp, count=len(cols))
            w = np.asarray(vals, dtype=np.float32) * self.coef_scale[idx]
            z += w @ self.coef_q[idx].astype(np.float32)
        z -= z.max()
        p: np.ndarray = np.exp(z)
        p /= p.sum()
        return p

    def predict(self, text: str) -> tuple[str, float]:
        """Most likely intent and its probability; ``other`` when below the threshold.

        Only the first ``MAX_CHARS`` characters are read: a support request states its
        purpose early, and the cost stays bounded whatever the message's length.
        """
        p = self.scores(text[:MAX_CHARS])
        best = int(p.argmax())
        conf = float(p[best])
        if conf < self.threshold:
            return OTHER, conf
        return self.labels[best], conf


class IntentTaxonomy:
    """Known intents, their ids in the feature vector, and their groups.

    Id 0 is always ``other``: the bucket of every intent the selector has never seen.
    """

    def __init__(self, intents: list[str], sources: list[str], groups_yaml: dict[str, Any]):
        try:
            groups: dict[str, Any] = groups_yaml["groups"]
            by_source: dict[str, str] = groups_yaml.get("by_source", {})
            default_group: str = groups_yaml["default_group"]
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"intent groups file lacks {exc}: see features/intent_groups.yaml"
            ) from exc
        if OTHER not in groups:
            raise ConfigError("intent groups file: a group named 'other' is required")
        explicit: dict[str, str] = {}
        for gname, spec in groups.items():
            for intent in (spec or {}).get("intents", []) or []:
                explicit.setdefault(normalize_intent(intent), gname)
        self.group_names: tuple[str, ...] = (OTHER, *sorted(g for g in groups if g != OTHER))
        self.intent_names: tuple[str, ...] = (OTHER, *[i for i in intents if i != OTHER])
        src = dict(zip(intents, sources, strict=True))
        self.intent_id = {name: i for i, name in enumerate(self.intent_names)}
        self.group_id = {name: i for i, name in enumerate(self.group_names)}
        group_of: dict[str, str] = {OTHER: OTHER}
        for name in self.intent_names[1:]:
            g = explicit.get(name) or by_source.get(src.get(name, "")) or default_group
            if g not in groups:
                raise ConfigError(
                    f"intent groups file: intent {name!r} maps to unknown group {g!r}"
                )
            group_of[name] = g
        self.group_of = group_of

    @classmethod
    def from_classifier(
        cls, clf: IntentClassifier, groups_path: Path | None = None
    ) -> IntentTaxonomy:
        path = groups_path or Path(str(resources.files("features") / "intent_groups.yaml"))
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read intent groups file {path}: {exc}") from exc
        return cls(clf.labels, clf.sources, raw)

    def resolve(self, intent: str) -> tuple[str, int, int]:
        """(canonical intent, intent id, group id) of an intent name from a request.

        Unknown names land in ``other``; a group name keeps its group with intent ``other``.
        """
        name = normalize_intent(intent)
        iid = self.intent_id.get(name)
        if iid is not None:
            return name, iid, self.group_id[self.group_of[name]]
        gid = self.group_id.get(name)
        if gid is not None:
            return OTHER, 0, gid
        return OTHER, 0, 0
