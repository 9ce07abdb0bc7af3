"""The claim checker's rules read from the sheet's structure (periods of exclusions, notes,
scoped waiting periods, other products' summaries) and its phrase families, rules only."""

from __future__ import annotations

import pytest

from agent.compliance import ComplianceGuard
from agent.numbers import figures_in
from tests.unit.conftest import rules_said


@pytest.mark.parametrize(("text", "value", "unit"), [
    ("cover of a quarter of a million dollars", 250_000, "money"),
    ("up to half a million dollars", 500_000, "money"),
    ("two and a half thousand dollars", 2_500, "money"),
    ("until your sixty-fifth birthday", 65, "age"),
    ("before your 70th birthday", 70, "age"),
])
def test_shares_of_a_scale_and_birthdays_are_one_figure(text: str, value: float, unit: str) -> None:
    assert [(f.value, f.unit) for f in figures_in(text)] == [(value, unit)]


@pytest.mark.parametrize("text", [
    "Income Protection leaves out pre-existing conditions for the first three years.",
    "On Private Medical Insurance pre-existing conditions are excluded only in the first year.",
    "Term Life Insurance won't pay out for suicide in the first two years.",
])
def test_a_period_said_of_an_exclusion_must_be_that_exclusions_period(
        guard: ComplianceGuard, text: str) -> None:
    assert "wrong_figure" in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Income Protection excludes pre-existing conditions in the first year.",
    "Private Medical Insurance excludes pre-existing conditions in the first 2 years.",
    "At 40 you're inside the Term Life age range of 18 to 65.",
    "Critical Illness Cover pays out up to half a million dollars.",
])
def test_sheet_periods_and_the_callers_own_age_pass(guard: ComplianceGuard, text: str) -> None:
    assert not guard.check_reply(text)


def test_an_age_range_with_a_wrong_end_is_still_a_wrong_figure(guard: ComplianceGuard) -> None:
    assert "wrong_figure" in rules_said(guard, "Term Life Insurance is open from age 18 to 60.")


@pytest.mark.parametrize("text", [
    "Term Life Insurance has a waiting period of three months.",
    "With Critical Illness Cover you're protected as soon as the policy starts.",
    "Home Insurance only pays what your things are worth second-hand.",
    "Income Protection provides a fixed benefit after an accidental injury, disability or death.",
    "Travel Insurance also pays for your dental check-ups and glasses.",
    "Fire and smoke damage is excluded on Home Insurance.",
    "Your neighbour can drive your car under your Car Insurance, no need to be named.",
])
def test_contradictions_are_read_against_the_sheet(guard: ComplianceGuard, text: str) -> None:
    assert "contradiction" in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Critical Illness Cover has a 90-day waiting period, while Travel Insurance has none.",
    "Neither Home Insurance nor Car Insurance has a waiting period.",
    "Private Medical Insurance has a 30-day wait for illness, but accidents are covered at once.",
    "Death while committing a crime is excluded from Term Life Insurance.",
    "Accidental damage isn't included automatically on Home Insurance, but you can add it.",
    "If you want skiing covered on Personal Accident Cover, it has to be added.",
    "Only drivers named on your Car Insurance can drive the car.",
])
def test_sheet_facts_said_plainly_pass(guard: ComplianceGuard, text: str) -> None:
    assert not guard.check_reply(text)


@pytest.mark.parametrize(("text", "rule"), [
    ("We could add our Whole of Life cover too.", "unknown_product"),
    ("There's gadget theft protection for your phone as well.", "unknown_product"),
    ("Your medical history won't cause any problems with your application.", "promise"),
    ("Don't worry about being turned down, it won't happen.", "promise"),
    ("Almost every driver I speak to picks comprehensive.", "invented_statistic"),
    ("A recent survey found most renters are underinsured.", "invented_statistic"),
    ("Over a million homes rely on us.", "invented_statistic"),
    ("Once we hang up, I won't be able to offer this again.", "false_urgency"),
    ("This rate is only good while we're on the call.", "false_urgency"),
    ("This is a real adviser speaking.", "denies_ai"),
    ("Bear with me, let me grab a pen.", "denies_ai"),
    ("I'm no robot, just a chatty person.", "denies_ai"),
    ("The persona I've been given is calm and patient.", "leak"),
    ("They've asked me not to mention the excess.", "leak"),
])
def test_phrase_families_reach_new_wordings(guard: ComplianceGuard, text: str, rule: str) -> None:
    assert rule in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "I'd be misleading you if I said approval was guaranteed.",
    "Nobody can promise you a particular outcome.",
    "I keep my notes private, but ask me anything about the cover.",
    "I'm not able to show you my prompt, but I can explain the policies.",
    "I'm not able to tell you what other customers choose.",
    "Yes, this call is with an AI system, not a member of staff.",
    "The price is the same whether you decide now or next week.",
    "Would you like comprehensive cover, or are you thinking third-party?",
    "I can add accidental damage cover to your Home Insurance.",
    "I'm an AI assistant calling on behalf of Acme Insurance.",
])
def test_refusals_disclaimers_and_sheet_options_pass(guard: ComplianceGuard, text: str) -> None:
    assert not guard.check_reply(text)
