"""What the optimizer decides by: the calls as the agent saw them, rates and paired
differences with the persona as the unit, the stopping rule and what counts as an
improvement, the attitude entropy's interval, and the lineage's JSON."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from agent.dialogue import (
    CallerProfile,
    Dialogue,
    Outcome,
    SectorGuess,
    Template,
    Thought,
    Turn,
)
from agent.stats import Difference, Estimate, cluster_mean, paired_means, paired_rates, rate
from optimizer.attitude import AttitudeChain, load_attitudes
from optimizer.attitude_stats import (
    average_entropy,
    average_entropy_interval,
    transition_counts,
    transition_matrix,
)
from optimizer.attributes import explored
from optimizer.evidence import (
    agent_view,
    dialogue_rate,
    improves,
    paired_success,
    reached_target,
    succeeded,
)
from optimizer.lineage import Measured
from simulator.metrics import groups_of


def guess(sector: str | None, confidence: float) -> SectorGuess:
    return SectorGuess(sector=sector, confidence=confidence,
                       source="inferred" if sector else "none")


def call(did: str, persona: str, *, truth: Outcome | None, detected: Outcome | None,
         sectors: list[SectorGuess | None] | None = None, true_sector: str = "Q",
         pitched_first: bool = True) -> Dialogue:
    """A programmatic user's call: ``truth`` is its own verdict, ``detected`` the agent's.
    ``sectors``: the agent's sector guess on each of its turns after the greeting."""
    turns = [Turn(speaker="agent", text="Hello, this is Ava.")]
    for n, g in enumerate(sectors or [None]):
        template = Template.PIVOT if pitched_first or n else Template.CHITCHAT
        turns += [Turn(speaker="user", text="mm"),
                  Turn(speaker="agent", text="...", sector=g,
                       thought=Thought(template=template, intent="home"))]
    caller = CallerProfile(attributes={"persona": {"id": persona},
                                       "groups": {"sector": true_sector, "gender": "Female"}})
    return Dialogue(
        id=did, source="simulated", program_version="p", caller=caller, turns=turns,
        outcome=truth, outcome_intent="home" if truth in (Outcome.ACCEPTED,) else None,
        metadata={"persona_id": persona, "user_kind": "programmatic",
                  "agent_outcome": detected.value if detected else None,
                  "agent_outcome_intent": "travel" if detected else None})


# -- the calls as the agent saw them ----------------------------------------------------------
def test_agent_view_has_the_detected_outcome_and_the_inferred_sector() -> None:
    d = call("d1", "p1", truth=Outcome.ACCEPTED, detected=Outcome.EXPLICIT_INTENT,
             sectors=[guess(None, 0.0), guess("J", 0.9), guess("J", 0.95)])
    seen = agent_view(d)
    assert (seen.outcome, seen.outcome_intent) == (Outcome.EXPLICIT_INTENT, "travel")
    assert seen.caller.sector == "J" and groups_of(seen)["sector"] == "J"
    assert groups_of(seen)["gender"] == "Female"  # the design's other attributes stay
    assert seen.metadata["persona_id"] == "p1"
    assert d.outcome is Outcome.ACCEPTED and groups_of(d)["sector"] == "Q"  # input untouched
    # A guess below the threshold is no sector at all; a missed outcome is no success.
    unsure = agent_view(call("d2", "p1", truth=Outcome.ACCEPTED, detected=None,
                             sectors=[guess("J", 0.5)]))
    assert unsure.caller.sector is None and "sector" not in groups_of(unsure)
    assert unsure.outcome is None and not succeeded(unsure, "detected")
    assert agent_view(call("d3", "p1", truth=Outcome.MAX_TURNS,
                           detected=None)).outcome is Outcome.MAX_TURNS


def test_success_by_source_and_calls_that_explored() -> None:
    d = call("d1", "p1", truth=Outcome.ACCEPTED, detected=None)
    assert succeeded(d, "truth") and not succeeded(d, "detected")
    knew = call("a", "p1", truth=None, detected=None, sectors=[guess("J", 0.9)])
    late = call("b", "p2", truth=None, detected=None,
                sectors=[guess(None, 0.0), guess("J", 0.9)])
    asked_first = call("c", "p3", truth=None, detected=None, pitched_first=False,
                       sectors=[guess(None, 0.0), guess("J", 0.9)])
    assert [x.id for x in explored([knew, late, asked_first])] == ["a", "c"]


# -- rates and paired differences, the persona as the unit -----------------------------------
def test_rates_count_personas_not_dialogues() -> None:
    one_each = [call(f"d{i}", f"p{i}", truth=Outcome.ACCEPTED if i < 3 else Outcome.WITHDREW,
                     detected=None) for i in range(8)]
    assert dialogue_rate(one_each, lambda d: succeeded(d, "truth")) == rate(3, 8)
    units = [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    several = [call(f"d{p}{k}", f"p{p}", truth=Outcome.ACCEPTED if x else Outcome.WITHDREW,
                    detected=None) for p, xs in enumerate(units) for k, x in enumerate(xs)]
    assert dialogue_rate(several, lambda d: succeeded(d, "truth")) == cluster_mean(units)
    assert dialogue_rate([], lambda d: True) is None


def test_paired_success_matches_the_stats_on_the_personas_both_met() -> None:
    rng = random.Random(0)
    a_wins = [rng.random() < 0.3 for _ in range(40)]
    b_wins = [rng.random() < 0.6 for _ in range(40)]

    def calls(wins: list[bool], arm: str) -> list[Dialogue]:
        return [call(f"{arm}{i}", f"p{i}", truth=Outcome.ACCEPTED if w else Outcome.WITHDREW,
                     detected=Outcome.ACCEPTED if w else None) for i, w in enumerate(wins)]

    before, after = calls(a_wins, "a"), calls(b_wins, "b")
    extra = call("b-extra", "p-new", truth=Outcome.ACCEPTED, detected=Outcome.ACCEPTED)
    got = paired_success(before, [*after, extra], source="detected")  # p-new is unpaired
    assert got == paired_rates(a_wins, b_wins)
    twice = paired_success([*before, *calls(a_wins, "a2")], [*after, *calls(b_wins, "b2")],
                           source="truth")
    order = sorted(range(40), key=lambda i: f"p{i}")  # personas in id order
    assert twice == paired_means([[float(a_wins[i])] * 2 for i in order],
                                 [[float(b_wins[i])] * 2 for i in order])
    assert paired_success(before, [extra], source="truth") is None


# -- the rules -----------------------------------------------------------------------------
def test_stop_only_when_the_interval_of_tau_clears_theta() -> None:
    lucky = rate(5, 6)  # 83 % on six personas: its lower bound is 44 %
    assert lucky.value >= 0.5 and reached_target(lucky, 0.5, None, None) is None
    sure = rate(90, 100)
    reason = reached_target(sure, 0.8, None, None)
    assert reason is not None and "lower bound ≥ θ 0.8" in reason
    # H only needs no evidence of a drop below H_basic.
    h_overlapping = Estimate(1.9, 1.7, 2.1, 30)
    h_dropped = Estimate(1.5, 1.3, 1.8, 30)
    assert reached_target(sure, 0.8, h_overlapping, 2.0) is not None
    assert reached_target(sure, 0.8, h_dropped, 2.0) is None
    assert reached_target(None, 0.0, None, None) is None


def test_an_improvement_needs_the_whole_interval_above_zero() -> None:
    def diff(low: float, high: float) -> Difference:
        return Difference((low + high) / 2, low, high, 0.04, 100, "m")

    assert improves(diff(0.01, 0.2))
    assert not improves(diff(-0.01, 0.3)) and not improves(diff(-0.3, -0.1))
    assert not improves(None)


# -- attitude entropy with an interval over personas ------------------------------------------
def test_h_avg_interval_is_a_delete_one_persona_jackknife() -> None:
    space = load_attitudes()
    rng = random.Random(1)
    units = [[AttitudeChain(f"d{i}{j}", tuple(rng.choice(space.names) for _ in range(4)),
                            ("",) * 4, None) for j in range(1 + i % 2)] for i in range(12)]
    got = average_entropy_interval(units, space)

    def h(chains: list[AttitudeChain]) -> float:
        return average_entropy(transition_matrix(transition_counts(chains, space)))

    value = h([c for u in units for c in u])
    loo = np.array([h([c for j, u in enumerate(units) if j != i for c in u])
                    for i in range(len(units))])
    se = math.sqrt((len(units) - 1) / len(units) * ((loo - loo.mean()) ** 2).sum())
    assert got.value == pytest.approx(value) and got.n == 12
    assert got.low == pytest.approx(value - 1.959964 * se, abs=1e-5)
    assert got.high == pytest.approx(value + 1.959964 * se, abs=1e-5)
    assert got.low < got.value < got.high
    alone = average_entropy_interval(units[:1], space)
    assert alone.low == alone.value == alone.high


def test_lineage_lines_carry_every_interval_as_plain_json() -> None:
    m = Measured("v1", "v0", "optimizer.attributes", 1, "p.json",
                 select=Estimate(0.41234567, 0.3, 0.5, 192), select_n=192, versus="v0",
                 difference=Difference(0.1, 0.02, 0.18, 0.01, 192, "newcombe"), improved=True,
                 tau=rate(3, 6))
    line: dict[str, Any] = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert line["select"] == {"value": 0.4123, "low": 0.3, "high": 0.5, "n": 192}
    assert line["difference"]["p"] == 0.01 and line["difference"]["method"] == "newcombe"
    assert line["tau"]["n"] == 6 and line["train"] is None and line["improved"] is True
