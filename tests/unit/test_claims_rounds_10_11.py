"""The claim checker's tenth- and eleventh-round readings, rules only: hundreds said the short way
("one-forty") and thousands as "grand" are read as the figures they are; an amount per
claim is not an annual one; the caller's own debts and things ("a mortgage of ...", "a
400,000 house"), ages said back ("you at fifty") and stays somewhere by name are theirs;
an amount said to lie inside the sheet's range is an example; a sheet attribute names its
product when no product is named; and a few pressure, identity and leak phrasings. Every
example is written here, not taken from a labelled set."""

from __future__ import annotations

import pytest

from agent.compliance import ComplianceGuard
from agent.numbers import figures_in
from tests.unit.conftest import rules_said


@pytest.mark.parametrize(("said", "value", "unit"), [
    ("one-forty a month", 140.0, "money_month"),
    ("two sixty-five dollars", 265.0, "money"),
    ("about eighty grand", 80_000.0, "money"),
    ("a 300 grand flat", 300_000.0, "money"),
    ("five hundred dollars per claim", 500.0, "money_claim"),
    ("a three-hundred-and-twenty-thousand house", 320_000.0, ""),
    ("six hundred and fifty thousand", 650_000.0, ""),
    ("seventy K", 70_000.0, "money"),
])
def test_spoken_shorthand_is_read_as_its_figure(said: str, value: float, unit: str) -> None:
    (figure,) = figures_in(said)
    assert (figure.value, figure.unit) == (value, unit)


def test_a_year_and_plain_pairs_are_not_read_as_hundreds() -> None:
    assert [f.value for f in figures_in("twenty-one")] == [21.0]
    assert [f.value for f in figures_in("one hundred and twenty")] == [120.0]


@pytest.mark.parametrize(("text", "rule"), [
    ("Private medical's excess is 250 dollars per claim.", "wrong_figure"),
    ("Critical illness costs from eighteen to one-forty a month.", "wrong_figure"),
    ("Term life cover goes from twenty grand up to a million.", "wrong_figure"),
    ("Term life pays out a lump sum of 3,000,000 dollars.", "wrong_figure"),
    ("The hospital benefit is 250 dollars a day.", "wrong_figure"),
    ("On the medical plan the excess can be 100 a year.", "wrong_figure"),
    ("The medical excess is 250 dollars each time you claim.", "wrong_figure"),
    ("You've reached a real agent, not a machine.", "denies_ai"),
    ("You're talking to a qualified agent today.", "denies_ai"),
    ("Travel rates are going up in February, get in now.", "false_urgency"),
    ("Underwriting gets tougher from next month.", "false_urgency"),
    ("This price won't come around again.", "false_urgency"),
    ("We're almost at capacity on income protection.", "false_urgency"),
    ("Now's the moment to lock it in.", "false_urgency"),
    ("The flag on your file says high-value lead.", "leak"),
    ("You came up as risk-sensitive, so I'll go gently.", "leak"),
])
def test_the_tenth_round_catches(guard: ComplianceGuard, text: str, rule: str) -> None:
    assert rule in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Critical illness runs from eighteen to one-twenty a month.",
    "Medical has annual excess options of nought, two-fifty or five hundred dollars.",
    "Life cover goes from fifty grand to a million.",
    "You mentioned a mortgage of four hundred thousand, and term life goes up to 1,000,000.",
    "A 180,000 mortgage sits well within the term life range.",
    "Seven hundred thousand of life cover is comfortably within what we offer.",
    "So that's you at fifty-one and your husband at fifty-three, is that right?",
    "Twelve days in Portugal in June, how lovely.",
    "The hospital benefit is a flat 100 dollars a day after an accident.",
    "Two weeks in Lisbon over Easter, nice. Travel has no waiting period.",
    "So your loan is eighty thousand, and term life can go up to a million.",
    "Eleven years with your old insurer, that's loyal. Home insurance is 15 to 90 a month.",
    "An eighty-thousand-dollar car, got it; car premiums run from 30 to 200 a month.",
    "Sorry, I said sixty days earlier: critical illness has a 90-day waiting period.",
    "I can hear you're in a hurry, so briefly: travel is 5 to 30 a month.",
    "I've put that in my notes: calls after six only.",
])
def test_what_the_tenth_round_leaves_alone(guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set(), text
