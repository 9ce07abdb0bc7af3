"""The learned claim head: a linear softmax over sentence embeddings (and, in heads
trained with them, hashed words and word pairs) that flags what the word rules cannot
reach (a promise, a statistic, urgency, a human pose or a leak said in words no rule
lists).

The head is a small, versioned artefact (JSON: classes, weights, threshold, the
embedder it was trained on, and the sha256 of its weights); the optimizer trains it
(``salesvoice compliance train-head``), the compliance guard loads it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agent.textfeatures import BUCKETS, word_rows
from models.embed import Embedder, load_embedder
from models.errors import ConfigError, IntegrityError

DEFAULT = Path(__file__).parent / "heads" / "claims.json"
OK = "ok"


def weights_sha256(
    classes: list[str], weights: NDArray[np.float64], bias: NDArray[np.float64],
    threshold: float, *, words: bool = False,
) -> str:
    """The head's identity: what it computes and where it draws the line."""
    identity: dict[str, Any] = {"classes": classes, "weights": np.round(weights, 6).tolist(),
                                "bias": np.round(bias, 6).tolist(), "threshold": threshold}
    if words:
        identity["words"] = True
    body = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


class ClaimHead:
    """Flags a clause with the categories whose probability passes the threshold."""

    def __init__(self, embedder: Embedder, classes: list[str], weights: NDArray[np.float64],
                 bias: NDArray[np.float64], threshold: float,
                 meta: dict[str, Any] | None = None, *, words: bool = False) -> None:
        """``words``: the features are the embedding followed by ``textfeatures.words``."""
        width = embedder.dim + (BUCKETS if words else 0)
        if weights.shape != (len(classes), width) or bias.shape != (len(classes),):
            raise ConfigError(
                f"claim head shape {weights.shape} does not fit {len(classes)} classes by "
                f"{width} features")
        if OK not in classes:
            raise ConfigError(f"claim head classes {classes} lack {OK!r}")
        self.embedder = embedder
        self.classes = classes
        self.weights = weights
        self.bias = bias
        self.threshold = threshold
        self.meta = meta or {}
        self.words = words

    def probabilities(self, texts: list[str]) -> NDArray[np.float64]:
        return softmax(features(self.embedder, texts, words=self.words) @ self.weights.T
                       + self.bias)

    def flag(self, text: str) -> list[tuple[str, float]]:
        """The likeliest category when the clause is unlikely to be compliant:
        1 - p(ok) at or above the threshold."""
        probs = self.probabilities([text])[0]
        ok = self.classes.index(OK)
        risk = 1.0 - float(probs[ok])
        if risk < self.threshold:
            return []
        probs[ok] = -1.0
        return [(self.classes[int(np.argmax(probs))], risk)]

    def save(self, path: Path) -> None:
        self.meta["sha256"] = weights_sha256(self.classes, self.weights, self.bias,
                                             self.threshold, words=self.words)
        body = {
            **self.meta,
            "classes": self.classes,
            "threshold": self.threshold,
            "words": self.words,
            "weights": np.round(self.weights, 6).tolist(),
            "bias": np.round(self.bias, 6).tolist(),
            "sha256": self.meta["sha256"],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body) + "\n")


def features(embedder: Embedder, texts: list[str], *, words: bool) -> NDArray[np.float64]:
    """A head's input rows: the embedding of each text, then its hashed words if asked."""
    x = embedder.embed(texts).astype(np.float64)
    return np.concatenate([x, word_rows(texts)], axis=1) if words else x


def softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def read_head_file(path: Path, kind: str, train_command: str) -> dict[str, Any]:
    """The JSON body of a learned head's file, or a ConfigError saying how to make one."""
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{kind} {path} not found; train one with "
                          f"'{train_command}'") from None
    except ValueError as exc:
        raise ConfigError(f"{kind} {path} is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ConfigError(f"{kind} {path} is malformed: not a JSON object")
    return body


def load_head(path: Path = DEFAULT, embedder: Embedder | None = None) -> ClaimHead:
    """A head file, its weights checked against the sha256 it was saved with."""
    body = read_head_file(path, "claim head", "salesvoice compliance train-head")
    try:
        classes = [str(c) for c in body["classes"]]
        weights = np.asarray(body["weights"], dtype=np.float64)
        bias = np.asarray(body["bias"], dtype=np.float64)
        threshold = float(body["threshold"])
        stamped = str(body["sha256"])
        words = body.get("words", False)
        if not isinstance(words, bool):
            raise TypeError(f"'words' must be true or false, not {words!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"claim head {path} is malformed: {exc!r}") from None
    if weights_sha256(classes, weights, bias, threshold, words=words) != stamped:
        raise IntegrityError(f"claim head {path}: weights do not match their sha256 {stamped}")
    meta = {k: v for k, v in body.items()
            if k not in ("classes", "weights", "bias", "threshold", "words")}
    return ClaimHead(embedder or load_embedder(), classes, weights, bias, threshold, meta,
                     words=words)
