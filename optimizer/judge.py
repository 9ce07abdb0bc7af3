"""LLM judge of whole dialogues: the MADS evaluation metrics (its Table 7) and filtering.

Five 0-3 scores (the caller's authenticity; the agent's relevance, consistency, efficiency
and human-likeness) and a task-success verdict, in one constrained-JSON call per dialogue.
The acceptance rate τ of Algorithm 1 is the share of successes; low-quality dialogues are
dropped by the mean and quantile of their scores (the paper's appendix A.2).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import fmean, stdev
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.dialogue import Dialogue
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from optimizer.evidence import dialogue_rate
from optimizer.history import transcript
from simulator.report import Section, Table, pct_ci
from simulator.runner import is_success

log = logging.getLogger(__name__)

REASON_MAX_CHARS = 160
JUDGE_SAMPLING = Sampling(temperature=0.0, max_tokens=200)
"""Greedy; about 100 tokens of JSON with the reason at its cap."""
METRICS = ("authenticity", "relevance", "consistency", "efficiency", "human_likeness")
"""The 0-3 metrics, in the order of Table 7."""

Score = Literal[0, 1, 2, 3]
"""An enum rather than min/max, so every backend's constrained decoding honours it."""

RUBRIC: Mapping[str, str] = {
    "authenticity": "(the User) how realistic and human the caller behaves: 0 robotic, "
                    "incoherent or out of role; 3 a believable person throughout.",
    "relevance": "(the Assistant) how well each reply answers what the caller just said "
                 "and fits the context: 0 ignores the caller; 3 always on point.",
    "consistency": "(the Assistant) keeps its persona (the company's AI assistant) and its "
                   "facts stable: 0 contradicts itself or makes facts up; 3 fully consistent.",
    "efficiency": "(the Assistant) how concisely it moves toward the sales goal: 0 loops, "
                  "rambles or repeats itself; 3 every turn moves the call forward.",
    "human_likeness": "(the Assistant) how natural and conversational it sounds on the "
                      "phone: 0 stiff, scripted or list-like; 3 like a skilled, warm caller.",
    "task_success": "true only if the caller agrees to buy, asks for a quote or an "
                    "application, or makes a concrete commitment (a call-back time, an "
                    "appointment, giving their details). Interest, questions or 'I'll think "
                    "about it' are false.",
}


class JudgeScores(BaseModel):
    """One dialogue's scores; also the constrained-decoding schema of the judge."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    reason: str = Field(max_length=REASON_MAX_CHARS)
    """Written first, so the scores follow from a stated reason."""
    authenticity: Score
    relevance: Score
    consistency: Score
    efficiency: Score
    human_likeness: Score
    task_success: bool

    @property
    def mean(self) -> float:
        """Mean of the five 0-3 scores."""
        return fmean(getattr(self, m) for m in METRICS)


def excerpt(dialogue: Dialogue, max_chars: int) -> str:
    """The transcript in at most ``max_chars``: the opening third and the ending kept whole
    lines, the middle elided (the opening shows the approach, the ending the outcome)."""
    text = transcript(dialogue, max_chars=1 << 30)
    if len(text) <= max_chars:
        return text
    marker = "[...]"
    room = max_chars - len(marker) - 2  # two newlines around the marker
    lines = text.split("\n")
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > room // 3:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    for line in reversed(lines[len(head):]):
        if used + len(line) + 1 > room:
            break
        tail.append(line)
        used += len(line) + 1
    if not tail and room - used > 1:  # the last line alone is too long: keep its end
        tail = ["…" + lines[-1][-(room - used - 1):]]
    return "\n".join([*head, marker, *reversed(tail)])


class Judge:
    """Scores dialogues with the MADS metrics, one constrained-JSON call each."""

    def __init__(
        self,
        llm: LLM,
        *,
        sampling: Sampling = JUDGE_SAMPLING,
        max_transcript_chars: int = 4500,
    ) -> None:
        self._llm = llm
        self._sampling = sampling
        self._max_chars = max_transcript_chars

    def messages(self, dialogue: Dialogue) -> list[ChatMessage]:
        """The judge's prompt for ``dialogue``."""
        rubric = "\n".join(f"- {name}: {text}" for name, text in RUBRIC.items())
        system = (
            "You evaluate recorded outbound insurance sales calls between an AI sales agent "
            "(Assistant) and a caller (User). Score each metric 0-3 (0 poor, 1 weak, 2 good, "
            "3 excellent) from the transcript alone; be strict and use the whole scale.\n"
            f"Metrics:\n{rubric}\n"
            f"Reply with one JSON object: first a reason (under {REASON_MAX_CHARS} "
            "characters), then the scores."
        )
        user = f"Transcript:\n{excerpt(dialogue, self._max_chars)}"
        return [ChatMessage("system", system), ChatMessage("user", user)]

    async def score(self, dialogue: Dialogue) -> JudgeScores:
        result = await self._llm.complete_json(
            self.messages(dialogue), JudgeScores, self._sampling
        )
        return result.value

    async def score_all(
        self, dialogues: Sequence[Dialogue], *, concurrency: int = 4
    ) -> dict[str, JudgeScores]:
        """Scores by dialogue id; a dialogue the judge fails on is logged and left out
        (``evaluation_summary`` counts it as unjudged)."""
        gate = asyncio.Semaphore(concurrency)
        out: dict[str, JudgeScores] = {}

        async def one(dialogue: Dialogue) -> None:
            async with gate:
                try:
                    out[dialogue.id] = await self.score(dialogue)
                except SalesvoiceError as exc:
                    log.warning("judge failed on dialogue %s: %s", dialogue.id, exc)

        async with asyncio.TaskGroup() as group:
            for d in dialogues:
                group.create_task(one(d))
        return {d.id: out[d.id] for d in dialogues if d.id in out}


def _verdict(dialogue: Dialogue, scores: Mapping[str, JudgeScores] | None) -> bool:
    if scores is None:
        return is_success(dialogue)
    try:
        return scores[dialogue.id].task_success
    except KeyError:
        raise ValueError(
            f"no judge scores for dialogue {dialogue.id!r}: pass only judged dialogues"
        ) from None


def acceptance_rate(
    dialogues: Sequence[Dialogue], scores: Mapping[str, JudgeScores] | None = None
) -> float:
    """τ: the share of dialogues that succeeded, by the judge's verdict when ``scores``
    (by dialogue id) are given, else by the recorded outcome. 0.0 for no dialogues."""
    if not dialogues:
        return 0.0
    return fmean(_verdict(d, scores) for d in dialogues)


def score_means(scores: Mapping[str, JudgeScores]) -> dict[str, float]:
    """Each metric's mean over the judged dialogues and, under "mean", the mean of
    their mean scores; empty without scores."""
    if not scores:
        return {}
    out = {m: sum(getattr(s, m) for s in scores.values()) / len(scores) for m in METRICS}
    out["mean"] = sum(s.mean for s in scores.values()) / len(scores)
    return out


@dataclass(frozen=True, slots=True)
class Dropped:
    dialogue_id: str
    mean: float | None
    """None: the dialogue was not judged."""
    reason: str


@dataclass(frozen=True, slots=True)
class Filtered:
    kept: tuple[Dialogue, ...]
    dropped: tuple[Dropped, ...]
    threshold: float | None
    """The effective cut on the mean score (the higher of min_mean and the quantile)."""


def filter_dialogues(
    dialogues: Sequence[Dialogue],
    scores: Mapping[str, JudgeScores],
    *,
    min_mean: float | None = None,
    quantile: float | None = None,
) -> Filtered:
    """Keep the dialogues whose mean score is ≥ ``min_mean`` and ≥ the ``quantile``
    (0-1, linear interpolation) of the judged dialogues' means; unjudged ones are dropped."""
    if min_mean is not None and not 0 <= min_mean <= 3:
        raise ValueError(f"min_mean must be within 0-3, got {min_mean}")
    if quantile is not None and not 0 <= quantile <= 1:
        raise ValueError(f"quantile must be within 0-1, got {quantile}")
    means = {d.id: scores[d.id].mean for d in dialogues if d.id in scores}
    cut_q = (float(np.quantile(list(means.values()), quantile))
             if quantile is not None and means else None)
    cuts = [c for c in (min_mean, cut_q) if c is not None]
    kept: list[Dialogue] = []
    dropped: list[Dropped] = []
    for d in dialogues:
        mean = means.get(d.id)
        if mean is None:
            dropped.append(Dropped(d.id, None, "not judged"))
        elif min_mean is not None and mean < min_mean:
            dropped.append(Dropped(d.id, mean, f"mean {mean:.2f} < min_mean {min_mean:.2f}"))
        elif cut_q is not None and mean < cut_q:
            dropped.append(Dropped(
                d.id, mean, f"mean {mean:.2f} < {quantile:.0%} quantile {cut_q:.2f}"))
        else:
            kept.append(d)
    return Filtered(tuple(kept), tuple(dropped), max(cuts) if cuts else None)


class EvaluationSummary(NamedTuple):
    data: dict[str, Any]
    """JSON-ready: per-metric mean/sd, τ, filter counts."""
    section: Section


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def evaluation_summary(
    dialogues: Sequence[Dialogue],
    scores: Mapping[str, JudgeScores],
    *,
    min_mean: float | None = None,
    quantile: float | None = None,
) -> EvaluationSummary:
    """The judge's view of a batch: metric means and SDs, τ by the judge and by the
    recorded outcomes, their agreement, and what the filter keeps."""
    judged = [d for d in dialogues if d.id in scores]
    rows = [scores[d.id] for d in judged]
    metrics: dict[str, dict[str, float | None]] = {}
    for name in (*METRICS, "mean"):
        values = [float(getattr(s, name)) for s in rows]
        metrics[name] = {
            "mean": fmean(values) if values else None,
            "sd": stdev(values) if len(values) > 1 else None,
        }
    agreement = (fmean(scores[d.id].task_success == is_success(d) for d in judged)
                 if judged else None)
    kept = filter_dialogues(dialogues, scores, min_mean=min_mean, quantile=quantile)
    data: dict[str, Any] = {
        "dialogues": len(dialogues),
        "judged": len(judged),
        "metrics": metrics,
        "acceptance_rate": acceptance_rate(judged, scores) if judged else None,
        "acceptance_rate_recorded": acceptance_rate(dialogues) if dialogues else None,
        "verdict_agreement": agreement,
        "filter": {
            "min_mean": min_mean,
            "quantile": quantile,
            "threshold": kept.threshold,
            "kept": len(kept.kept),
            "dropped": len(kept.dropped),
            "dropped_reasons": {d.dialogue_id: d.reason for d in kept.dropped},
        },
    }
    metric_rows = tuple(
        (name, _fmt(m["mean"]), _fmt(m["sd"])) for name, m in metrics.items()
    )
    tau = dialogue_rate(judged, lambda d: scores[d.id].task_success)
    recorded = dialogue_rate(dialogues, is_success)
    agrees = dialogue_rate(judged, lambda d: scores[d.id].task_success == is_success(d))
    data["intervals"] = {name: None if e is None else asdict(e) for name, e in (
        ("acceptance_rate", tau), ("acceptance_rate_recorded", recorded),
        ("verdict_agreement", agrees))}
    overview = (
        ("dialogues judged", f"{len(judged)} of {len(dialogues)}"),
        ("τ acceptance (judge)", pct_ci(tau)),
        ("τ acceptance (recorded outcome)", pct_ci(recorded)),
        ("judge agrees with outcome", pct_ci(agrees)),
        ("filter threshold (mean)", _fmt(kept.threshold)),
        ("kept / dropped", f"{len(kept.kept)} / {len(kept.dropped)}"),
    )
    section = Section("Judge evaluation (MADS metrics)", (
        "Scores 0-3 from the LLM judge; task success is its yes/no verdict. Rates with "
        "95 % intervals, the persona as the unit.",
        Table(("metric", "mean", "sd"), metric_rows),
        Table(("measure", "value"), overview),
    ))
    return EvaluationSummary(data, section)
