"""What the optimizer counts as evidence, with intervals, and the rules it decides by (pure).

- ``agent_view``: a simulated dialogue as a live call record would hold it.
- ``succeeded`` / ``dialogue_rate``: success by the run's outcome source, and any per-call
  yes/no as a rate over personas with its 95 % interval.
- ``paired_success``: two program versions' success on the same personas, paired persona
  by persona as ``salesvoice evaluate`` pairs them; ``compare``: every metric of
  ``salesvoice evaluate`` (``simulator.evaluate``) for the start and the chosen version.
- ``reached_target`` and ``improves``: Algorithm 1's stopping rule and what counts as an
  improvement, both on intervals rather than point estimates (see ``optimizer/loop.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.dialogue import Dialogue, Outcome
from agent.stats import Difference, Estimate, paired_means, paired_rates, persona_rate
from simulator.evaluate import Evaluation, OutcomeSource, evaluate, outcome_of, truth_of
from simulator.metrics import groups_of, persona_id
from simulator.report import pct_ci
from simulator.runner import SUCCESS

_SUCCESS = frozenset(o.value for o in SUCCESS)


def agent_view(dialogue: Dialogue, *, threshold: float = 0.6) -> Dialogue:
    """``dialogue`` as its agent saw it: the outcome its detector read (not a
    programmatic user's own verdict) and the sector it inferred with at least
    ``threshold`` confidence (not the persona's; unknown when it never got there).

    What the optimizer learns from is then what it could learn from live calls, and a
    strategy entry is keyed by the sector the agent will act on. The persona's other
    attributes stay: they are the simulation's design, known to whoever analyses it."""
    guess = next((t.sector for t in reversed(dialogue.agent_turns)
                  if t.sector is not None and t.sector.sector is not None), None)
    sector = guess.sector if guess is not None and guess.confidence >= threshold else None
    groups = groups_of(dialogue)
    groups.pop("sector", None)
    if sector is not None:
        groups["sector"] = sector
    caller = dialogue.caller.model_copy(update={
        "sector": sector, "attributes": {**dialogue.caller.attributes, "groups": groups}})
    update: dict[str, object] = {"caller": caller}
    if truth_of(dialogue) is not None:  # the outcome on record is the user's own verdict
        detected = dialogue.metadata.get("agent_outcome")
        outcome = Outcome(detected) if detected else None
        if outcome is None and dialogue.outcome is Outcome.MAX_TURNS:
            outcome = Outcome.MAX_TURNS
        update |= {"outcome": outcome,
                   "outcome_intent": dialogue.metadata.get("agent_outcome_intent")}
    return dialogue.model_copy(update=update)


def succeeded(dialogue: Dialogue, source: OutcomeSource) -> bool:
    """Accepted or an explicit intent, as detected by the agent or by the user's truth."""
    return outcome_of(dialogue, source) in _SUCCESS


def _units(dialogues: Sequence[Dialogue],
           verdict: Callable[[Dialogue], bool]) -> dict[str, list[float]]:
    units: dict[str, list[float]] = {}
    for d in dialogues:
        units.setdefault(persona_id(d), []).append(float(verdict(d)))
    return units


def dialogue_rate(dialogues: Sequence[Dialogue],
                  verdict: Callable[[Dialogue], bool]) -> Estimate | None:
    """The share of ``dialogues`` with a yes ``verdict``, the persona as the unit of the
    interval (``agent.stats.persona_rate``); None for no dialogues."""
    units = _units(dialogues, verdict)
    return persona_rate([units[p] for p in sorted(units)]) if units else None


def paired_success(before: Sequence[Dialogue], after: Sequence[Dialogue], *,
                   source: OutcomeSource) -> Difference | None:
    """``after`` minus ``before`` in success on the personas both met, paired by persona
    as ``salesvoice evaluate`` pairs them: with one dialogue per persona and side,
    Newcombe's paired interval and exact McNemar; else a bootstrap over personas and a
    sign-flip test. None when too few personas are shared to compare."""
    a = _units(before, lambda d: succeeded(d, source))
    b = _units(after, lambda d: succeeded(d, source))
    shared = sorted(a.keys() & b.keys())
    if shared and all(len(a[p]) == len(b[p]) == 1 for p in shared):
        return paired_rates([a[p][0] > 0 for p in shared], [b[p][0] > 0 for p in shared])
    if len(shared) < 2:
        return None
    return paired_means([a[p] for p in shared], [b[p] for p in shared])


def compare(start: Sequence[Dialogue], chosen: Sequence[Dialogue], *,
            source: OutcomeSource) -> Evaluation:
    """Every metric of ``salesvoice evaluate`` for the arms "start" and "chosen" (the
    dialogues' own variants are replaced), paired by persona."""
    return evaluate([*_as(start, "start"), *_as(chosen, "chosen")], baseline="start",
                    source=source)


def _as(dialogues: Sequence[Dialogue], arm: str) -> list[Dialogue]:
    return [d.model_copy(update={"variant": arm}) for d in dialogues]


def success_difference(evaluation: Evaluation, arm: str) -> Difference | None:
    """``arm`` minus the baseline in success, paired; None without shared personas."""
    d = evaluation.arm(arm).vs_baseline.get("success")
    return None if d is None else Difference(d.value, d.low, d.high, d.p, d.n, d.method)


def improves(difference: Difference | None) -> bool:
    """An improvement is a paired difference whose whole 95 % interval lies above 0."""
    return difference is not None and difference.low > 0


def reached_target(tau: Estimate | None, theta: float, h: Estimate | None,
                   h_basic: float | None) -> str | None:
    """Why Algorithm 1 may stop, or None: τ's 95 % interval lies at or above θ (evidence
    that the target is met), and H_avg's interval reaches H_basic (no evidence that
    the attitudes grew less diverse)."""
    if tau is None or tau.low < theta:
        return None
    if h is not None and h_basic is not None and h.high < h_basic:
        return None
    h_text = ("H not measured" if h is None or h_basic is None
              else f"H {h.value:.3f} ({h.low:.3f} to {h.high:.3f}) reaches H_basic {h_basic:.3f}")
    return f"τ {pct_ci(tau)}: its lower bound ≥ θ {theta:g}; {h_text}"
