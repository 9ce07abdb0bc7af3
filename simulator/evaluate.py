"""Paired comparison of agent configurations ("arms") on the same personas (pure, no I/O).

Every persona meets every arm with the same seeds, so arms are compared persona by
persona: the persona is the unit of every interval and test, however many dialogues it
had. With one dialogue per persona and arm, a rate gets a Wilson interval and a
difference the paired Newcombe interval with an exact McNemar test; with several, both
are bootstrapped over personas (``agent/stats.py``).

Outcomes come from the agent's side by default (``metadata.agent_outcome``: what the
agent's detector read, as on a live call); a programmatic user's own verdict is the
truth it is compared with (the detector's confusion matrix).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agent.dialogue import Dialogue, Outcome
from agent.stats import (
    Difference,
    Estimate,
    cluster_mean,
    holm,
    paired_means,
    paired_rates,
    persona_rate,
    power_two_rates,
    sample_size_two_rates,
)
from simulator.metrics import dialogue_metrics, persona_id, utterances_of, variant_of
from simulator.runner import SUCCESS

OutcomeSource = Literal["detected", "truth"]
Kind = Literal["rate", "mean"]

NONE = "none"
"""The outcome column of a dialogue that ended without one."""
CALLER_RULES = frozenset({"opt_out", "injection"})
"""Rules that fire on what the caller said, not on something the agent was about to say."""


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Kind
    label: str
    better: Literal["higher", "lower", "neither"] = "neither"


METRICS: tuple[Metric, ...] = (
    Metric("success", "rate", "success (accepted or explicit intent)", "higher"),
    Metric("success_truth", "rate", "success by the user's own verdict (programmatic users)",
           "higher"),
    Metric("accepted", "rate", "accepted", "higher"),
    Metric("opted_out", "rate", "opt-out", "lower"),
    Metric("turns", "mean", "utterances per dialogue (both sides)"),
    Metric("continue_ratio", "mean", "P1: share of CONTINUE thoughts"),
    Metric("guard_hits", "mean", "guard hits per agent turn", "lower"),
    Metric("words", "mean", "words per agent reply", "lower"),
    Metric("voice_to_voice_s", "mean", "voice-to-voice (s)", "lower"),
    Metric("role_slips", "mean", "simulated-user role slips per line", "lower"),
)
PRIMARY = "success"


def outcome_of(dialogue: Dialogue, source: OutcomeSource) -> str:
    """The dialogue's outcome as the agent detected it, or the user's truth. A dialogue
    whose user knows no truth (an LLM user) has only the agent's reading."""
    truth = truth_of(dialogue)
    if source == "truth" and truth is not None:
        return truth
    if truth is None:  # the runner already stored the agent's reading as the outcome
        return dialogue.outcome.value if dialogue.outcome else NONE
    detected = dialogue.metadata.get("agent_outcome")
    return str(detected) if detected else NONE


def truth_of(dialogue: Dialogue) -> str | None:
    """The user's own verdict, when the user knows it (programmatic users)."""
    if dialogue.metadata.get("user_kind") != "programmatic":
        return None
    return dialogue.outcome.value if dialogue.outcome else NONE


def _voice_to_voice(dialogue: Dialogue) -> float | None:
    values = [t.timings.get("voice_to_voice_s") for t in dialogue.agent_turns]
    if not any(isinstance(v, float) for v in values):
        values = [c.get("voice_to_voice_s") for c in dialogue.metadata.get("channel", [])
                  if isinstance(c, Mapping) and c.get("speaker") == "agent"]
    present = [float(v) for v in values if isinstance(v, int | float)]
    return fmean(present) if present else None


def scores(dialogue: Dialogue, source: OutcomeSource,
           role_slip: Callable[[str], bool] | None = None) -> dict[str, float | None]:
    """Every metric of one dialogue (None: not measurable here)."""
    outcome = outcome_of(dialogue, source)
    success = {o.value for o in SUCCESS}
    replies = [t for t in dialogue.agent_turns[1:] if t.text.strip()]  # greeting excluded
    user_lines = [t.text for t in dialogue.turns if t.speaker == "user" and t.text.strip()]
    m = dialogue_metrics(dialogue)
    truth = truth_of(dialogue)
    return {
        "success": float(outcome in success),
        "success_truth": None if truth is None else float(truth in success),
        "accepted": float(outcome == Outcome.ACCEPTED.value),
        "opted_out": float(outcome == Outcome.OPTED_OUT.value),
        "turns": float(utterances_of(dialogue)),
        "continue_ratio": m.continue_share,
        "guard_hits": (sum(len(set(t.compliance) - CALLER_RULES) for t in replies) / len(replies)
                       if replies else None),
        "words": fmean(len(t.text.split()) for t in replies) if replies else None,
        "voice_to_voice_s": _voice_to_voice(dialogue),
        "role_slips": _role_slips(dialogue, user_lines, role_slip),
    }


def _role_slips(dialogue: Dialogue, lines: list[str],
                check: Callable[[str], bool] | None) -> float | None:
    """Share of the simulated user's lines that slipped out of the customer's role: as the
    user model recorded it (on its raw output), else ``check`` on what it said. None for
    scripted users, who cannot slip."""
    hints = [h for h in dialogue.metadata.get("user_hints", [])
             if isinstance(h, Mapping) and "role_slip" in h]
    if hints:
        return sum(bool(h["role_slip"]) for h in hints) / len(hints)
    if check is None or not lines or dialogue.metadata.get("user_kind") == "programmatic":
        return None
    return sum(map(check, lines)) / len(lines)


# -- results ----------------------------------------------------------------------------------
class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Interval(_Result):
    value: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, e: Estimate) -> Interval:
        return cls(value=e.value, low=e.low, high=e.high, n=e.n)


class Delta(_Result):
    value: float
    low: float
    high: float
    p: float
    n: int
    method: str
    p_holm: float | None = None
    """``p`` adjusted for comparing several arms with one baseline (Holm); None for two."""

    @classmethod
    def of(cls, d: Difference) -> Delta:
        return cls(value=d.value, low=d.low, high=d.high, p=d.p, n=d.n, method=d.method)

    @property
    def covers_zero(self) -> bool:
        return self.low <= 0 <= self.high


class ArmResult(_Result):
    arm: str
    personas: int
    dialogues: int
    metrics: dict[str, Interval]
    vs_baseline: dict[str, Delta]
    """This arm minus the baseline, paired by persona (empty for the baseline)."""
    outcomes: dict[str, int]
    confusion: dict[str, dict[str, int]]
    """This arm's calls: the user's truth → the agent's reading → dialogues (programmatic
    users only). Per arm: a detector that misreads one arm's calls more than another's
    would otherwise pass for a difference between the arms."""


class Evaluation(_Result):
    arms: list[ArmResult]
    baseline: str
    outcome_source: OutcomeSource
    paired_personas: int
    dialogues_per_persona: float
    confusion: dict[str, dict[str, int]]
    """truth → detected → dialogues (programmatic users only)."""
    detector_agreement: float | None
    detectable_difference: float | None
    """The success difference this many personas detects with 80 % power (two-sided 5 %)."""

    def arm(self, name: str) -> ArmResult:
        return next(a for a in self.arms if a.arm == name)


def evaluate(
    dialogues: Sequence[Dialogue],
    *,
    baseline: str | None = None,
    source: OutcomeSource = "detected",
    role_slip: Callable[[str], bool] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Evaluation:
    """Per-arm metrics with intervals and each arm's paired difference from ``baseline``
    (default: the first arm seen)."""
    if not dialogues:
        raise ValueError("no dialogues to evaluate")
    # arm → persona → metric → values
    table: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    confusion: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int)))
    for d in dialogues:
        arm, unit = variant_of(d), persona_id(d)
        for name, value in scores(d, source, role_slip).items():
            if value is not None:
                table[arm][unit][name].append(value)
        outcomes[arm][outcome_of(d, source)] += 1
        truth = truth_of(d)
        if truth is not None:
            confusion[arm][truth][outcome_of(d, "detected")] += 1
    arms = list(table)
    base = baseline or arms[0]
    if base not in table:
        raise ValueError(f"baseline arm {base!r} not among the arms {arms}")
    shared = sorted(set.intersection(*(set(table[a]) for a in arms)))
    per_unit = len(dialogues) / sum(len(table[a]) for a in arms)
    results = [
        ArmResult(
            arm=arm, personas=len(table[arm]),
            dialogues=sum(len(v.get(PRIMARY, [])) for v in table[arm].values()),
            metrics=_arm_metrics(table[arm], n_boot, seed),
            vs_baseline={} if arm == base else _differences(
                table[base], table[arm], shared, n_boot, seed),
            outcomes=dict(sorted(outcomes[arm].items())),
            confusion=_sorted(confusion[arm]))
        for arm in [base, *(a for a in arms if a != base)]
    ]
    results = _holm(results)
    pooled: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for by_arm in confusion.values():
        for t, row in by_arm.items():
            for detected, k in row.items():
                pooled[t][detected] += k
    agree = sum(row.get(t, 0) for t, row in pooled.items())
    total = sum(sum(row.values()) for row in pooled.values())
    base_rate = results[0].metrics[PRIMARY].value if PRIMARY in results[0].metrics else None
    return Evaluation(
        arms=results, baseline=base, outcome_source=source, paired_personas=len(shared),
        dialogues_per_persona=round(per_unit, 3),
        confusion=_sorted(pooled),
        detector_agreement=agree / total if total else None,
        detectable_difference=(detectable_difference(base_rate, len(shared))
                               if base_rate is not None and shared else None),
    )


def _sorted(table: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {t: dict(sorted(row.items())) for t, row in sorted(table.items())}


def _holm(results: list[ArmResult]) -> list[ArmResult]:
    """With three or more arms, each metric's p-values adjusted over the comparisons."""
    others = results[1:]
    if len(others) < 2:
        return results
    for m in METRICS:
        deltas = [a.vs_baseline.get(m.name) for a in others]
        present = [d for d in deltas if d is not None]
        adjusted = iter(holm([d.p for d in present]))
        for a in others:
            d = a.vs_baseline.get(m.name)
            if d is not None:
                a.vs_baseline[m.name] = d.model_copy(update={"p_holm": next(adjusted)})
    return results


def _arm_metrics(units: Mapping[str, Mapping[str, list[float]]], n_boot: int,
                 seed: int) -> dict[str, Interval]:
    out: dict[str, Interval] = {}
    for m in METRICS:
        values = [v[m.name] for v in units.values() if v.get(m.name)]
        if not values:
            continue
        if m.kind == "rate":
            out[m.name] = Interval.of(persona_rate(values, n_boot=n_boot))
        elif len(values) >= 2:  # one persona's mean has no interval: left out, not faked
            out[m.name] = Interval.of(cluster_mean(values, n_boot=n_boot, seed=seed))
    return out


def _differences(base: Mapping[str, Mapping[str, list[float]]],
                 arm: Mapping[str, Mapping[str, list[float]]], shared: Sequence[str],
                 n_boot: int, seed: int) -> dict[str, Delta]:
    out: dict[str, Delta] = {}
    for m in METRICS:
        units = [u for u in shared if base[u].get(m.name) and arm[u].get(m.name)]
        if not units:
            continue
        a = [base[u][m.name] for u in units]
        b = [arm[u][m.name] for u in units]
        if m.kind == "rate" and all(len(x) == 1 for x in (*a, *b)):
            out[m.name] = Delta.of(paired_rates([x[0] > 0 for x in a], [x[0] > 0 for x in b]))
        elif len(units) >= 2:
            out[m.name] = Delta.of(paired_means(a, b, n_boot=n_boot, seed=seed))
    return out


# -- planning ----------------------------------------------------------------------------------
def recommended_personas(baseline_rate: float, difference: float, *, power: float = 0.8,
                         alpha: float = 0.05) -> int:
    """Personas (each meeting both arms) to detect ``difference`` in success.

    Sized as if the arms were independent samples: pairing only removes variance when
    a persona's outcomes under the two arms are positively correlated, so the paired
    test reaches at least this power."""
    other = min(1.0, max(0.0, baseline_rate + difference))
    return sample_size_two_rates(baseline_rate, other, alpha=alpha, power=power)


def detectable_difference(baseline_rate: float, personas: int, *, power: float = 0.8,
                          alpha: float = 0.05) -> float | None:
    """The smallest success increase over ``baseline_rate`` that ``personas`` detect with
    ``power`` (None: not even a rise to 100 % would)."""
    if personas < 2 or baseline_rate >= 1:
        return None
    if power_two_rates(baseline_rate, 1.0, personas, alpha=alpha) < power:
        return None
    lo, hi = 0.0, 1.0 - baseline_rate
    for _ in range(40):  # bisection: power rises with the difference
        mid = (lo + hi) / 2
        if power_two_rates(baseline_rate, baseline_rate + mid, personas, alpha=alpha) < power:
            lo = mid
        else:
            hi = mid
    return hi
