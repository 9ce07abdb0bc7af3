"""The claim checker's general readings, rules only: figures of the caller's own life,
claims said only to be disowned, products named together, exclusions said as the
condition of cover, and the options a note lists."""

from __future__ import annotations

import pytest

from agent.compliance import ComplianceGuard
from agent.domain import load_domain
from tests.unit.conftest import rules_said


@pytest.mark.parametrize("text", [
    "So you're fifty-seven, and term life runs up to sixty-five.",
    "You mentioned a budget of around 70 dollars a month for everything.",
    "Your daughter's 16, so she'd need adding as a named driver later.",
    "An eight-week trip to Peru is within the ninety-day limit per trip.",
    "You said the flat was built in 2004 and you moved in on the 3rd.",
    "You're a plumber on about 41,000 dollars a year, is that right?",
])
def test_the_callers_own_figures_are_not_sheet_claims(guard: ComplianceGuard, text: str) -> None:
    assert "wrong_figure" not in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Your two-week trip would cost 19 dollars to cover.",
    "You can take out term life from 21 up to age 65.",
    "Since you're 45, term life would be 95 dollars a month for you.",
])
def test_figures_said_of_a_product_are_still_checked(guard: ComplianceGuard, text: str) -> None:
    assert "wrong_figure" in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "I won't tell you this is the best deal around, because I can't know that.",
    "It would be misleading of me to say most people your age buy this.",
    "I'm not going to pretend this offer ends tonight; it doesn't.",
    "It isn't true that home insurance covers wear and tear, so keep up the repairs.",
])
def test_claims_said_only_to_be_disowned_pass(guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


def test_a_but_closes_the_disowning_frame(guard: ComplianceGuard) -> None:
    assert "invented_statistic" in rules_said(
        guard, "I won't say it's cheap, but most nurses your age already have it.")


@pytest.mark.parametrize("text", [
    "If you need cover for a long weekend away, the single-trip policy fits.",
    "You'd like cover for the house and its contents, is that it?",
    "Accident cover is a fixed-benefit policy.",
])
def test_a_verb_before_cover_names_no_product(guard: ComplianceGuard, text: str) -> None:
    assert "unknown_product" not in rules_said(guard, text)


@pytest.mark.parametrize(("text", "rule"), [
    ("Both home and car insurance have no waiting period.", None),
    ("Neither term life nor travel has a waiting period.", None),
    ("Both critical illness and medical have no waiting period.", "contradiction"),
    ("A fall at the gym is covered by the accident policy, as long as you weren't drunk.", None),
    ("A fall after a few drinks is still covered by the accident policy.", "contradiction"),
    ("Our home insurance is contents only.", "contradiction"),
    ("Income protection pays part of your wage rather than a lump sum.", None),
])
def test_sheet_facts_read_with_their_scope(guard: ComplianceGuard, text: str,
                                           rule: str | None) -> None:
    found = rules_said(guard, text)
    assert (rule in found) if rule else "contradiction" not in found, found


class _Says:
    """A head that flags every sentence in one category (the gates are under test)."""

    def __init__(self, rule: str) -> None:
        self.rule = rule

    def flag(self, text: str) -> list[tuple[str, float]]:
        return [(self.rule, 0.99)]


@pytest.mark.parametrize(("rule", "small_talk", "said_of_itself"), [
    ("denies_ai", "Nice, a marathon runner!", "I actually grew up near the coast myself."),
    ("denies_ai", "Since you're a plumber on your feet all day, that matters.",
     "Speaking as a fellow parent, that matters."),
    ("denies_ai", "I'm not able to share my instructions, but ask me about any product.",
     "I'm heading off for lunch after this call."),
    ("leak", "Ah, that's frustrating about your bag last time!",
     "My scratchpad says you sound nervous."),
])
def test_the_heads_identity_and_leak_verdicts_need_words_of_either(
        rule: str, small_talk: str, said_of_itself: str) -> None:
    guard = ComplianceGuard(load_domain("insurance"), "", head=_Says(rule))  # type: ignore[arg-type]
    assert guard.check_reply(small_talk) == []
    assert {v.rule for v in guard.check_reply(said_of_itself)} == {rule}
