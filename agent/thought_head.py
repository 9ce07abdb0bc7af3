"""The learned thought: the agent's private step (caller state, product, template, sector)
read in milliseconds from sentence embeddings, so the LLM only writes the response.

One linear softmax per field over [embedding(caller line), embedding(agent's previous
line), hashed words and word pairs of the caller line] (MiniLM, 384-d each; 2048 slots).
The head is a versioned artefact like the claim head (JSON: fields, classes, weights, the
embedder it was trained on, the sha256 of its weights), trained by ``salesvoice thought
train`` and loaded by the agent program in the ``learned`` decoding mode.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agent.claim_head import read_head_file, softmax
from agent.textfeatures import BUCKETS, word_rows
from models.embed import Embedder, load_embedder
from models.errors import ConfigError, IntegrityError

DEFAULT = Path(__file__).parent / "heads" / "thought.json"
FIELDS = ("state", "product", "template", "sector")
"""What the head predicts, in this order (the single-model answer's order is template,
product, state, sector)."""


@dataclass(frozen=True, slots=True)
class FieldHead:
    classes: list[str]
    weights: NDArray[np.float64]
    bias: NDArray[np.float64]


def heads_sha256(fields: dict[str, FieldHead]) -> str:
    body = json.dumps({name: {"classes": f.classes, "weights": np.round(f.weights, 6).tolist(),
                              "bias": np.round(f.bias, 6).tolist()}
                       for name, f in sorted(fields.items())}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def features(embedder: Embedder, agent_lines: list[str], caller_lines: list[str]
             ) -> NDArray[np.float64]:
    """[caller embedding, agent embedding, caller words], one row per turn."""
    caller = embedder.embed(caller_lines).astype(np.float64)
    agent = embedder.embed([a or "(silence)" for a in agent_lines]).astype(np.float64)
    return np.concatenate([caller, agent, word_rows(caller_lines)], axis=1)


class ThoughtHead:
    def __init__(self, embedder: Embedder, fields: dict[str, FieldHead],
                 meta: dict[str, Any] | None = None) -> None:
        missing = set(FIELDS) - set(fields)
        if missing:
            raise ConfigError(f"thought head lacks fields {sorted(missing)}")
        for name, f in fields.items():
            width = 2 * embedder.dim + BUCKETS
            if f.weights.shape != (len(f.classes), width) or f.bias.shape != (len(f.classes),):
                raise ConfigError(f"thought head field {name!r}: shape {f.weights.shape} does "
                                  f"not fit {len(f.classes)} classes by {width} features")
        self.embedder = embedder
        self.fields = fields
        self.meta = meta or {}

    def probabilities(self, x: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        return {name: softmax(x @ f.weights.T + f.bias) for name, f in self.fields.items()}

    def predict_many(self, agent_lines: list[str], caller_lines: list[str]
                     ) -> list[dict[str, tuple[str, float]]]:
        """Per turn: field → (label, probability)."""
        probs = self.probabilities(features(self.embedder, agent_lines, caller_lines))
        out: list[dict[str, tuple[str, float]]] = [{} for _ in caller_lines]
        for name, p in probs.items():
            for i, row in enumerate(p):
                k = int(np.argmax(row))
                out[i][name] = (self.fields[name].classes[k], float(row[k]))
        return out

    def predict(self, agent_line: str, caller_line: str) -> dict[str, tuple[str, float]]:
        return self.predict_many([agent_line], [caller_line])[0]

    def save(self, path: Path) -> None:
        self.meta["sha256"] = heads_sha256(self.fields)
        body = {**self.meta, "fields": {
            name: {"classes": f.classes, "weights": np.round(f.weights, 6).tolist(),
                   "bias": np.round(f.bias, 6).tolist()} for name, f in self.fields.items()}}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body) + "\n")


def load_thought_head(path: Path = DEFAULT, embedder: Embedder | None = None) -> ThoughtHead:
    """A head file, its weights checked against the sha256 it was saved with."""
    body = read_head_file(path, "thought head", "salesvoice thought train")
    try:
        fields = {name: FieldHead([str(c) for c in f["classes"]],
                                  np.asarray(f["weights"], dtype=np.float64),
                                  np.asarray(f["bias"], dtype=np.float64))
                  for name, f in body["fields"].items()}
        stamped = str(body["sha256"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"thought head {path} is malformed: {exc!r}") from None
    if heads_sha256(fields) != stamped:
        raise IntegrityError(f"thought head {path}: weights do not match their sha256 {stamped}")
    meta = {k: v for k, v in body.items() if k != "fields"}
    return ThoughtHead(embedder or load_embedder(), fields, meta)


@lru_cache(maxsize=1)
def default_thought_head() -> ThoughtHead:
    """The packaged thought head on the packaged embedder, loaded once per process."""
    return load_thought_head()
