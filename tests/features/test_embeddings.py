"""The pretrained text representation: offline, unit rows, nearer for nearer meanings."""

from __future__ import annotations

import numpy as np
import pytest

from features.embeddings import DEFAULT_EMBEDDER, MAX_TOKENS, StaticEmbedder, load_embedder


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    found = load_embedder(DEFAULT_EMBEDDER)
    assert isinstance(found, StaticEmbedder)
    return found


def test_texts_become_unit_rows_whose_cosine_follows_meaning(embedder: StaticEmbedder) -> None:
    rows = embedder.embed(
        [
            "I was charged twice for one order, please refund the second charge",
            "my card got billed two times for the same purchase",
            "what will the weather be like in Lisbon tomorrow",
        ]
    )
    assert rows.shape == (3, embedder.dim)
    assert rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    sim = rows @ rows.T
    assert sim[0, 1] > sim[0, 2] + 0.1
    assert sim[0, 1] > sim[1, 2] + 0.1


def test_one_text_and_a_batch_agree_and_an_empty_text_is_zero(embedder: StaticEmbedder) -> None:
    texts = ["reset my password", "", "how do I close my account?"]
    batch = embedder.embed(texts)
    for text, row in zip(texts, batch, strict=True):
        assert np.array_equal(embedder.embed_one(text), row)
    assert not batch[1].any()


def test_a_long_text_keeps_its_last_tokens(embedder: StaticEmbedder) -> None:
    tail = "please cancel the order I placed this morning"
    long = "lorem ipsum dolor sit amet " * 400 + tail
    tokens = embedder._tokenizer.encode(long, add_special_tokens=False).ids
    assert len(tokens) > MAX_TOKENS
    kept = embedder._pool(tokens[-MAX_TOKENS:])
    assert np.allclose(embedder.embed_one(long), kept)
    assert not np.allclose(embedder.embed_one(long), embedder.embed_one("lorem ipsum " * 50))


def test_a_prefix_of_the_width_is_its_own_representation() -> None:
    small = load_embedder("wordllama-64")
    assert small.dim == 64
    assert np.isclose(float(np.linalg.norm(small.embed_one("refund"))), 1.0, atol=1e-5)


def test_an_unknown_representation_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown text representation 'glove'.*wordllama-256"):
        load_embedder("glove")
