"""How hard a request is, from its text alone: a difficulty learned from public outcome
tables (many models × many questions), shipped with the project so that a first
quality model, and the cold-start prior, know which requests are hard before any
outcome of the user's arrives.

The difficulty is the item parameter of a one-parameter item-response model whose
items are described by their text (an explanatory IRT model): for model ``m`` of
source ``s`` and request ``i``,

    logit P(correct) = ability[s, m] − difficulty(text_i)
    difficulty(text) = w · embedding(text) + v · z(log(1 + shape(text))) − centre

with the embedding of :mod:`features.embeddings`, the text's structural counts of
:mod:`features.text` standardised (``z``), and ``centre`` the mean difficulty of a
typical customer-support message (so 0 is "an ordinary support request", and one unit
is one unit of log-odds of success for any model). ``training.difficulty`` fits it and
measures how well it transfers from some public sources to another.

The artifact (``features/artifacts/difficulty/``) is a NumPy ``.npz`` without pickles
checked against its manifest's SHA-256; a trained quality model stores its own copy
(:meth:`Difficulty.arrays`), so serving reads the difficulty its model learned with.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from core.artifacts import save_arrays, verify_manifest, write_manifest
from core.errors import ArtifactError
from features.embeddings import TextEmbedder, load_embedder
from features.text import TEXT_FEATURES, text_features

__all__ = [
    "DEFAULT_DIFFICULTY_DIR",
    "DIFFICULTY_FILE",
    "Difficulty",
    "load_difficulty",
    "text_hashes",
]

DIFFICULTY_FILE = "difficulty.npz"
DEFAULT_DIFFICULTY_DIR = Path(str(resources.files("features") / "artifacts" / "difficulty"))


@dataclass
class Difficulty:
    """A fitted difficulty (:mod:`module doc <features.difficulty>`): the weights of the
    embedding (``weights``) and of the standardised shape counts (``shape_weights``,
    with their ``shape_mean`` and ``shape_std``), and the ``centre`` subtracted."""

    embedder: str
    weights: np.ndarray
    shape_weights: np.ndarray
    shape_mean: np.ndarray
    shape_std: np.ndarray
    centre: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    # a hash of each text it learned from (:func:`text_hashes`): which requests it has seen
    learned: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def __post_init__(self) -> None:
        n = len(TEXT_FEATURES)
        for name in ("shape_weights", "shape_mean", "shape_std"):
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(f"difficulty: {name} must hold {n} numbers")
        if np.ndim(self.weights) != 1:
            raise ValueError("difficulty: weights must be one row of the embedding's width")
        self._embedder: TextEmbedder | None = None
        self._folded: tuple[np.ndarray, np.ndarray, float] | None = None

    @property
    def representation(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.embedder)
            if self._embedder.dim != len(self.weights):
                raise ValueError(
                    f"difficulty: {len(self.weights)} weights for {self.embedder}'s "
                    f"{self._embedder.dim} dimensions"
                )
        return self._embedder

    def _fold(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The weights with the shape counts' standardisation folded in: the embedding's
        weights, the log counts' weights and the offset they leave (before ``centre``)."""
        if self._folded is None:
            scaled = self.shape_weights / self.shape_std
            self._folded = (self.weights, scaled, -float(self.shape_mean @ scaled))
        return self._folded

    def of_rows(self, vectors: np.ndarray, shape: np.ndarray) -> np.ndarray:
        """Difficulty of texts given as their embeddings (texts × width) and raw shape
        counts (texts × :data:`~features.text.TEXT_FEATURES`)."""
        weights, scaled, offset = self._fold()
        logs = np.log1p(np.maximum(shape, 0.0))
        out: np.ndarray = vectors @ weights + logs @ scaled + (offset - self.centre)
        return out

    def of_vector(self, vector: np.ndarray, shape: Sequence[float]) -> float:
        """One text's difficulty from its embedding and raw shape counts (the serving
        path: two dot products)."""
        weights, scaled, offset = self._fold()
        logs = np.log1p(np.maximum(shape, 0.0))
        return float(vector @ weights) + float(logs @ scaled) + offset - self.centre

    def of_texts(self, texts: Sequence[str]) -> np.ndarray:
        shape = np.array([text_features(t) for t in texts], dtype=float)
        return self.of_rows(self.representation.embed(texts), shape.reshape(len(texts), -1))

    def of_text(self, text: str) -> float:
        """One text's difficulty."""
        return self.of_vector(self.representation.embed_one(text), text_features(text))

    def seen(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` it learned from."""
        return int(np.isin(text_hashes(texts), self.learned).sum())

    # -- files -------------------------------------------------------------------------
    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {
            f"{prefix}weights": np.asarray(self.weights, float),
            f"{prefix}shape_weights": np.asarray(self.shape_weights, float),
            f"{prefix}shape_mean": np.asarray(self.shape_mean, float),
            f"{prefix}shape_std": np.asarray(self.shape_std, float),
        }

    def spec(self) -> dict[str, Any]:
        return {"embedder": self.embedder, "centre": self.centre, "meta": self.meta}

    @classmethod
    def from_files(
        cls, spec: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str = ""
    ) -> Difficulty:
        """The difficulty :meth:`spec` and :meth:`arrays` describe (KeyError, ValueError
        when they do not fit together)."""
        return cls(
            str(spec["embedder"]),
            np.asarray(arrays[f"{prefix}weights"], float),
            np.asarray(arrays[f"{prefix}shape_weights"], float),
            np.asarray(arrays[f"{prefix}shape_mean"], float),
            np.asarray(arrays[f"{prefix}shape_std"], float),
            float(spec["centre"]),
            dict(spec.get("meta") or {}),
        )

    def save(self, folder: Path) -> Path:
        """Write the artifact (``difficulty.npz`` and a manifest) to ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        save_arrays(folder / DIFFICULTY_FILE, {"learned": self.learned, **self.arrays()})
        write_manifest(folder, [DIFFICULTY_FILE], {"kind": "difficulty", **self.spec()})
        return folder


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each text (BLAKE2b of its UTF-8), to tell which were learned from
    without keeping them."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big") for t in texts],
        dtype=np.uint64,
    )


@functools.cache
def load_difficulty(folder: Path | None = None) -> Difficulty:
    """The difficulty saved in ``folder`` (default: the one shipped), checked against its
    manifest; loaded once a process."""
    folder = folder or DEFAULT_DIFFICULTY_DIR
    meta = verify_manifest(folder, [DIFFICULTY_FILE])
    try:
        with np.load(folder / DIFFICULTY_FILE, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        found = Difficulty.from_files(meta, arrays)
        found.learned = np.asarray(arrays["learned"], dtype=np.uint64)
        return found
    except (KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"difficulty in {folder} is malformed: {exc}") from exc
