"""Hashed word features, the learned heads' complement to sentence embeddings: an
embedding blurs negation ("isn't really what I need" reads like "is what I need") and
single telling words ("my coffee", "my notes"); counts of words and word pairs do not."""

from __future__ import annotations

import itertools
import re
import zlib

import numpy as np
from numpy.typing import NDArray

BUCKETS = 2048
"""Hashed slots for words and word pairs."""
_TOKEN = re.compile(r"[a-z']+")


def words(text: str) -> NDArray[np.float64]:
    """Unit-length counts of the words and word pairs of ``text`` in BUCKETS hashed slots
    ("isn't" also counts as "not")."""
    tokens = _TOKEN.findall(text.lower().replace("n't", " not"))
    grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    v = np.zeros(BUCKETS)
    for g in grams:
        v[zlib.crc32(g.encode()) % BUCKETS] += 1.0
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def word_rows(texts: list[str]) -> NDArray[np.float64]:
    """``words`` of each text, one row each."""
    return np.array([words(t) for t in texts]).reshape(len(texts), BUCKETS)
