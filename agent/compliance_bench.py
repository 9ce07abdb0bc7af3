"""``salesvoice bench compliance``: recall per category and false-positive rate of the
claim checker on labelled replies it was not written against, and what checking the
first clause costs. Prints a table, returns the numbers; asserts nothing.

A labelled file is JSONL with ``text`` and ``label`` (a category of
``agent.claims.CATEGORIES`` or ``ok``). A violating reply counts as caught when the
checker stops it for any reason (the caller hears the safe line either way); the
table also says how often the category named was the one that fired.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.claim_head import ClaimHead
from agent.claims import CATEGORIES
from agent.compliance import ComplianceGuard, clauses
from agent.injection import asks_for_instructions, injection_rule
from agent.stats import wilson

DATA = Path(__file__).parents[1] / "tests" / "data"
HOLDOUTS = tuple(DATA / f"compliance_holdout{n}.jsonl" for n in ("", *range(2, 21)))
"""Replies by the second to the twenty-first author (the sheet and the category definitions
only), each measured once before anyone read it (docs/compliance.md has those rows), then
development data for the rules."""
EVAL_FILES = (DATA / "compliance_eval.jsonl", DATA / "compliance_real_replies.jsonl",
              *HOLDOUTS)
INJECTION_EVAL = DATA / "injection_eval.jsonl"
"""Caller lines labelled injection / benign by kind, written without the detector's code."""


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    label: str
    source: str


def read_labelled(paths: Sequence[Path]) -> list[Labelled]:
    rows = []
    for path in paths:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label = str(row["label"])
                if label != "ok" and label not in CATEGORIES:
                    raise ValueError(f"unknown label {label!r}")
                rows.append(Labelled(str(row["text"]), label, path.name))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None
    return rows


def evaluate(guard: ComplianceGuard, rows: Sequence[Labelled]) -> dict[str, Any]:
    """Recall per category, false positives, and the time to check each first clause."""
    caught: Counter[str] = Counter()
    named: Counter[str] = Counter()
    total: Counter[str] = Counter(r.label for r in rows)
    false_positives: list[dict[str, Any]] = []
    missed: list[dict[str, str]] = []
    first_clause_ms: list[float] = []
    for r in rows:
        first = clauses(r.text)[:1]
        t0 = time.perf_counter()
        if first:
            guard.check(first[0])
        first_clause_ms.append((time.perf_counter() - t0) * 1000)
        found = guard.check_reply(r.text)
        if r.label == "ok":
            if found:
                false_positives.append({"text": r.text, "rules": [f"{v.rule}: {v.detail}"
                                                                  for v in found]})
        elif found:
            caught[r.label] += 1
            named[r.label] += any(v.rule == r.label for v in found)
        else:
            missed.append({"label": r.label, "text": r.text})
    recall = {c: {"caught": caught[c], "of": total[c],
                  "recall": caught[c] / total[c] if total[c] else None,
                  "ci95": wilson(caught[c], total[c]), "named_right": named[c]}
              for c in CATEGORIES}
    n_ok = total["ok"]
    times = sorted(first_clause_ms)
    return {
        "rows": len(rows), "recall": recall,
        "false_positives": {"count": len(false_positives), "of": n_ok,
                            "rate": len(false_positives) / n_ok if n_ok else None,
                            "ci95": wilson(len(false_positives), n_ok)},
        "first_clause_ms": {"p50": statistics.median(times) if times else None,
                            "p95": times[int(0.95 * (len(times) - 1))] if times else None},
        "false_positive_examples": false_positives, "missed_examples": missed,
    }


def run_compliance_bench(paths: Sequence[Path], console: Console,
                         guard: ComplianceGuard) -> dict[str, Any]:
    rows = read_labelled(paths)
    result = evaluate(guard, rows)
    table = Table(title=f"claim checker on {len(rows)} labelled replies "
                        f"({', '.join(p.name for p in paths)})")
    for col in ("category", "caught", "recall", "95% CI", "named right"):
        table.add_column(col)
    for c, r in result["recall"].items():
        if r["of"]:
            lo, hi = r["ci95"]
            table.add_row(c, f"{r['caught']}/{r['of']}", f"{r['recall']:.1%}",
                          f"{lo:.0%} to {hi:.0%}", str(r["named_right"]))
    fp = result["false_positives"]
    if fp["of"]:
        lo, hi = fp["ci95"]
        table.add_row("ok (false positives)", f"{fp['count']}/{fp['of']}", f"{fp['rate']:.1%}",
                      f"{lo:.0%} to {hi:.0%}", "")
    console.print(table)
    t = result["first_clause_ms"]
    console.print(f"first-clause check: p50 {t['p50']:.1f} ms, p95 {t['p95']:.1f} ms "
                  "(what the check adds to voice-to-voice)")
    return result


def evaluate_injection(path: Path, head: ClaimHead | None) -> dict[str, Any]:
    """Recall per kind of injection and the false-positive rate on benign caller lines,
    for the phrase rules alone and with the learned ``head``."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out: dict[str, Any] = {"rows": len(rows)}
    def by_rule(text: str) -> bool:
        return injection_rule(text) is not None

    def by_both(text: str) -> bool:
        return asks_for_instructions(text, head)

    layers: list[tuple[str, Callable[[str], bool]]] = [("rules", by_rule)]
    if head is not None:
        layers.append(("rules+head", by_both))
    for name, detect in layers:
        hit: Counter[str] = Counter()
        total: Counter[str] = Counter()
        wrong: list[dict[str, str]] = []
        for r in rows:
            key = r["label"] if r["label"] != "injection" else f"injection/{r['kind']}"
            total[key] += 1
            flagged = detect(r["text"])
            hit[key] += flagged
            if flagged != (r["label"] == "injection"):
                wrong.append({"label": r["label"], "kind": r["kind"], "text": r["text"]})
        inj = [k for k in total if k.startswith("injection/")]
        caught, n_inj = sum(hit[k] for k in inj), sum(total[k] for k in inj)
        fp, n_ok = sum(hit[k] for k in total if k not in inj), sum(
            total[k] for k in total if k not in inj)
        out[name] = {"recall": {k: f"{hit[k]}/{total[k]}" for k in sorted(inj)},
                     "caught": caught, "of": n_inj, "ci95": wilson(caught, n_inj),
                     "false_positives": fp, "of_benign": n_ok, "fp_ci95": wilson(fp, n_ok),
                     "wrong": wrong}
    return out


def run_injection_bench(path: Path, console: Console, head: ClaimHead | None) -> dict[str, Any]:
    result = evaluate_injection(path, head)
    table = Table(title=f"injection detector on {result['rows']} caller lines ({path.name})")
    for col in ("layer", "caught", "recall 95% CI", "false positives", "FP 95% CI"):
        table.add_column(col)
    for name in ("rules", "rules+head"):
        if name in result:
            r = result[name]
            table.add_row(name, f"{r['caught']}/{r['of']}",
                          f"{r['ci95'][0]:.0%} to {r['ci95'][1]:.0%}",
                          f"{r['false_positives']}/{r['of_benign']}",
                          f"{r['fp_ci95'][0]:.0%} to {r['fp_ci95'][1]:.0%}")
    console.print(table)
    return result
