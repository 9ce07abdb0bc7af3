"""Train and measure the learned thought head (``salesvoice thought train|eval``).

Per field, a softmax regression on [caller, agent] embeddings; the L2 strength is chosen
by 5-fold cross-validation on the training rows only, and the report gives out-of-fold
accuracy (never the training fit). A training file may label only some fields: each
field learns from the rows that label it. ``evaluate`` measures a head on turns it never
saw; ``sector_reading`` measures how often the agent's sector reaches its threshold
from one line about the caller's job (the lexicon, and the head as the agent adds it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.claim_head import softmax
from agent.occupation import SectorTracker, infer_sector, sector_of, thought_evidence
from agent.stats import wilson
from agent.thought_head import FIELDS, FieldHead, ThoughtHead, features
from models.embed import Embedder
from optimizer.claim_head import cross_validated, fit, read_rows

_DATA = Path(__file__).parents[1] / "agent" / "data"
TRAIN_FILE = _DATA / "thought_train.jsonl"
"""Hand-labelled turns, by an author who never saw the evaluation set."""
SECTOR_FILE = _DATA / "sector_train.jsonl"
"""Caller lines labelled with their sector only (direct, indirect and none), by an author
who never saw the evaluation sets or the simulator's wording."""
TRAIN_FILES = (TRAIN_FILE, SECTOR_FILE)
L2_GRID = (1e-5, 1e-4, 1e-3)


def read_turns(path: Path) -> list[dict[str, str]]:
    """Labelled turns: JSONL with agent, caller and every field of FIELDS."""
    return read_rows(path, ("agent", "caller", *FIELDS))


def read_training_turns(path: Path) -> list[dict[str, str]]:
    """Training turns: JSONL with agent, caller and any of FIELDS; a field that is missing
    or null is not labelled on that row. A ValueError names the line that is not valid
    JSON, lacks agent or caller, or labels no field."""
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            row = {"agent": str(raw["agent"]), "caller": str(raw["caller"])}
            row |= {k: str(raw[k]) for k in FIELDS if raw.get(k) is not None}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{n}: not a labelled line: {exc!r}") from None
        if len(row) == 2:
            raise ValueError(f"{path}:{n}: labels none of {', '.join(FIELDS)}")
        rows.append(row)
    return rows


def train_thought_head(embedder: Embedder, data: Sequence[Path] = TRAIN_FILES, *,
                       folds: int = 5, seed: int = 0) -> tuple[ThoughtHead, dict[str, Any]]:
    """Per field, the rows that label it; the report's accuracies are out-of-fold (with
    each file's share of them when more than one file labels the field)."""
    files = [p for p in data if p.is_file()]
    if not files:
        raise ValueError(f"no training data: none of {[str(p) for p in data]} exists")
    rows, origin = [], []
    for p in files:
        file_rows = read_training_turns(p)
        rows += file_rows
        origin += [p.name] * len(file_rows)
    x = features(embedder, [r["agent"] for r in rows], [r["caller"] for r in rows])
    heads: dict[str, FieldHead] = {}
    report: dict[str, Any] = {"rows": len(rows), "folds": folds, "seed": seed, "fields": {}}
    for name in FIELDS:
        labelled = np.array([i for i, r in enumerate(rows) if name in r], dtype=np.int64)
        if not len(labelled):
            raise ValueError(f"no training row labels {name!r}")
        classes = sorted({rows[i][name] for i in labelled})
        y = np.array([classes.index(rows[i][name]) for i in labelled], dtype=np.int64)
        scored = []
        for l2 in L2_GRID:
            right = cross_validated(x[labelled], y, len(classes), l2, folds, seed
                                    ).argmax(axis=1) == y
            scored.append((float(right.mean()), l2, right))
        accuracy, l2, right = max(scored, key=lambda s: (s[0], s[1]))
        final = fit(x[labelled], y, len(classes), l2)
        heads[name] = FieldHead(classes, final.weights, final.bias)
        report["fields"][name] = {"classes": len(classes), "rows": len(labelled), "l2": l2,
                                  "cv_accuracy": round(accuracy, 4)}
        sources = [origin[i] for i in labelled]
        if len(set(sources)) > 1:
            report["fields"][name]["cv_accuracy_by_file"] = {
                f: round(float(right[np.array(sources) == f].mean()), 4)
                for f in sorted(set(sources))}
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


WORK_QUESTION = "What do you do for a living?"
DIRECT_JOB = ("I'm {a_job}.", "I work as {a_job}.")


def simulator_job_lines() -> list[tuple[str, str]]:
    """(caller line, sector): the simulator's ways of saying one's job, written apart
    from the training data (29 of the 203 occur there verbatim; docs/thought.md): every
    sector's and occupation's indirect phrase (``simulator.wording``), and each insurance
    persona occupation said directly (``DIRECT_JOB``)."""
    from simulator.persona import load_spec
    from simulator.wording import JOB_BY_OCCUPATION, JOB_BY_SECTOR, fill

    occupations = [str(c.value) for c in load_spec().attributes["occupation"].distribution()]
    lines = [(line, sector) for sector, said in JOB_BY_SECTOR.items() for line in said]
    for occupation, said in JOB_BY_OCCUPATION.items():
        lines += [(line, str(sector_of(occupation))) for line in said]
    lines += [(fill(t, job=o), str(sector_of(o))) for o in occupations for t in DIRECT_JOB]
    return lines


def sector_reading(lines: Sequence[tuple[str, str]], head: ThoughtHead | None = None, *,
                   agent_line: str = WORK_QUESTION, threshold: float = 0.6) -> dict[str, Any]:
    """Each (caller line, true sector or "?") read as the agent reads one line, on a fresh
    tracker: the lexicon (``infer_sector``), then, given a head, its sector at its own
    probability (``thought_evidence``). Counts, overall and per true sector, whether a
    sector reaches ``threshold`` and is right, wrong (on a "?" line: any), or none does."""
    predicted = (head.predict_many([agent_line] * len(lines), [c for c, _ in lines])
                 if head is not None else None)
    out: dict[str, Any] = {"lines": len(lines), "right": 0, "wrong": 0, "none": 0,
                           "by_sector": {}, "misread": []}
    for i, (text, truth) in enumerate(lines):
        tracker = SectorTracker(threshold)
        if (hint := infer_sector(text)) is not None:
            tracker.observe(*hint)
        if predicted is not None:
            sector, p = predicted[i]["sector"]
            if (evidence := thought_evidence(sector, text, p)) is not None:
                tracker.observe(*evidence)
        got = tracker.guess.sector if tracker.applies else None
        outcome = "none" if got is None else "right" if got == truth else "wrong"
        out[outcome] += 1
        counts = out["by_sector"].setdefault(truth, {"right": 0, "wrong": 0, "none": 0})
        counts[outcome] += 1
        if outcome != "right":
            out["misread"].append({"caller": text, "truth": truth, "read": got,
                                   "confidence": tracker.guess.confidence})
    out["accuracy"] = out["right"] / max(1, len(lines))
    return out
