"""The first paper's per-persona metrics, averaged per attribute group (pure, no I/O).

Per dialogue: success, utterances (both sides, the paper's "turns"), continue share,
switch counts, intents mentioned, outcome. Per persona: those pooled or averaged over the
persona's dialogues. Per group (e.g. per sector): the mean of the *persona* values, as the
paper compares groups, so a persona with many dialogues weighs no more than one with few.

A thought's *topic* is its intent, except that a chit-chat thought holds no topic even if
the model filled in an intent (the thought schema allows it; the template says "no
product hinted"). Switches count topic changes between agent turns; the strict count also
treats every return from chit-chat to a product as a switch (the first topic excepted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.dialogue import Dialogue, Outcome, Template, Thought
from simulator.persona import AGE_BUCKETS
from simulator.runner import is_success

UNKNOWN = "unknown"
"""The group value of a dialogue whose caller lacks that attribute (live calls)."""
DEFAULT_GROUP_BY = ("sector", "occupation", "gender", "age_bucket", "mbti_ei")
_ORDER: dict[str, tuple[str, ...]] = {"age_bucket": tuple(AGE_BUCKETS)}
"""Group values with a natural order; the rest sort alphabetically, ``unknown`` last."""
_PROFILE_FALLBACK = ("sector", "occupation")
"""Group keys read from the caller profile when the persona groups lack them (live calls)."""


@dataclass(frozen=True, slots=True)
class DialogueMetrics:
    dialogue_id: str
    persona_id: str
    groups: Mapping[str, str]
    variant: str
    success: bool
    utterances: int
    thought_turns: int
    """Agent turns that carry a thought (the greeting carries none)."""
    continue_turns: int
    switches: int
    strict_switches: int
    intents: tuple[str, ...]
    """``thought.intent`` of each agent turn that has one, in order."""
    outcome: Outcome | None
    outcome_intent: str | None

    @property
    def continue_share(self) -> float | None:
        """Share of thought turns whose template is CONTINUE; None without thoughts."""
        return self.continue_turns / self.thought_turns if self.thought_turns else None


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Stats(_Result):
    """The paper's metrics over one set of dialogues (a persona's, or all of them)."""

    n_dialogues: int
    success_rate: float
    avg_turns: float
    avg_turns_success: float | None
    """None when no dialogue succeeded."""
    continue_micro: float | None
    """Pooled over all thought turns; None without thoughts."""
    continue_macro: float | None
    """Mean of per-dialogue shares, dialogues without thoughts left out."""
    mean_switches: float
    mean_strict_switches: float
    intent_counts: dict[str, int]
    """Intents of agent thoughts, most frequent first."""
    success_intent_counts: dict[str, int]
    """``outcome_intent`` of successful dialogues (``unknown`` when unset)."""
    outcome_counts: dict[str, int]
    """Outcome of each dialogue (``none`` while a dialogue has none)."""


class PersonaMetrics(Stats):
    persona_id: str
    groups: dict[str, str]


class GroupMetrics(Stats):
    """One group's metrics: means of its personas' values (None-valued personas left out);
    the counts and ``n_dialogues`` are pooled."""

    key: str
    value: str
    n_personas: int


class Summary(_Result):
    """Everything the report and the optimizer read; ``model_dump(mode="json")`` is what
    ``summarize`` returns and ``Summary.model_validate`` reads it back."""

    n_dialogues: int
    n_personas: int
    group_by: list[str]
    overall: Stats | None
    """None for no dialogues."""
    outcome_rates: dict[str, float]
    variants: dict[str, Stats]
    """Per agent program variant: a batch that compares variants must not be read pooled."""
    groups: dict[str, list[GroupMetrics]]
    personas: list[PersonaMetrics]


# -- per dialogue ----------------------------------------------------------------------------
def persona_id(dialogue: Dialogue) -> str:
    """The persona id; a live caller's id, else the dialogue's own id (each call its own
    persona, so it neither vanishes nor merges with other calls)."""
    pid = dialogue.metadata.get("persona_id")
    if pid is None:
        persona = dialogue.caller.attributes.get("persona")
        pid = persona.get("id") if isinstance(persona, Mapping) else None
    return str(pid or dialogue.caller.caller_id or dialogue.id)


def groups_of(dialogue: Dialogue) -> dict[str, str]:
    """The caller's attribute groups (values as strings); keys that are absent stay absent."""
    raw = dialogue.caller.attributes.get("groups")
    groups = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    for key in _PROFILE_FALLBACK:
        value = getattr(dialogue.caller, key)
        if key not in groups and value is not None:
            groups[key] = str(value)
    return groups


def variant_of(dialogue: Dialogue) -> str:
    return str(dialogue.variant or dialogue.metadata.get("variant") or dialogue.program_version)


def utterances_of(dialogue: Dialogue) -> int:
    """Utterances of both sides (the runner's count, else turns with text)."""
    n = dialogue.metadata.get("utterances")
    if isinstance(n, int) and not isinstance(n, bool):
        return n
    return sum(1 for t in dialogue.turns if t.text.strip())


def _topic(thought: Thought) -> str | None:
    return None if thought.template is Template.CHITCHAT else thought.intent


def switch_counts(thoughts: Sequence[Thought]) -> tuple[int, int]:
    """(switches, strict switches) over one dialogue's agent thoughts, in order."""
    plain = strict = 0
    last: str | None = None  # last topic, chit-chat skipped
    current: str | None = None  # current topic, chit-chat resets it
    for thought in thoughts:
        topic = _topic(thought)
        if topic is None:
            current = None
            continue
        if last is not None:
            plain += topic != last
            strict += topic != current
        last = current = topic
    return plain, strict


def dialogue_metrics(dialogue: Dialogue) -> DialogueMetrics:
    thoughts = [t.thought for t in dialogue.agent_turns if t.thought is not None]
    switches, strict = switch_counts(thoughts)
    return DialogueMetrics(
        dialogue_id=dialogue.id,
        persona_id=persona_id(dialogue),
        groups=groups_of(dialogue),
        variant=variant_of(dialogue),
        success=is_success(dialogue),
        utterances=utterances_of(dialogue),
        thought_turns=len(thoughts),
        continue_turns=sum(t.template is Template.CONTINUE for t in thoughts),
        switches=switches,
        strict_switches=strict,
        intents=tuple(t.intent for t in thoughts if t.intent is not None),
        outcome=dialogue.outcome,
        outcome_intent=dialogue.outcome_intent,
    )


# -- sets of dialogues -------------------------------------------------------------------------
def _counts(values: Iterable[str]) -> dict[str, int]:
    """Most frequent first, ties by name (so output does not depend on input order)."""
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def stats(metrics: Sequence[DialogueMetrics]) -> Stats:
    """The metrics of a non-empty set of dialogues."""
    if not metrics:
        raise ValueError("stats of no dialogues: there is nothing to average")
    return Stats(**_stats_fields(metrics))


def _stats_fields(metrics: Sequence[DialogueMetrics]) -> dict[str, Any]:
    thought_turns = sum(m.thought_turns for m in metrics)
    return {
        "n_dialogues": len(metrics),
        "success_rate": fmean(m.success for m in metrics),
        "avg_turns": fmean(m.utterances for m in metrics),
        "avg_turns_success": _mean([m.utterances for m in metrics if m.success]),
        "continue_micro": (sum(m.continue_turns for m in metrics) / thought_turns
                           if thought_turns else None),
        "continue_macro": _mean(m.continue_share for m in metrics),
        "mean_switches": fmean(m.switches for m in metrics),
        "mean_strict_switches": fmean(m.strict_switches for m in metrics),
        "intent_counts": _counts(i for m in metrics for i in m.intents),
        "success_intent_counts": _counts(m.outcome_intent or UNKNOWN
                                         for m in metrics if m.success),
        "outcome_counts": _counts(m.outcome.value if m.outcome else "none" for m in metrics),
    }


def persona_metrics(metrics: Iterable[DialogueMetrics]) -> list[PersonaMetrics]:
    """One entry per persona id, sorted by id; groups by ``persona_groups``."""
    by_persona: dict[str, list[DialogueMetrics]] = {}
    for m in metrics:
        by_persona.setdefault(m.persona_id, []).append(m)
    return [PersonaMetrics(persona_id=pid, groups=persona_groups(m.groups for m in ms),
                           **_stats_fields(ms))
            for pid, ms in sorted(by_persona.items())]


def persona_groups(per_dialogue: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """A persona's group values from its dialogues' own: per key, the value most of them
    know (ties: the first by name); a key no dialogue knows stays absent.

    A dialogue's groups can differ from its persona's: a call record holds the sector
    its agent inferred in that call, and may hold none. The persona's metrics pool all
    its calls, so its group must not hang on whichever call came first."""
    seen: dict[str, Counter[str]] = {}
    for groups in per_dialogue:
        for key, value in groups.items():
            if value != UNKNOWN:
                seen.setdefault(key, Counter())[value] += 1
    return {key: min(c, key=lambda v: (-c[v], v)) for key, c in seen.items()}


def _group_order(key: str, value: str) -> tuple[int, int, str]:
    order = _ORDER.get(key, ())
    rank = order.index(value) if value in order else len(order)
    return (value == UNKNOWN, rank, value)


def group_metrics(personas: Sequence[PersonaMetrics], key: str) -> list[GroupMetrics]:
    """Per value of ``key`` (any group attribute), the mean of its personas' metrics."""
    by_value: dict[str, list[PersonaMetrics]] = {}
    for p in personas:
        by_value.setdefault(p.groups.get(key, UNKNOWN), []).append(p)
    out = []
    for value in sorted(by_value, key=lambda v: _group_order(key, v)):
        ps = by_value[value]
        out.append(GroupMetrics(
            key=key, value=value, n_personas=len(ps),
            n_dialogues=sum(p.n_dialogues for p in ps),
            success_rate=fmean(p.success_rate for p in ps),
            avg_turns=fmean(p.avg_turns for p in ps),
            avg_turns_success=_mean(p.avg_turns_success for p in ps),
            continue_micro=_mean(p.continue_micro for p in ps),
            continue_macro=_mean(p.continue_macro for p in ps),
            mean_switches=fmean(p.mean_switches for p in ps),
            mean_strict_switches=fmean(p.mean_strict_switches for p in ps),
            intent_counts=_pooled(p.intent_counts for p in ps),
            success_intent_counts=_pooled(p.success_intent_counts for p in ps),
            outcome_counts=_pooled(p.outcome_counts for p in ps),
        ))
    return out


def _pooled(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def values_by_group(personas: Sequence[PersonaMetrics], key: str,
                    metric: str) -> dict[str, list[float]]:
    """Per value of ``key``, the personas' values of one numeric metric (None left out):
    the samples for a one-way ANOVA across groups (``scipy.stats.f_oneway``)."""
    if metric not in Stats.model_fields or metric.endswith("_counts"):
        raise ValueError(f"{metric!r} is not a numeric metric of Stats")
    out: dict[str, list[float]] = {}
    for p in personas:
        value = getattr(p, metric)
        samples = out.setdefault(p.groups.get(key, UNKNOWN), [])
        if value is not None:
            samples.append(float(value))
    return {v: out[v] for v in sorted(out, key=lambda v: _group_order(key, v))}


def outcome_rates(dialogues: Iterable[Dialogue]) -> dict[str, float]:
    """Share of each outcome (every ``Outcome``, in order, then ``none`` if any dialogue
    has no outcome); empty for no dialogues."""
    counts = Counter(d.outcome.value if d.outcome else "none" for d in dialogues)
    n = sum(counts.values())
    if not n:
        return {}
    keys = [o.value for o in Outcome] + (["none"] if counts["none"] else [])
    return {k: counts[k] / n for k in keys}


def summary(dialogues: Sequence[Dialogue],
            group_by: Sequence[str] = DEFAULT_GROUP_BY) -> Summary:
    metrics = [dialogue_metrics(d) for d in dialogues]
    personas = persona_metrics(metrics)
    by_variant: dict[str, list[DialogueMetrics]] = {}
    for m in metrics:
        by_variant.setdefault(m.variant, []).append(m)
    return Summary(
        n_dialogues=len(metrics),
        n_personas=len(personas),
        group_by=list(group_by),
        overall=stats(metrics) if metrics else None,
        outcome_rates=outcome_rates(dialogues),
        variants={v: stats(ms) for v, ms in sorted(by_variant.items())},
        groups={key: group_metrics(personas, key) for key in group_by},
        personas=personas,
    )


def summarize(dialogues: Sequence[Dialogue],
              group_by: Sequence[str] = DEFAULT_GROUP_BY) -> dict[str, Any]:
    """All of the above as a JSON-serialisable dict (``Summary`` dumped)."""
    return summary(dialogues, group_by).model_dump(mode="json")
