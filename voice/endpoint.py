"""The turn-completion head: how likely is a partial transcript a finished turn?

The turn detector asks it at each pause so the hang-over can follow the words: short
when the caller has clearly finished ("What does it cost?"), long when they stopped
mid-phrase ("I'd like to know about"). Whisper tiny.en often puts a period after an
unfinished phrase, so punctuation alone cannot say; the head reads a logistic regression
over [MiniLM embedding of the partial, hashed last one to three words, punctuation and
length flags]. A few milliseconds a call (one embedding).

The head is a versioned artefact like the thought head (JSON: classes, weights, the
embedder it was trained on, the sha256 of its weights), trained by ``optimizer.turn_head``.
"""

from __future__ import annotations

import json
import re
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agent.claim_head import read_head_file, softmax
from agent.thought_head import FieldHead, heads_sha256
from models.embed import Embedder, load_embedder
from models.errors import ConfigError, IntegrityError

DEFAULT = Path(__file__).parent / "heads" / "turn.json"
TRAIN_COMMAND = "salesvoice turns train"
FIELD = "complete"
CLASSES = ["incomplete", "complete"]
TAIL_BUCKETS = 1024
"""Hashed slots for the last word, the last two and the last three: an embedding of
"I'd like to know about" is close to the finished question, its last word is not."""
_TOKEN = re.compile(r"[a-z0-9']+")
_FLAGS = ("?", ".", "!", ",", "...", "-", "none", "1w", "2w", "3-4w", "5-8w", "9+w")
NO_WORDS = 0.5
"""The probability of a partial without words: no evidence either way."""


def _final_mark(text: str) -> str:
    text = text.rstrip(" \"')")
    if text.endswith(("...", "…")):
        return "..."
    if text.endswith((",", ";", ":")):
        return ","
    if text and text[-1] in "?.!-":
        return text[-1]
    return "none"


def _length_flag(n: int) -> str:
    return "1w" if n <= 1 else "2w" if n == 2 else "3-4w" if n <= 4 else "5-8w" if n <= 8 \
        else "9+w"


def tail(text: str) -> NDArray[np.float64]:
    """The cheap half of the features: hashed last 1-3 words (unit length), then one
    flag each for the final mark and the length in words."""
    tokens = _TOKEN.findall(text.lower())
    grams = [f"{n}:{' '.join(tokens[-n:])}" for n in (1, 2, 3) if len(tokens) >= n]
    v = np.zeros(TAIL_BUCKETS + len(_FLAGS))
    for g in grams:
        v[zlib.crc32(g.encode()) % TAIL_BUCKETS] = 1.0
    norm = float(np.linalg.norm(v[:TAIL_BUCKETS]))
    if norm:
        v[:TAIL_BUCKETS] /= norm
    v[TAIL_BUCKETS + _FLAGS.index(_final_mark(text))] = 1.0
    v[TAIL_BUCKETS + _FLAGS.index(_length_flag(len(tokens)))] = 1.0
    return v


def features(embedder: Embedder, texts: list[str]) -> NDArray[np.float64]:
    """[embedding, tail], one row per text."""
    emb = embedder.embed(texts).astype(np.float64)
    return np.concatenate([emb, np.array([tail(t) for t in texts])], axis=1)


def width(embedder: Embedder) -> int:
    return embedder.dim + TAIL_BUCKETS + len(_FLAGS)


class TurnHead:
    """P(the partial transcript is a finished turn)."""

    def __init__(self, embedder: Embedder, head: FieldHead,
                 meta: dict[str, Any] | None = None) -> None:
        if head.classes != CLASSES:
            raise ConfigError(f"turn head classes {head.classes} are not {CLASSES}")
        if head.weights.shape != (2, width(embedder)) or head.bias.shape != (2,):
            raise ConfigError(f"turn head shape {head.weights.shape} does not fit 2 classes "
                              f"by {width(embedder)} features")
        self.embedder = embedder
        self.head = head
        self.meta = meta or {}

    def scores(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(complete) for feature rows ``x``."""
        p: NDArray[np.float64] = softmax(x @ self.head.weights.T + self.head.bias)[:, 1]
        return p

    def probabilities(self, texts: list[str]) -> NDArray[np.float64]:
        """P(complete) per text (NO_WORDS for a text without words)."""
        out = np.full(len(texts), NO_WORDS)
        worded = [i for i, t in enumerate(texts) if _TOKEN.search(t.lower())]
        if worded:
            out[worded] = self.scores(features(self.embedder, [texts[i] for i in worded]))
        return out

    def probability(self, text: str) -> float:
        """P(``text`` is a finished turn)."""
        return float(self.probabilities([text])[0])

    def save(self, path: Path) -> None:
        self.meta["sha256"] = heads_sha256({FIELD: self.head})
        body = {**self.meta, "fields": {FIELD: {
            "classes": self.head.classes, "weights": np.round(self.head.weights, 6).tolist(),
            "bias": np.round(self.head.bias, 6).tolist()}}}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body) + "\n")


def load_turn_head(path: Path = DEFAULT, embedder: Embedder | None = None) -> TurnHead:
    """A head file, its weights checked against the sha256 it was saved with."""
    body = read_head_file(path, "turn head", TRAIN_COMMAND)
    try:
        f = body["fields"][FIELD]
        head = FieldHead([str(c) for c in f["classes"]],
                         np.asarray(f["weights"], dtype=np.float64),
                         np.asarray(f["bias"], dtype=np.float64))
        stamped = str(body["sha256"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"turn head {path} is malformed: {exc!r}") from None
    if heads_sha256({FIELD: head}) != stamped:
        raise IntegrityError(f"turn head {path}: weights do not match their sha256 {stamped}")
    meta = {k: v for k, v in body.items() if k != "fields"}
    return TurnHead(embedder or load_embedder(), head, meta)


@lru_cache(maxsize=1)
def default_turn_head() -> TurnHead:
    """The packaged turn head on the packaged embedder, loaded once per process."""
    return load_turn_head()
