"""A pretrained text representation: a request's text as a unit vector that knows words
the user's own table never showed.

A :class:`TextEmbedder` turns texts into rows of one width, each of unit length (so a
dot product is a cosine). The one shipped, ``wordllama-256``, is WordLlama's static
token embeddings (Lee Miller, MIT licence): a 32,000-token vocabulary of 256-wide
vectors distilled from large language models' input embeddings, with its tokenizer,
both inside the ``wordllama`` wheel (16 MB of ``safetensors``: plain numbers, nothing
that runs on load). A text's vector is the mean of its tokens' vectors, normalised.
Nothing is downloaded: the weights are looked up in the installed package only, and a
missing file is an error that says which.

A text longer than :data:`MAX_TOKENS` tokens keeps its last ones (the newest words of
a request), so the cost of a decision does not grow with a pasted log.

The embedder is named in a trained model's artifact, and serving loads the same one by
that name (:func:`load_embedder`): another representation is another name in
:data:`EMBEDDERS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "DEFAULT_EMBEDDER",
    "EMBEDDERS",
    "MAX_TOKENS",
    "StaticEmbedder",
    "TextEmbedder",
    "load_embedder",
]

MAX_TOKENS = 256
DEFAULT_EMBEDDER = "wordllama-256"


class TextEmbedder(Protocol):
    """Texts → unit rows of width :attr:`dim` (float32)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Texts × ``dim``; an empty text is the zero row."""
        ...

    def embed_one(self, text: str) -> np.ndarray:
        """One text's row (the serving path: no batching, no padding)."""
        ...


class StaticEmbedder:
    """Mean of static token vectors, normalised (:mod:`module doc <features.embeddings>`)."""

    def __init__(self, name: str, vectors: np.ndarray, tokenizer: Any) -> None:
        if vectors.ndim != 2 or not len(vectors):
            raise ValueError(f"{name}: the token vectors must be a vocabulary × width matrix")
        self.name = name
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(self.vectors.shape[1])
        self._tokenizer = tokenizer
        if tokenizer.get_vocab_size() > len(self.vectors):
            raise ValueError(
                f"{name}: the tokenizer knows {tokenizer.get_vocab_size()} tokens, the "
                f"vectors {len(self.vectors)}"
            )

    def _pool(self, ids: Sequence[int]) -> np.ndarray:
        ids = ids[-MAX_TOKENS:]
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        v: np.ndarray = np.add.reduce(self.vectors[ids])
        norm = float(np.sqrt(v @ v))
        return v / norm if norm > 0.0 else v

    def embed_one(self, text: str) -> np.ndarray:
        # the fast encoding skips the offsets a pooled vector does not need
        (enc,) = self._tokenizer.encode_batch_fast([text], add_special_tokens=False)
        return self._pool(enc.ids)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), 1024):
            chunk = list(texts[start : start + 1024])
            found = self._tokenizer.encode_batch_fast(chunk, add_special_tokens=False)
            for i, enc in enumerate(found):
                out[start + i] = self._pool(enc.ids)
        return out


def _wordllama(dim: int) -> StaticEmbedder:
    """WordLlama's ``l2_supercat`` vectors, the first ``dim`` of each (its training
    keeps a prefix of the width usable), from the installed wheel. The package itself
    is not imported: importing it configures the root logger."""
    import importlib.util

    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the text representation needs the 'wordllama' package: install the "
            "project's locked requirements (make install)"
        )
    home = Path(next(iter(spec.submodule_search_locations)))
    weights = home / "weights" / "l2_supercat_256.safetensors"
    tokenizer = home / "tokenizers" / "l2_supercat_tokenizer_config.json"
    for path in (weights, tokenizer):
        if not path.is_file():
            raise RuntimeError(f"the installed wordllama package has no {path.name} ({path})")
    vectors = load_file(str(weights))["embedding.weight"][:, :dim]
    tok = Tokenizer.from_file(str(tokenizer))
    tok.no_padding()
    tok.no_truncation()
    return StaticEmbedder(f"wordllama-{dim}", vectors, tok)


EMBEDDERS: dict[str, Callable[[], TextEmbedder]] = {
    "wordllama-256": lambda: _wordllama(256),
    "wordllama-64": lambda: _wordllama(64),
}


@functools.cache
def load_embedder(name: str = DEFAULT_EMBEDDER) -> TextEmbedder:
    """The embedder ``name`` (loaded once a process)."""
    try:
        make = EMBEDDERS[name]
    except KeyError:
        raise ValueError(
            f"unknown text representation {name!r}; known: {', '.join(sorted(EMBEDDERS))}"
        ) from None
    return make()
