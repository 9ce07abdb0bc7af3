"""Train and measure the turn-completion head (``salesvoice turns train|eval``).

Examples: a caller line is a finished turn; its prefixes cut at word boundaries are not,
unless the cut falls at a sentence end inside the line. Each is rendered as Whisper might
print it at a pause: with no final mark, a period or a comma, whatever the label (Whisper
tiny.en puts periods after unfinished phrases); a question keeps its question mark; an
unfinished prefix may also trail off in an ellipsis (Whisper's own mark of a cut, which
the punctuation rule already trusts). Case is not varied: the embedder is uncased and the
tail features lower-case.

Logistic regression with the claim head's L2 / L-BFGS fit. The L2 strength and the two
operating thresholds come from 5-fold cross-validation grouped by line (a line's prefixes
never straddle folds), on training lines only. ``evaluate`` measures a head on lines by
another author (tests/data/thought_eval.jsonl) built the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from agent.stats import wilson
from agent.thought_head import FieldHead
from models.embed import Embedder
from optimizer.claim_head import fit, read_rows
from voice.endpoint import CLASSES, DEFAULT, TurnHead, features
from voice.turns import is_complete_sentence

_ROOT = Path(__file__).parents[1]
_DATA = _ROOT / "agent" / "data"
Source = tuple[Path, str]
"""A JSONL file and the key of its caller line."""
TRAIN_SOURCES: tuple[Source, ...] = ((_DATA / "thought_train.jsonl", "caller"),
                                     (_DATA / "injection_train.jsonl", "text"))
"""Caller lines by authors who never saw the evaluation set."""
EVAL_SOURCE: Source = (_ROOT / "tests" / "data" / "thought_eval.jsonl", "caller")
L2_GRID = (1e-5, 1e-4, 1e-3)
BUDGET = 0.05
"""Out-of-fold error allowed at each operating threshold: unfinished prefixes taken as
complete (the short hang-over), finished lines taken as unfinished (the long one)."""
PREFIXES = 3
"""Prefixes sampled per line (each rendered with two marks)."""
FINISHED_MARKS = ("", ".", ",")
OPEN_MARKS = ("", ".", ",", "...")
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st."})


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    complete: bool
    line: int
    """Index of the source line (the cross-validation group)."""
    mark: str
    """The final mark it was rendered with."""


def read_lines(sources: Sequence[Source]) -> list[str]:
    """Distinct caller lines, in file order."""
    lines: dict[str, None] = {}
    for path, key in sources:
        for row in read_rows(path, (key,)):
            if row[key].split():
                lines.setdefault(" ".join(row[key].split()), None)
    return list(lines)


def _sentence_end(word: str) -> bool:
    word = word.rstrip("\"')")
    return word.endswith(("?", "!", ".")) and not word.endswith("...") \
        and word.lower() not in _ABBREVIATIONS


def render(text: str, mark: str) -> str:
    """``text`` with its final punctuation replaced by ``mark`` (a question keeps "?")."""
    base = text.rstrip(" .,;:!?…")
    return base + ("?" if text.rstrip().endswith("?") else mark)


def examples(lines: Sequence[str], *, seed: int, prefixes: int = PREFIXES) -> list[Example]:
    """Finished lines (every finished mark) and sampled prefixes (two marks each)."""
    rng = np.random.default_rng(seed)
    out: list[Example] = []

    def add(text: str, complete: bool, line: int, marks: Sequence[str]) -> None:
        seen = set()
        for mark in marks:
            rendered = render(text, mark)
            if rendered not in seen:
                seen.add(rendered)
                out.append(Example(rendered, complete, line,
                                   "?" if rendered.endswith("?") else mark))

    for i, line in enumerate(lines):
        words = line.split()
        add(line, True, i, FINISHED_MARKS)
        cuts = np.arange(1, len(words))
        for k in sorted(rng.choice(cuts, size=min(prefixes, len(cuts)), replace=False)):
            prefix = " ".join(words[:k])
            if _sentence_end(words[k - 1]):
                add(prefix, True, i, FINISHED_MARKS)
            else:
                add(prefix, False, i, [str(m) for m in rng.choice(OPEN_MARKS, 2, replace=False)])
    return out


def embed_examples(embedder: Embedder, rows: Sequence[Example]) -> NDArray[np.float64]:
    """Feature rows, each distinct text embedded once."""
    texts = sorted({r.text for r in rows})
    x = features(embedder, texts)
    index = {t: i for i, t in enumerate(texts)}
    return x[[index[r.text] for r in rows]]


def grouped_oof(x: NDArray[np.float64], y: NDArray[np.int64], groups: NDArray[np.int64],
                l2: float, folds: int, seed: int) -> NDArray[np.float64]:
    """Out-of-fold P(complete) per row, folds drawn over groups."""
    ids = np.unique(groups)
    fold_of = dict(zip(np.random.default_rng(seed).permutation(ids).tolist(),
                       np.arange(len(ids)) % folds, strict=True))
    fold = np.array([fold_of[int(g)] for g in groups])
    p = np.zeros(len(y))
    for k in range(folds):
        f = fit(x[fold != k], y[fold != k], 2, l2)
        z = x[fold == k] @ f.weights.T + f.bias
        p[fold == k] = 1.0 / (1.0 + np.exp(z[:, 0] - z[:, 1]))
    return p


def pick_thresholds(p: NDArray[np.float64], y: NDArray[np.int64],
                    budget: float) -> tuple[float, float]:
    """(complete_at, incomplete_below): the lowest P(complete) at which at most ``budget``
    of unfinished rows pass, and the highest under which at most ``budget`` of finished
    rows fall."""
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    complete_at = next((float(t) for t in grid if t >= 0.5 and (p[y == 0] >= t).mean()
                        <= budget), 0.99)
    incomplete_below = next((float(t) for t in grid[::-1] if t <= 0.5 and (p[y == 1] < t).mean()
                             <= budget), 0.01)
    return complete_at, incomplete_below


def _log_loss(p: NDArray[np.float64], y: NDArray[np.int64]) -> float:
    q = np.clip(np.where(y == 1, p, 1 - p), 1e-12, 1.0)
    return float(-np.log(q).mean())


def auc(p: NDArray[np.float64], y: NDArray[np.int64]) -> float:
    """Area under the ROC curve (ties count half)."""
    ranks = rankdata(p)
    n1, n0 = int(y.sum()), int((1 - y).sum())
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def train_turn_head(embedder: Embedder, sources: Sequence[Source] = TRAIN_SOURCES, *,
                    folds: int = 5, seed: int = 0, budget: float = BUDGET
                    ) -> tuple[TurnHead, dict[str, Any]]:
    """A head trained on the caller lines of ``sources``, with its out-of-fold report."""
    files = [(p, k) for p, k in sources if p.is_file()]
    if not files:
        raise ValueError(f"no training data: none of {[str(p) for p, _ in sources]} exists")
    lines = read_lines(files)
    rows = examples(lines, seed=seed)
    x = embed_examples(embedder, rows)
    y = np.array([r.complete for r in rows], dtype=np.int64)
    groups = np.array([r.line for r in rows], dtype=np.int64)
    scored = []
    for l2 in L2_GRID:
        oof = grouped_oof(x, y, groups, l2, folds, seed)
        scored.append((_log_loss(oof, y), l2, oof))
    loss, l2, oof = min(scored, key=lambda s: s[0])
    complete_at, incomplete_below = pick_thresholds(oof, y, budget)
    report: dict[str, Any] = {
        "lines": len(lines), "examples": len(rows), "complete": int(y.sum()),
        "folds": folds, "seed": seed, "l2": l2, "budget": budget,
        "cv_log_loss": round(loss, 4), "cv_auc": round(auc(oof, y), 4),
        "cv_accuracy": round(float(((oof >= 0.5) == y).mean()), 4),
        "complete_at": complete_at, "incomplete_below": incomplete_below,
        "cv_at_thresholds": {
            "unfinished_taken_as_complete": round(float((oof[y == 0] >= complete_at).mean()), 4),
            "unfinished_taken_as_unfinished": round(float((oof[y == 0] < incomplete_below)
                                                          .mean()), 4),
            "finished_taken_as_complete": round(float((oof[y == 1] >= complete_at).mean()), 4),
            "finished_taken_as_unfinished": round(float((oof[y == 1] < incomplete_below)
                                                        .mean()), 4),
        },
    }
    final = fit(x, y, 2, l2)
    meta = {"trained_on": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p, _ in files},
            "embedder": embedder.name, "report": report}
    return TurnHead(embedder, FieldHead(list(CLASSES), final.weights, final.bias), meta), report


def _share(hit: NDArray[np.bool_]) -> dict[str, Any]:
    k, n = int(hit.sum()), len(hit)
    return {"k": k, "of": n, "rate": k / n if n else float("nan"), "ci95": wilson(k, n)}


def evaluate(head: TurnHead, lines: Sequence[str], *, complete_at: float,
             incomplete_below: float, seed: int = 0, train_lines: Sequence[str] = ()
             ) -> dict[str, Any]:
    """Accuracy, AUC and the operating-point error rates on ``lines`` (examples built as
    for training), beside the punctuation rule on the same renderings."""
    rows = examples(lines, seed=seed)
    p = head.scores(embed_examples(head.embedder, rows))
    y = np.array([r.complete for r in rows], dtype=np.int64)
    marks = np.array([r.mark for r in rows])
    rule = np.array([is_complete_sentence(r.text) for r in rows])
    open_, done = y == 0, y == 1
    by_mark = {m or "none": {
        "classifier": _share(p[open_ & (marks == m)] >= complete_at),
        "punctuation": _share(rule[open_ & (marks == m)])}
        for m in OPEN_MARKS if (open_ & (marks == m)).any()}
    return {
        "lines": len(lines), "examples": len(rows), "complete": int(done.sum()),
        "lines_also_in_training": len(set(lines) & set(train_lines)),
        "accuracy": round(float(((p >= 0.5) == y).mean()), 4), "auc": round(auc(p, y), 4),
        "complete_at": complete_at, "incomplete_below": incomplete_below,
        "classifier": {
            "unfinished_taken_as_complete": _share(p[open_] >= complete_at),
            "unfinished_taken_as_unfinished": _share(p[open_] < incomplete_below),
            "finished_taken_as_complete": _share(p[done] >= complete_at),
            "finished_taken_as_unfinished": _share(p[done] < incomplete_below),
        },
        "punctuation": {
            "unfinished_taken_as_complete": _share(rule[open_]),
            "finished_taken_as_complete": _share(rule[done]),
        },
        "unfinished_taken_as_complete_by_mark": by_mark,
        "confident_mistakes": [
            {"text": r.text, "complete": r.complete, "p": round(float(q), 3)}
            for q, r in sorted(((float(q), r) for r, q in zip(rows, p, strict=True)
                                if (r.complete and q < incomplete_below)
                                or (not r.complete and q >= complete_at)),
                               key=lambda qr: -abs(qr[0] - 0.5))[:20]],
    }


def train_and_save(out: Path = DEFAULT, *, seed: int = 0) -> dict[str, Any]:
    """Train the head on the packaged caller lines, write it to ``out``, return the report."""
    from models.embed import load_embedder

    head, report = train_turn_head(load_embedder(), seed=seed)
    head.save(out)
    return {**report, "sha256": head.meta["sha256"], "out": str(out)}


def evaluate_head(path: Path = DEFAULT, *, seed: int = 0) -> dict[str, Any]:
    """A head measured on the held-out caller lines at the detector's thresholds."""
    from voice.endpoint import load_turn_head
    from voice.turns import TurnConfig

    head = load_turn_head(path)
    config = TurnConfig()
    result = evaluate(head, read_lines([EVAL_SOURCE]), complete_at=config.complete_at,
                      incomplete_below=config.incomplete_below, seed=seed,
                      train_lines=read_lines(TRAIN_SOURCES))
    result["trained_thresholds"] = {k: head.meta.get("report", {}).get(k)
                                    for k in ("complete_at", "incomplete_below")}
    return result
