"""Offline A/B before going live: an experiment's arms run as ``salesvoice evaluate`` arms
on the same simulated callers (its paired design), then the simulated effect is turned
into the live sample size it would need.

Programmatic users with a planted truth by default (no LLM on the caller's side); an arm's
``llm`` settings become the evaluate arm's ``llm`` (the product agent runs each arm on its
own model). A simulated effect is a hint, not a live result: the live experiment decides.
The live size applies the simulated *difference* to the plan's baseline: simulated
callers convert at the planted world's rates, not at the live rate the plan names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from agent.ab_stats import sample_size_msprt
from agent.dialogue import Outcome
from server.experiments import Experiment
from simulator.batch import PersonaSet
from simulator.evaluate import Delta, Evaluation
from simulator.evaluate_run import Arm, EvaluateConfig

AgentKind = Literal["llm", "rule"]


@dataclass(frozen=True, slots=True)
class Effect:
    """One arm's simulated effect on conversion against the control."""

    arm: str
    control: str
    metric: str
    """The evaluate metric standing for the experiment's conversion."""
    control_rate: float
    delta: Delta
    """Arm minus control, paired by persona (interval and McNemar p)."""
    live_units_per_arm: int | None
    """Live callers per arm to detect ``delta.value`` from the plan's baseline at its
    alpha (Bonferroni over the comparisons) and power; None for no difference at all."""

    @property
    def covers_zero(self) -> bool:
        return self.delta.covers_zero


def conversion_metric(exp: Experiment) -> str:
    """The evaluate metric closest to the experiment's conversion: in-call outcomes only
    (simulated calls have no later CRM outcomes)."""
    in_call = set(exp.conversion.in_call)
    if in_call == {Outcome.ACCEPTED}:
        return "accepted"
    return "success"  # accepted or explicit intent: evaluate's primary metric


def evaluate_config(exp: Experiment, *, personas: int, seed: int, agent: AgentKind,
                    out: Path | None) -> EvaluateConfig:
    """The experiment as an evaluation: control first (the baseline), one arm each."""
    arms = sorted(exp.arms, key=lambda a: a.name != exp.control)
    return EvaluateConfig.model_validate({
        "name": f"ab-{exp.name}",
        # The rule agent runs no model: an arm's llm settings would only be checked (a
        # LoRA file that must exist) and stamped into the run's design, never used.
        "arms": {a.name: Arm(program=a.program, llm=(a.llm or {}) if agent == "llm" else {})
                 for a in arms},
        "baseline": exp.control,
        "outcome": "detected",
        "personas": PersonaSet(count=personas, seed=seed),
        "simulation": {"user": {"kind": "programmatic", "world": "planted"},
                       "agent": {"kind": agent}},
        "output": None if out is None else str(out),
    })


def effects(exp: Experiment, ev: Evaluation) -> list[Effect]:
    """Each non-control arm's simulated effect and the live size it needs."""
    metric = conversion_metric(exp)
    control = ev.arm(exp.control).metrics.get(metric)
    others = [a for a in ev.arms if a.arm != exp.control]
    alpha = exp.plan.alpha / max(1, len(others))  # as the live analysis: Bonferroni
    out = []
    for arm in others:
        d = arm.vs_baseline.get(metric)
        if d is None or control is None:
            continue
        target = min(1.0, max(0.0, exp.plan.baseline + d.value))
        size = (None if target == exp.plan.baseline else sample_size_msprt(
            exp.plan.baseline, target, alpha=alpha, power=exp.plan.power, tau=exp.plan.mde))
        out.append(Effect(arm.arm, exp.control, metric, control.value, d, size))
    return out


def describe(exp: Experiment, found: list[Effect]) -> list[str]:
    """What a team reads before going live, one line per arm."""
    if not found:
        return ["no arm could be compared with the control (no persona met both)"]
    lines = []
    for e in found:
        d = e.delta
        said = (f"{e.arm} vs {e.control} on simulated callers: {100 * d.value:+.1f} points "
                f"of {e.metric} (95 % paired interval {100 * d.low:+.1f} to "
                f"{100 * d.high:+.1f}, McNemar p={d.p:.3g}, {d.n} personas; control "
                f"{100 * e.control_rate:.1f} %).")
        if e.covers_zero:
            said += " The interval includes 0: the simulation shows no effect either way."
        if e.live_units_per_arm is None:
            said += " No difference at all: no live sample size would detect it."
        else:
            said += (f" Live, from the plan's baseline of {100 * exp.plan.baseline:.1f} %, "
                     f"that difference needs {e.live_units_per_arm} callers per arm "
                     f"(alpha {exp.plan.alpha:g}, power {100 * exp.plan.power:.0f} %); the "
                     f"plan's own effect ({100 * exp.plan.mde:+.1f} points) needs "
                     f"{_planned(exp, len(found))}.")
        lines.append(said)
    lines += notes(exp)
    return lines


def _planned(exp: Experiment, comparisons: int) -> int:
    if exp.plan.units_per_arm:
        return exp.plan.units_per_arm
    # The live test that decides is the always-valid one (agent/ab_analysis.py): size for it.
    return sample_size_msprt(exp.plan.baseline, exp.plan.baseline + exp.plan.mde,
                             alpha=exp.plan.alpha / comparisons, power=exp.plan.power,
                             tau=exp.plan.mde)


def notes(exp: Experiment) -> list[str]:
    """What the simulation leaves out of the experiment."""
    out = []
    if exp.conversion.outcomes:
        out.append("Simulated calls have no later outcomes (" + ", ".join(
            exp.conversion.outcomes) + "): the effect is on in-call conversion only.")
    if any(a.tts for a in exp.arms):
        out.append("Arms' tts settings do not apply: the simulated calls are text.")
    return out


async def simulate_experiment(exp: Experiment, settings: Any, console: Console, *,
                              personas: int, seed: int = 9001, agent: AgentKind = "llm",
                              out: Path | None = None) -> list[Effect]:
    """Run (or resume) the experiment's arms on simulated callers; their effects."""
    from simulator.evaluate_run import run_evaluation

    if agent == "rule" and any(a.llm for a in exp.arms):
        console.print("note: the rule agent uses no LLM; the arms' llm settings do not "
                      "apply (--agent llm runs them)", highlight=False)
    config = evaluate_config(exp, personas=personas, seed=seed, agent=agent, out=out)
    ev = await run_evaluation(config, settings, console)
    return effects(exp, ev)
