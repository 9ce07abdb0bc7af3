"""Train and measure the learned thought head (``salesvoice thought train|eval``).

Per field, a softmax regression on [caller, agent] embeddings; the L2 strength is chosen
by 5-fold cross-validation on the training rows only, and the report gives out-of-fold
accuracy (never the training fit). ``evaluate`` measures a head on turns it never saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.claim_head import softmax
from agent.stats import wilson
from agent.thought_head import FIELDS, FieldHead, ThoughtHead, features
from models.embed import Embedder
from optimizer.claim_head import cross_validated, fit, read_rows

TRAIN_FILE = Path(__file__).parents[1] / "agent" / "data" / "thought_train.jsonl"
"""Hand-labelled turns, by an author who never saw the evaluation set."""
L2_GRID = (1e-5, 1e-4, 1e-3)


def read_turns(path: Path) -> list[dict[str, str]]:
    """Labelled turns: JSONL with agent, caller and every field of FIELDS."""
    return read_rows(path, ("agent", "caller", *FIELDS))


def train_thought_head(embedder: Embedder, data: Sequence[Path] = (TRAIN_FILE,), *,
                       folds: int = 5, seed: int = 0) -> tuple[ThoughtHead, dict[str, Any]]:
    files = [p for p in data if p.is_file()]
    if not files:
        raise ValueError(f"no training data: none of {[str(p) for p in data]} exists")
    rows = [r for p in files for r in read_turns(p)]
    x = features(embedder, [r["agent"] for r in rows], [r["caller"] for r in rows])
    heads: dict[str, FieldHead] = {}
    report: dict[str, Any] = {"rows": len(rows), "folds": folds, "seed": seed, "fields": {}}
    for name in FIELDS:
        classes = sorted({r[name] for r in rows})
        y = np.array([classes.index(r[name]) for r in rows], dtype=np.int64)
        scored = []
        for l2 in L2_GRID:
            oof = cross_validated(x, y, len(classes), l2, folds, seed)
            scored.append((float((oof.argmax(axis=1) == y).mean()), l2))
        accuracy, l2 = max(scored)
        final = fit(x, y, len(classes), l2)
        heads[name] = FieldHead(classes, final.weights, final.bias)
        report["fields"][name] = {"classes": len(classes), "l2": l2,
                                  "cv_accuracy": round(accuracy, 4)}
    meta = {"trained_on": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
            "embedder": embedder.name, "report": report}
    return ThoughtHead(embedder, heads, meta), report


def evaluate(head: ThoughtHead, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Accuracy per field (with a Wilson 95 % interval) and the confusions, on ``rows``."""
    x = features(head.embedder, [r["agent"] for r in rows], [r["caller"] for r in rows])
    out: dict[str, Any] = {"rows": len(rows), "fields": {}}
    for name, f in head.fields.items():
        predicted = [f.classes[int(k)] for k in softmax(x @ f.weights.T + f.bias).argmax(axis=1)]
        right = sum(p == r[name] for p, r in zip(predicted, rows, strict=True))
        wrong = [{"caller": r["caller"], "truth": r[name], "predicted": p}
                 for p, r in zip(predicted, rows, strict=True) if p != r[name]]
        out["fields"][name] = {"right": right, "of": len(rows), "accuracy": right / len(rows),
                               "ci95": wilson(right, len(rows)), "wrong": wrong}
    return out
