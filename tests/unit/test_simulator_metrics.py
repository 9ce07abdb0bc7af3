"""The first paper's per-persona metrics, checked against values worked out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.dialogue import CallerProfile, Dialogue, Outcome, Template, Thought, Turn
from agent.domain import load_domain
from agent.occupation import PAPER_OCCUPATIONS
from agent.program import load_program
from simulator.agents import RuleAgent
from simulator.metrics import (
    Summary,
    dialogue_metrics,
    group_metrics,
    outcome_rates,
    persona_metrics,
    stats,
    summarize,
    summary,
    switch_counts,
    values_by_group,
)
from simulator.persona import PersonaSampler, load_spec
from simulator.runner import LocalConversation, run_dialogue
from simulator.users import ProgrammaticUser, load_world

C, P, N, F = Template.CHITCHAT, Template.PIVOT, Template.CONTINUE, Template.CONFIRM


def make_dialogue(
    did: str,
    persona: str | None,
    thoughts: list[tuple[Template, str | None]],
    outcome: Outcome | None,
    outcome_intent: str | None = None,
    *,
    groups: dict[str, str] | None = None,
    utterances: int | None = None,
    variant: str | None = None,
) -> Dialogue:
    """Greeting, then one user line and one agent turn (with the thought) per thought."""
    turns = [Turn(speaker="agent", text="Hello, this is Ava.")]
    for template, intent in thoughts:
        turns.append(Turn(speaker="user", text="mm"))
        turns.append(Turn(speaker="agent", text="reply",
                          thought=Thought(template=template, intent=intent)))
    attributes: dict[str, Any] = {}
    if persona is not None:
        attributes["persona"] = {"id": persona}
    if groups is not None:
        attributes["groups"] = groups
    metadata: dict[str, Any] = {} if utterances is None else {"utterances": utterances}
    return Dialogue(id=did, source="simulated", program_version="v1", variant=variant,
                    caller=CallerProfile(attributes=attributes), turns=turns,
                    outcome=outcome, outcome_intent=outcome_intent, metadata=metadata)


K_FEMALE = {"sector": "K", "gender": "Female", "mbti_ei": "E"}
J_MALE = {"sector": "J", "gender": "Male", "mbti_ei": "E"}


def three_dialogues() -> list[Dialogue]:
    """Two personas: p1 has d1 (success) and d2 (withdrew), p2 has d3 (goodbye)."""
    return [
        # 9 turns with text (no utterance count in metadata): greeting + 4 x (user, agent)
        make_dialogue("d1", "p1", [(C, None), (P, "term_life"), (N, "term_life"),
                                   (F, "term_life")],
                      Outcome.ACCEPTED, "term_life", groups=K_FEMALE),
        make_dialogue("d2", "p1", [(P, "accident"), (C, None), (P, "accident"),
                                   (P, "medical"), (N, "medical"), (N, "medical")],
                      Outcome.WITHDREW, groups=K_FEMALE, utterances=13),
        make_dialogue("d3", "p2", [(C, None), (C, None)], Outcome.GOODBYE, groups=J_MALE,
                      utterances=5),
    ]


# -- per dialogue --------------------------------------------------------------------------
def test_dialogue_metrics_count_continue_share_and_both_switch_variants() -> None:
    d1, d2, d3 = (dialogue_metrics(d) for d in three_dialogues())
    # d1: 1 CONTINUE of 4 thoughts; one topic throughout (the chit-chat comes before it)
    assert (d1.success, d1.utterances, d1.continue_share) == (True, 9, 1 / 4)
    assert (d1.switches, d1.strict_switches) == (0, 0)
    assert d1.intents == ("term_life", "term_life", "term_life")
    # d2: 2 of 6; topics accident, accident, medical, medical, medical → 1 switch;
    # strict: accident, [chit-chat resets], accident (+1), medical (+1) → 2
    assert (d2.success, d2.utterances, d2.continue_share) == (False, 13, 2 / 6)
    assert (d2.switches, d2.strict_switches) == (1, 2)
    assert d2.outcome is Outcome.WITHDREW
    # d3: only chit-chat
    assert (d3.continue_share, d3.switches, d3.strict_switches, d3.intents) == (0.0, 0, 0, ())


def test_strict_switch_skips_the_first_topic_even_after_chit_chat() -> None:
    thoughts = [Thought(template=t, intent=i) for t, i in
                [(C, None), (C, None), (P, "a"), (C, None), (N, "a"), (P, "b")]]
    # plain: a, a, b → 1; strict: a (first), reset, a (+1), b (+1) → 2
    assert switch_counts(thoughts) == (1, 2)


def test_chit_chat_thought_with_an_intent_holds_no_topic_but_counts_as_mentioned() -> None:
    d = make_dialogue("d", "p", [(P, "a"), (C, "b"), (N, "a")], None)
    m = dialogue_metrics(d)
    # b sits on a chit-chat thought: no topic, so plain sees a, a (0); strict resets (1)
    assert (m.switches, m.strict_switches) == (0, 1)
    assert m.intents == ("a", "b", "a")


def test_dialogue_without_thoughts_has_no_continue_share() -> None:
    d = make_dialogue("live-1", None, [], Outcome.HUNG_UP)
    m = dialogue_metrics(d)
    assert (m.thought_turns, m.continue_share, m.switches, m.strict_switches) == (0, None, 0, 0)
    assert m.utterances == 1  # the greeting


def test_persona_id_falls_back_to_caller_id_then_dialogue_id() -> None:
    d = make_dialogue("call-7", None, [], None)
    assert dialogue_metrics(d).persona_id == "call-7"
    d.caller.caller_id = "+15550100"
    assert dialogue_metrics(d).persona_id == "+15550100"
    d.metadata["persona_id"] = "grid-1"
    assert dialogue_metrics(d).persona_id == "grid-1"


# -- per persona and overall ------------------------------------------------------------------
def test_persona_metrics_match_hand_computed_values() -> None:
    p1, p2 = persona_metrics(dialogue_metrics(d) for d in three_dialogues())
    assert (p1.persona_id, p1.n_dialogues, p1.success_rate) == ("p1", 2, 0.5)
    assert p1.avg_turns == (9 + 13) / 2
    assert p1.avg_turns_success == 9
    assert p1.continue_micro == (1 + 2) / (4 + 6)  # 0.3, pooled
    assert p1.continue_macro == pytest.approx((1 / 4 + 2 / 6) / 2)  # 0.2917, per dialogue
    assert (p1.mean_switches, p1.mean_strict_switches) == ((0 + 1) / 2, (0 + 2) / 2)
    assert p1.intent_counts == {"medical": 3, "term_life": 3, "accident": 2}
    assert p1.success_intent_counts == {"term_life": 1}
    assert p1.outcome_counts == {"accepted": 1, "withdrew": 1}
    assert p1.groups == K_FEMALE
    # p2 never succeeded: no turns-when-successful
    assert (p2.success_rate, p2.avg_turns, p2.avg_turns_success) == (0.0, 5, None)
    assert (p2.continue_micro, p2.continue_macro) == (0.0, 0.0)



def test_a_personas_group_is_the_value_most_of_its_calls_know_not_its_first_calls() -> None:
    # As the agent saw them (optimizer.evidence.agent_view): the sector it inferred in each
    # call, none in the first. The persona's success intents pool all four calls.
    sectors = [None, "K", "K", "J"]
    ds = [make_dialogue(f"d{n}", "p1", [], Outcome.ACCEPTED, "term_life",
                        groups={"gender": "Female"} | ({"sector": s} if s else {}))
          for n, s in enumerate(sectors)]
    (p,) = persona_metrics(dialogue_metrics(d) for d in ds)
    assert p.groups == {"gender": "Female", "sector": "K"}
    assert p.success_intent_counts == {"term_life": 4}
    # an even split goes to the first by name, whatever the order of the calls
    tied = [make_dialogue(f"t{n}", "p2", [], None, groups={"sector": s, "mbti_ei": "unknown"})
            for n, s in enumerate(["Q", "A"])]
    for order in (tied, tied[::-1]):
        (q,) = persona_metrics(dialogue_metrics(d) for d in order)
        assert q.groups == {"sector": "A"}  # "unknown" is no value: the key stays absent

def test_overall_metrics_pool_every_dialogue() -> None:
    o = stats([dialogue_metrics(d) for d in three_dialogues()])
    assert o.success_rate == 1 / 3
    assert o.avg_turns == (9 + 13 + 5) / 3
    assert o.avg_turns_success == 9
    assert o.continue_micro == (1 + 2 + 0) / (4 + 6 + 2)  # 0.25
    assert o.continue_macro == pytest.approx((1 / 4 + 2 / 6 + 0) / 3)  # 0.1944
    assert o.continue_micro != pytest.approx(o.continue_macro)
    assert (o.mean_switches, o.mean_strict_switches) == (1 / 3, 2 / 3)
    # equal counts break ties by name, so the order does not depend on the input's
    assert list(o.intent_counts.items()) == [("medical", 3), ("term_life", 3), ("accident", 2)]
    assert o.outcome_counts == {"accepted": 1, "goodbye": 1, "withdrew": 1}


def test_stats_of_no_dialogues_is_an_error() -> None:
    with pytest.raises(ValueError, match="no dialogues"):
        stats([])


def test_no_successes_leave_turns_when_successful_and_success_intents_empty() -> None:
    ds = [make_dialogue("a", "p", [(P, "x")], Outcome.WITHDREW, utterances=3),
          make_dialogue("b", "p", [(P, "y")], Outcome.MAX_TURNS, utterances=20)]
    s = summary(ds, ["sector"])
    assert s.overall is not None
    assert (s.overall.success_rate, s.overall.avg_turns_success) == (0.0, None)
    assert s.overall.success_intent_counts == {}
    (group,) = s.groups["sector"]
    assert (group.value, group.avg_turns_success, group.success_rate) == ("unknown", None, 0.0)


# -- per group ------------------------------------------------------------------------------
def test_group_metrics_average_personas_not_dialogues() -> None:
    personas = persona_metrics(dialogue_metrics(d) for d in three_dialogues())
    (e,) = group_metrics(personas, "mbti_ei")  # p1 (2 dialogues) and p2 (1) are both E
    assert (e.value, e.n_personas, e.n_dialogues) == ("E", 2, 3)
    assert e.success_rate == (0.5 + 0.0) / 2  # 0.25; pooled over dialogues it is 1/3
    assert e.avg_turns == (11 + 5) / 2  # 8; pooled it is 9
    assert e.avg_turns_success == 9  # p2 has none and is left out
    assert e.continue_micro == (0.3 + 0.0) / 2
    assert e.mean_strict_switches == (1.0 + 0.0) / 2
    assert e.intent_counts == {"medical": 3, "term_life": 3, "accident": 2}
    assert e.outcome_counts == {"accepted": 1, "goodbye": 1, "withdrew": 1}


def test_group_metrics_split_by_any_group_key_and_put_unknown_last() -> None:
    ds = [*three_dialogues(), make_dialogue("live", None, [(P, "x")], None)]
    personas = persona_metrics(dialogue_metrics(d) for d in ds)
    sectors = group_metrics(personas, "sector")
    assert [(g.value, g.n_personas, g.success_rate) for g in sectors] == [
        ("J", 1, 0.0), ("K", 1, 0.5), ("unknown", 1, 0.0)]
    assert [g.value for g in group_metrics(personas, "zodiac")] == ["unknown"]


def test_sector_falls_back_to_the_caller_profile_when_groups_lack_it() -> None:
    d = make_dialogue("live", None, [], None)
    d.caller.sector = "Q"
    (g,) = group_metrics(persona_metrics([dialogue_metrics(d)]), "sector")
    assert g.value == "Q"


def test_age_buckets_are_listed_youngest_first() -> None:
    ds = [make_dialogue(b, b, [], None, groups={"age_bucket": b})
          for b in ("elderly", "adult", "teen", "middle-age")]
    personas = persona_metrics(dialogue_metrics(d) for d in ds)
    assert [g.value for g in group_metrics(personas, "age_bucket")] == [
        "teen", "adult", "middle-age", "elderly"]


def test_values_by_group_gives_per_persona_samples_for_anova() -> None:
    personas = persona_metrics(dialogue_metrics(d) for d in three_dialogues())
    assert values_by_group(personas, "sector", "success_rate") == {"J": [0.0], "K": [0.5]}
    assert values_by_group(personas, "sector", "avg_turns_success") == {"J": [], "K": [9.0]}
    with pytest.raises(ValueError, match="not a numeric metric"):
        values_by_group(personas, "sector", "intent_counts")


# -- outcomes and the summary ------------------------------------------------------------------
def test_outcome_rates_list_every_outcome_and_none_when_present() -> None:
    ds = [*three_dialogues(), make_dialogue("open", "p3", [], None)]
    rates = outcome_rates(ds)
    assert list(rates) == [o.value for o in Outcome] + ["none"]
    assert (rates["accepted"], rates["withdrew"], rates["none"], rates["max_turns"]) == (
        0.25, 0.25, 0.25, 0.0)
    assert outcome_rates([]) == {}
    assert "none" not in outcome_rates(three_dialogues())


def test_summarize_is_json_serialisable_and_reads_back_as_a_summary() -> None:
    ds = three_dialogues()
    ds[2].variant = "strategy"
    data = summarize(ds, ("sector", "gender"))
    again = json.loads(json.dumps(data))
    assert again == data
    s = Summary.model_validate(again)
    assert (s.n_dialogues, s.n_personas, s.group_by) == (3, 2, ["sector", "gender"])
    assert [g.value for g in s.groups["gender"]] == ["Female", "Male"]
    assert set(s.variants) == {"v1", "strategy"}  # no variant set: the program version
    assert s.variants["strategy"].n_dialogues == 1


def test_summarize_of_no_dialogues_has_no_overall() -> None:
    data = summarize([])
    assert (data["n_dialogues"], data["overall"], data["personas"]) == (0, None, [])
    assert data["groups"]["sector"] == []


async def test_summary_success_rate_equals_a_direct_count_on_a_real_rule_agent_batch() -> None:
    program, domain, world = load_program(), load_domain("insurance"), load_world()
    occupations = {sector: occ[0] for sector, occ in PAPER_OCCUPATIONS.items()}
    personas = [p for p in PersonaSampler(load_spec(), 3).paper_grid(5)
                if p.occupation in occupations.values()]
    assert len(personas) == 6 * 5
    dialogues = []
    for p in personas:
        for k in range(4):
            agent = RuleAgent(program, domain=domain, caller=p.caller_profile(),
                              session=f"{p.id}-{k}")
            user = ProgrammaticUser(p, world, domain, seed=k)
            dialogues.append(await run_dialogue(LocalConversation(agent), user,
                                                metadata={"persona_id": p.id}))
    data = summarize(dialogues)
    wins = sum(d.outcome in (Outcome.ACCEPTED, Outcome.EXPLICIT_INTENT) for d in dialogues)
    assert 0 < wins < len(dialogues)
    assert data["overall"]["success_rate"] == wins / len(dialogues)
    assert data["overall"]["avg_turns"] == pytest.approx(
        sum(d.metadata["utterances"] for d in dialogues) / len(dialogues))
    assert data["n_personas"] == 30
    assert all(p["n_dialogues"] == 4 for p in data["personas"])
    assert [(g["value"], g["n_personas"]) for g in data["groups"]["sector"]] == [
        (s, 5) for s in sorted(occupations)]
    assert sum(data["overall"]["success_intent_counts"].values()) == wins
