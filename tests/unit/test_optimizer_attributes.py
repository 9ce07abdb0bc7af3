"""The first paper's attribute analysis: the statistics against scipy and by hand (one
unit per persona), the derived strategy table and its rationales. The planted-truth runs
are in ``test_optimizer_planted.py``."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency, f_oneway
from scipy.stats.contingency import association

from agent.dialogue import CallerProfile, Dialogue, Outcome, Template, Thought, Turn
from agent.domain import load_domain
from agent.program import load_program
from models.llm.fake import FakeLLM
from optimizer.attribute_stats import anova, chi_square, majority_intent
from optimizer.attributes import (
    SectorStrategy,
    data_rationale,
    derive_strategy,
    strategy_program,
    write_rationales,
)
from simulator.metrics import PersonaMetrics

DOMAIN = load_domain("insurance")
DEFAULT = load_program("insurance-default")


# -- hand-made inputs -------------------------------------------------------------------------
def persona(pid: str, groups: dict[str, str], *, success_rate: float = 0.5,
            success_intents: dict[str, int] | None = None,
            intents: dict[str, int] | None = None) -> PersonaMetrics:
    return PersonaMetrics(
        persona_id=pid, groups=groups, n_dialogues=1, success_rate=success_rate,
        avg_turns=10.0, avg_turns_success=None, continue_micro=None, continue_macro=None,
        mean_switches=0.0, mean_strict_switches=0.0, intent_counts=intents or {},
        success_intent_counts=success_intents or {}, outcome_counts={})


def call(did: str, sector: str, pitched: list[str], won: str | None) -> Dialogue:
    """A caller of ``sector`` (one persona per sector) hears ``pitched``; takes ``won``."""
    turns = [Turn(speaker="agent", text="Hello, this is Ava, an AI assistant.")]
    for intent in pitched:
        turns += [Turn(speaker="user", text="mm"),
                  Turn(speaker="agent", text="...",
                       thought=Thought(template=Template.PIVOT, intent=intent))]
    caller = CallerProfile(sector=sector, attributes={"persona": {"id": f"p-{sector}"},
                                                      "groups": {"sector": sector}})
    return Dialogue(id=did, source="simulated", program_version="p", caller=caller,
                    turns=turns, outcome=Outcome.ACCEPTED if won else Outcome.WITHDREW,
                    outcome_intent=won)


# -- ANOVA and chi-squared against scipy ------------------------------------------------------
def test_anova_matches_scipy_overall_and_per_pair_and_a_hand_computed_f() -> None:
    rates = {"A": [0.2, 0.4, 0.3], "J": [0.6, 0.8, 0.9, 0.7], "K": [0.1, 0.5]}
    people = [persona(f"{g}{i}", {"sector": g}, success_rate=r)
              for g, rs in rates.items() for i, r in enumerate(rs)]
    result = anova(people, "sector", "success_rate")
    expected = f_oneway(*rates.values())
    assert result.f == pytest.approx(expected.statistic)
    assert result.p == pytest.approx(expected.pvalue)
    assert [(g.value, g.n) for g in result.groups] == [("A", 3), ("J", 4), ("K", 2)]
    assert [(t.a, t.b) for t in result.pairs] == [("A", "J"), ("A", "K"), ("J", "K")]
    for t in result.pairs:
        pair = f_oneway(rates[t.a], rates[t.b])
        assert t.f == pytest.approx(pair.statistic)
        assert t.p == pytest.approx(pair.pvalue)
        assert t.p_bonferroni == pytest.approx(min(1.0, 3 * pair.pvalue))
    # By hand: means 0.3 and 0.7, SSB = 4 * 0.2^2 = 0.16 (1 dof), SSW = 4 * 0.1^2 = 0.04
    # (2 dof): F = 0.16 / 0.02 = 8; F(1, 2) is t(2) squared, so p = 1 - sqrt(8 / 10).
    two = anova([persona(f"x{i}", {"gender": g}, success_rate=r) for i, (g, r) in
                 enumerate([("F", 0.2), ("F", 0.4), ("M", 0.6), ("M", 0.8)])], "gender")
    assert two.f == pytest.approx(8.0)
    assert two.p == pytest.approx(1 - math.sqrt(0.8))


def test_anova_leaves_out_small_and_unknown_groups_and_lists_them() -> None:
    people = [persona("a1", {"sector": "A"}, success_rate=0.1),
              persona("a2", {"sector": "A"}, success_rate=0.3),
              persona("j1", {"sector": "J"}, success_rate=0.7),
              persona("j2", {"sector": "J"}, success_rate=0.9),
              persona("k1", {"sector": "K"}, success_rate=0.5),
              persona("x1", {}, success_rate=0.5)]
    result = anova(people, "sector")
    assert set(result.excluded) == {"K", "unknown"}
    assert "1 persona value" in result.excluded["K"]
    assert result.f == pytest.approx(f_oneway([0.1, 0.3], [0.7, 0.9]).statistic)
    json.dumps(result.to_dict(), allow_nan=False)


def test_chi_square_counts_each_persona_once_with_its_majority_intent() -> None:
    # By hand, 2x2 of personas: chi2 = n (ad - bc)^2 / (row and column totals)
    # = 80 * 800^2 / 40^4 = 20, V = sqrt(20 / 80) = 0.5, p = P(chi2_1 > 20) = erfc(sqrt(10)).
    # Each persona had several calls: counting calls would make n 250 and p far smaller.
    people = [
        *(persona(f"a{i}", {"sector": "A"}, success_intents={"home": 3, "auto": 1})
          for i in range(30)),
        *(persona(f"b{i}", {"sector": "A"}, success_intents={"auto": 2}) for i in range(10)),
        *(persona(f"j{i}", {"sector": "J"}, success_intents={"home": 2, "unknown": 4})
          for i in range(10)),
        *(persona(f"k{i}", {"sector": "J"}, success_intents={"auto": 2, "home": 1})
          for i in range(30)),
    ]
    two = chi_square(people, "sector")
    assert two.columns == ("auto", "home") and two.table == ((10, 30), (30, 10))
    assert two.chi2 == pytest.approx(20.0)
    assert two.cramers_v == pytest.approx(0.5)
    assert two.p == pytest.approx(math.erfc(math.sqrt(10)))
    assert (two.dof, two.n) == (1, 80)

    assert majority_intent({"home": 2, "auto": 2}) == "auto"  # a tie: the first by name
    assert majority_intent({"unknown": 5, "home": 1}) == "home"
    assert majority_intent({"unknown": 5}) is None and majority_intent({}) is None


def test_chi_square_matches_scipy_on_the_persona_table_and_lists_what_it_dropped() -> None:
    people = [
        persona("a1", {"sector": "A"}, success_intents={"home": 12, "auto": 7, "unknown": 3}),
        persona("a2", {"sector": "A"}, success_intents={"home": 9, "travel": 2}),
        persona("a3", {"sector": "A"}, success_intents={"auto": 1}),
        persona("j1", {"sector": "J"}, success_intents={"term_life": 15, "travel": 8}),
        persona("j2", {"sector": "J"}, success_intents={"travel": 3}),
        persona("j3", {"sector": "J"}, success_intents={"travel": 2, "home": 1}),
        persona("q1", {"sector": "Q"}, success_intents={"accident": 11, "travel": 6}),
        persona("q2", {"sector": "Q"}, success_intents={"home": 2}),
        persona("r1", {"sector": "R"}, intents={"medical": 4}),  # mentioned, never won
        persona("x1", {}, success_intents={"medical": 5, "home": 1}),
    ]
    result = chi_square(people, "sector", "success")
    assert result.rows == ("A", "J", "Q")
    assert result.columns == ("home", "travel", "accident", "auto", "term_life")
    assert set(result.dropped_rows) == {"R", "unknown"}
    assert result.dropped_columns == ("medical",)  # named only by the unknown group
    table = np.array([[2, 0, 0, 1, 0], [0, 2, 0, 0, 1], [1, 0, 1, 0, 0]])
    assert np.array_equal(np.array(result.table), table) and result.n == 8
    expected = chi2_contingency(table, correction=False)
    assert result.chi2 == pytest.approx(expected.statistic)
    assert result.p == pytest.approx(expected.pvalue)
    assert result.dof == expected.dof == 8
    assert result.cramers_v == pytest.approx(association(table, method="cramer"))
    assert result.low_expected_share == pytest.approx(np.mean(expected.expected_freq < 5))
    json.dumps(result.to_dict(), allow_nan=False)
    mentioned = chi_square(people, "sector", "mentioned")  # the agent's intents, not the wins
    assert (mentioned.rows, mentioned.columns, mentioned.table) == (("R",), ("medical",), ((1,),))


def test_degenerate_tables_and_samples_give_a_clear_result_not_an_exception() -> None:
    one_group = chi_square([persona("a", {"sector": "A"}, success_intents={"home": 3}),
                            persona("b", {"sector": "A"}, success_intents={"auto": 1})],
                           "sector")
    one_intent = chi_square([persona("a", {"sector": "A"}, success_intents={"home": 3}),
                             persona("j", {"sector": "J"}, success_intents={"home": 5})],
                            "sector")
    nothing = chi_square([persona("a", {"sector": "A"}), persona("j", {"sector": "J"})],
                         "sector")
    for result, shape in ((one_group, "1 group(s) x 2"), (one_intent, "2 group(s) x 1"),
                          (nothing, "0 group(s) x 0")):
        assert result.degenerate and result.cramers_v is None and result.p is None
        assert f"degenerate table ({shape} intent(s)" in result.note
        json.dumps(result.to_dict(), allow_nan=False)

    flat = anova([persona(f"p{i}", {"gender": "FM"[i % 2]}, success_rate=0.5)
                  for i in range(4)], "gender")
    assert (flat.f, flat.p) == (None, None) and "no variance" in flat.note
    split = anova([persona(f"p{i}", {"gender": "FM"[i % 2]}, success_rate=i % 2)
                   for i in range(4)], "gender")
    assert (split.f, split.p) == (None, 0.0) and "infinite" in split.note
    alone = anova([persona("p1", {"gender": "F"}), persona("p2", {"gender": "F"})], "gender")
    assert alone.f is None and alone.pairs == () and "nothing to compare" in alone.note
    json.dumps([r.to_dict() for r in (flat, split, alone)], allow_nan=False)


def test_derive_strategy_breaks_ties_by_mentions_then_name_and_needs_evidence() -> None:
    calls = [call("p1", "P", ["home", "travel"], "home"),
             call("p2", "P", ["auto", "home"], "auto"),
             call("p3", "P", ["travel", "home", "auto"], "travel"),
             call("a1", "A", ["home"], "home")]
    derived = derive_strategy(calls, k=2, min_successes=2)
    # P: one success each; home is mentioned 3 times, auto and travel twice (name decides).
    assert derived.entries["P"].intents == ("home", "auto")
    assert derived.entries["P"].shares == pytest.approx((1 / 3, 1 / 3))
    assert derived.entries["P"].calls == "simulated calls"
    assert "A" not in derived.entries and "needs 2" in derived.left_out["A"]
    assert derive_strategy(calls, k=1, min_successes=1).entries["A"].intents == ("home",)
    with pytest.raises(ValueError, match="1 to 3 intents"):
        derive_strategy(calls, k=4)


# -- rationales -------------------------------------------------------------------------------
EDUCATION = SectorStrategy(sector="P", intents=("home", "term_life"), shares=(0.41, 0.27),
                           successes=(41, 27), n_successes=100, n_dialogues=240,
                           calls="simulated calls")


async def test_rationale_without_an_llm_is_a_factual_sentence_from_the_data() -> None:
    entries = await write_rationales({"P": EDUCATION}, None, DOMAIN)
    assert entries["P"].intents == ["home", "term_life"]
    assert entries["P"].rationale == (
        "In simulated calls with callers in education, Home Insurance and Term Life "
        "Insurance were taken up most often.")


async def test_llm_rationale_is_used_and_was_given_the_sector_products_and_shares() -> None:
    sentence = ("Teachers often own their homes and think ahead for their families, so "
                "home cover comes first.")
    llm = FakeLLM([json.dumps({"sentence": sentence})])
    entries = await write_rationales({"P": EDUCATION}, llm, DOMAIN)
    assert entries["P"].rationale == sentence
    assert len(llm.requests) == 1
    request = llm.requests[0]
    prompt = "\n".join(m.content for m in request.messages)
    assert request.json_schema is not None
    assert request.json_schema["properties"]["sentence"]["maxLength"] == 200
    for needed in ("Education", "primary school teacher", "Home Insurance 41%",
                   "Term Life Insurance 27%", DOMAIN.product("home").sheet(),
                   "never invent figures", "Write no figures"):
        assert needed in prompt


async def test_llm_rationale_with_invented_numbers_or_bad_output_falls_back_to_the_data(
        caplog: pytest.LogCaptureFixture) -> None:
    farm = SectorStrategy(sector="A", intents=("home", "auto"), shares=(0.35, 0.21),
                          successes=(35, 21), n_successes=100, n_dialogues=640,
                          calls="simulated calls")
    health = SectorStrategy(sector="Q", intents=("accident",), shares=(0.56,),
                            successes=(56,), n_successes=100, n_dialogues=640, calls="calls")
    good = "Health workers see what an accident does to a household."
    llm = FakeLLM([  # one call per sector, in sector order: A, P, Q
        json.dumps({"sentence": "Farmers own land, so 35% want home cover."}),
        "not json at all",
        json.dumps({"sentence": good}),
    ])
    with caplog.at_level(logging.WARNING, logger="optimizer.attributes"):
        entries = await write_rationales({"Q": health, "P": EDUCATION, "A": farm}, llm, DOMAIN)
    assert entries["A"].rationale == data_rationale(farm, DOMAIN)
    assert not any(ch.isdigit() for ch in entries["A"].rationale)
    assert entries["P"].rationale == data_rationale(EDUCATION, DOMAIN)
    assert entries["Q"].rationale == good
    assert "states figures (" in caplog.text and "figure: 35" in caplog.text
    assert "the LLM failed" in caplog.text
    assert data_rationale(health, DOMAIN) == (
        "In simulated calls with callers in human health and social work, Personal Accident "
        "Cover was taken up most often.")


async def test_strategy_program_without_new_evidence_returns_the_parent_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    few = [call("p1", "P", ["home"], "home"), call("p2", "P", ["home"], None)]
    with caplog.at_level(logging.INFO, logger="optimizer.attributes"):
        assert await strategy_program(DEFAULT, few, None, DOMAIN) is DEFAULT
    assert "returning it unchanged" in caplog.text
    same = [call(f"a{i}", "A", ["accident", "income_protection"],
                 "accident" if i % 3 else "income_protection") for i in range(30)]
    assert await strategy_program(DEFAULT, same, None, DOMAIN) is DEFAULT
    with pytest.raises(ValueError, match="for domain 'insurance', not 'sgd'"):
        await strategy_program(DEFAULT, same, None, load_domain("sgd"))
