"""Train the learned claim head: multinomial logistic regression (L2, L-BFGS) on sentence
embeddings of labelled clauses, threshold chosen by cross-validation for a false-positive
budget on the compliant class. Deterministic for a given data file and seed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from agent.claim_head import OK, ClaimHead, features, softmax
from models.embed import Embedder

_DATA = Path(__file__).parents[1] / "agent" / "data"
TRAIN_FILES = (_DATA / "claims_train.jsonl", _DATA / "claims_train_more.jsonl",
               _DATA / "claims_train_sheet.jsonl", _DATA / "claims_train_indep.jsonl",
               _DATA / "claims_train_authorc.jsonl", _DATA / "claims_train_round3.jsonl",
               _DATA / "claims_train_authord.jsonl", _DATA / "claims_train_authore.jsonl")
"""Labelled clauses written for training, by authors who never saw the evaluation sets
(claims_train_round3.jsonl: by the claim checker's author, from the sheet and the category
definitions, after reading the development sets' misses; authord/authore: two authors
briefed with docs/compliance-authors.md)."""
INJECTION_TRAIN = _DATA / "injection_train.jsonl"
"""Caller lines labelled injection / ok, by an author who never saw the evaluation set."""
HEAD_SKIPS = frozenset({"wrong_figure", "contradiction"})
"""Categories the head does not learn: the sheet decides them, by rule (figures are
attributed exactly; covers, exclusions and waiting periods are read per product). The
head's contradiction class reached 0.29 out-of-fold recall and spent the false-positive
budget the other classes need."""


@dataclass(frozen=True, slots=True)
class Fit:
    weights: NDArray[np.float64]
    bias: NDArray[np.float64]


def read_rows(path: Path, keys: Sequence[str]) -> list[dict[str, str]]:
    """JSONL lines as {key: text} for ``keys`` (blank lines skipped); a ValueError names
    the file and line that is not valid JSON or lacks a key."""
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({k: str(row[k]) for k in keys})
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a labelled line: {exc!r}") from None
    return rows


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from JSONL lines with "text" and "label"."""
    return [(r["text"], r["label"]) for r in read_rows(path, ("text", "label"))]


def fit(x: NDArray[np.float64], y: NDArray[np.int64], n_classes: int, l2: float) -> Fit:
    """Softmax regression minimising mean cross-entropy + l2/2 ‖W‖²."""
    n, d = x.shape
    onehot = np.eye(n_classes)[y]

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w = theta[: n_classes * d].reshape(n_classes, d)
        b = theta[n_classes * d :]
        p = softmax(x @ w.T + b)
        value = -np.sum(onehot * np.log(p + 1e-12)) / n + 0.5 * l2 * np.sum(w * w)
        g = (p - onehot) / n
        grad_w = g.T @ x + l2 * w
        return float(value), np.concatenate([grad_w.ravel(), g.sum(axis=0)])

    theta0 = np.zeros(n_classes * d + n_classes)
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    theta = result.x
    return Fit(theta[: n_classes * d].reshape(n_classes, d), theta[n_classes * d :])


def cross_validated(x: NDArray[np.float64], y: NDArray[np.int64], n_classes: int, l2: float,
                    folds: int, seed: int) -> NDArray[np.float64]:
    """Out-of-fold class probabilities for every row."""
    order = np.random.default_rng(seed).permutation(len(y))
    probs = np.zeros((len(y), n_classes))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        f = fit(x[train], y[train], n_classes, l2)
        probs[test] = softmax(x[test] @ f.weights.T + f.bias)
    return probs


def pick_threshold(probs: NDArray[np.float64], y: NDArray[np.int64], ok: int,
                   max_fp: float) -> float:
    """The lowest threshold on 1 - p(ok) whose out-of-fold false-positive rate on
    compliant rows is at most ``max_fp``."""
    risk = 1.0 - probs[:, ok]
    for t in np.arange(0.30, 0.991, 0.01):
        if (risk[y == ok] >= t).mean() <= max_fp:
            return float(round(t, 2))
    return 0.99


def train_head(
    embedder: Embedder, data: Sequence[Path] = TRAIN_FILES, *, l2: float = 1e-4, folds: int = 5,
    seed: int = 0, max_fp: float = 0.02, words: bool = True,
) -> tuple[ClaimHead, dict[str, Any]]:
    """A head trained on ``data``, with its out-of-fold report (never the training fit).
    ``words``: hashed words and word pairs beside the embedding (5-fold recall on the
    training data, 2 % false-positive budget: denies_ai 0.36 → 0.62, leak 0.50 → 0.71,
    unknown_product 0.34 → 0.55, measured with the four training files)."""
    files = [p for p in data if p.is_file()]
    if not files:
        raise ValueError(f"no training data: none of {[str(p) for p in data]} exists")
    rows = [row for path in files for row in read_labelled(path) if row[1] not in HEAD_SKIPS]
    classes = [OK, *sorted({label for _, label in rows} - {OK})]
    x = features(embedder, [t for t, _ in rows], words=words)
    y = np.array([classes.index(label) for _, label in rows], dtype=np.int64)
    probs = cross_validated(x, y, len(classes), l2, folds, seed)
    threshold = pick_threshold(probs, y, 0, max_fp)
    flagged = 1.0 - probs[:, 0] >= threshold
    report: dict[str, Any] = {
        "rows": len(rows), "folds": folds, "l2": l2, "seed": seed, "threshold": threshold,
        "cv_false_positive_rate": float(flagged[y == 0].mean()),
        "cv_recall": {c: float(flagged[y == i].mean()) for i, c in enumerate(classes) if i},
    }
    final = fit(x, y, len(classes), l2)
    meta = {"trained_on": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
            "embedder": embedder.name, "report": report}
    head = ClaimHead(embedder, classes, final.weights, final.bias, threshold, meta, words=words)
    return head, report
