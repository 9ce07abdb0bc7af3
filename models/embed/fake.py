"""FakeEmbedder: deterministic vectors from hashed words, or scripted vectors per text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from models.embed.base import Embedder

_WORD = re.compile(r"[a-z0-9']+")


class FakeEmbedder(Embedder):
    """Each word maps to a fixed pseudo-random vector; a text is the sum of its words'.

    Texts sharing words are therefore similar and unrelated texts nearly orthogonal, the
    same in every process. ``vectors`` pins exact texts to given vectors (normalised).
    """

    name = "fake"

    def __init__(self, dim: int = 64, vectors: Mapping[str, Sequence[float]] | None = None):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim = dim
        self._vectors = {t: np.asarray(v, dtype=np.float64) for t, v in (vectors or {}).items()}
        for text, v in self._vectors.items():
            if v.shape != (dim,):
                raise ValueError(f"scripted vector for {text!r} has shape {v.shape}, not ({dim},)")

    @property
    def dim(self) -> int:
        return self._dim

    def _word_vector(self, word: str) -> NDArray[np.float64]:
        seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        return np.random.default_rng(seed).standard_normal(self._dim)

    def _text_vector(self, text: str) -> NDArray[np.float64]:
        scripted = self._vectors.get(text)
        if scripted is not None:
            return scripted
        # A text without words still gets a (stable) vector of its own.
        words = _WORD.findall(text.lower()) or [f"\0{text}"]
        total: NDArray[np.float64] = np.sum([self._word_vector(w) for w in words], axis=0)
        return total

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return np.stack([self._text_vector(t) for t in texts])
