"""The packaged all-MiniLM-L6-v2 (int8 ONNX) embedder on real sentences."""

from __future__ import annotations

import time

import numpy as np
import pytest

from models.embed import Embedder, load_embedder
from server.settings import Settings

pytestmark = pytest.mark.real

SENTENCES = [
    "The premium is fixed for the whole term.",
    "Your monthly payment never changes during the term.",
    "I love fishing on weekends.",
    "Hi.",
    "Would you like me to explain, in some detail, what the policy covers, what it does "
    "not cover, and how the waiting period works before a claim can be paid to your family?",
    "Pre-existing conditions are not covered in the first year.",
]


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> Embedder:
    return load_embedder(settings.cache_dir)


def test_vectors_are_384_wide_unit_rows(embedder: Embedder) -> None:
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder: Embedder) -> None:
    premium, paraphrase, fishing = embedder.embed(SENTENCES[:3])
    print(f"cosine: paraphrase {premium @ paraphrase:.3f}, unrelated {premium @ fishing:.3f}")
    assert premium @ paraphrase > premium @ fishing + 0.2


def test_a_padded_batch_gives_the_same_vectors_as_one_by_one(embedder: Embedder) -> None:
    batch = embedder.embed(SENTENCES)
    single = np.vstack([embedder.embed([s]) for s in SENTENCES])
    np.testing.assert_allclose(batch, single, atol=1e-4)


def test_a_text_past_the_token_limit_is_cut_not_rejected(embedder: Embedder) -> None:
    long = " ".join(["the premium is fixed for the whole term"] * 100)
    vector = embedder.embed([long])
    assert np.isfinite(vector).all()


def test_the_loader_returns_one_model_per_process(settings: Settings) -> None:
    assert load_embedder(settings.cache_dir) is load_embedder(settings.cache_dir)


def test_ms_per_sentence_is_reported(embedder: Embedder) -> None:
    embedder.embed(SENTENCES)  # warm-up
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for s in SENTENCES:
            embedder.embed([s])
    one_by_one = 1000 * (time.perf_counter() - start) / (rounds * len(SENTENCES))
    start = time.perf_counter()
    for _ in range(rounds):
        embedder.embed(SENTENCES)
    batched = 1000 * (time.perf_counter() - start) / (rounds * len(SENTENCES))
    print(f"minilm-l6-v2-int8: {one_by_one:.2f} ms/sentence one by one, {batched:.2f} batched")
