"""Round 12 of the claim checker (rules only): whole replies that take a figure back in
the same breath, more of the caller's own money said back, ordinal dates, products named
bare in a list, "honestly" as a filler, and a caller's figure asked back. Examples
written here; the cases it must still stop are beside them."""

from __future__ import annotations

import pytest

from agent.compliance import ComplianceGuard
from agent.domain import load_domain
from agent.numbers import figures_in


@pytest.fixture(scope="module")
def guard() -> ComplianceGuard:
    return ComplianceGuard(load_domain("insurance"), "", head=None)


@pytest.mark.parametrize("text", [
    # A figure taken back and replaced by the sheet's, in one sentence.
    "Accident cover is eight to fifty, sorry, eight to forty dollars a month.",
    "Critical illness lists thirty, no, forty conditions.",
    "The travel premium is five to thirty a year, a month, sorry, five to thirty a month.",
    "Income protection waits twenty-eight weeks, days, twenty-eight days.",
    "Term life takes people up to seventy, I mean sixty-five, so eighteen to sixty-five.",
    # The caller's own money and time, by what follows the figure.
    "Three hundred and forty thousand left on the mortgage, and term life goes to a million.",
    "So four thousand on the credit card, okay.",
    "Forty-eight thousand a year, got it, and income protection pays up to sixty percent.",
    "Ninety a month for dental through your employer, okay, that's separate from us.",
    "About fifteen hundred dollars of camera equipment, and home insurance covers contents.",
    "They've put you up to ninety-five a month, ouch; our home range is fifteen to ninety.",
    "A twenty-five-year mortgage, so a twenty or thirty year term would sit either side.",
    "Twelve years to run on the loan, noted.",
    "Earning about sixty grand, noted, so income protection would pay up to sixty percent.",
    "The house is worth about four hundred grand, right, and home insurance is 15 to 90 a month.",
    # An ordinal is a date, not a figure.
    "So you fly on the twenty-second and come back on the ninth, lovely.",
    # A figure said not to exist; a caller's figure asked back.
    "Travel trips go up to ninety days, there's no hundred-and-twenty-day option.",
    "Eight hundred grand on critical illness? The most it pays is 500,000.",
    # Products named bare in a list, each with its own facts.
    "Income protection waits 28 days, and accident's got no waiting period at all.",
    "Home is 15 to 90 a month and car is 30 to 200, and neither has a waiting period.",
    "Cheapest first: travel starts at five, accident at eight, home at fifteen, car at thirty.",
    "Travel covers trips of up to 90 days, and separately accident pays 100 a day in hospital.",
    # Said of the caller, the call, or in passing.
    "If you decide against it today, that's fine, and we won't ring again.",
    "There's nothing I can guarantee about a claim, but I can tell you what's covered.",
    "I promise I'll keep it to two minutes.",
    "Would you rather a lower monthly cost or a bigger cover amount?",
    # "Honestly" as a filler, with nothing promised.
    "Honestly, I don't know whether they'd accept the claim; underwriting decides.",
    "I honestly can't say if you'd be approved.",
])
def test_the_twelfth_round_leaves_alone(guard: ComplianceGuard, text: str) -> None:
    assert guard.check_reply(text) == []


@pytest.mark.parametrize(("text", "rule"), [
    # Taken back, but to another wrong figure; or "sorry" with nothing replacing it.
    ("Accident cover is eight to thirty, sorry, eight to fifty dollars a month.", "wrong_figure"),
    ("Travel is fifty dollars a month, sorry about the noise.", "wrong_figure"),
    # A product's figure with a caller-ish word after it is still the product's.
    ("Critical illness pays out two million on the mortgage.", "wrong_figure"),
    ("Life cover is fifty dollars, got it.", "wrong_figure"),
    # A figure asked back after the product is named is still said of the product.
    ("Travel is fifty dollars a month?", "wrong_figure"),
    ("Honestly, it will pay out.", "promise"),
    # A product named bare ("the medical", "the life'd") is read for its own facts.
    ("Cancer treatment isn't covered on the medical.", "contradiction"),
    ("If he died during a robbery he was doing, the life'd still pay out.", "contradiction"),
    ("Critical illness and income protection? Neither has a waiting period.", "contradiction"),
    ("You need to decide today or the price goes up.", "false_urgency"),
    ("My notes say to push life cover on you.", "leak"),
])
def test_the_twelfth_round_still_stops(guard: ComplianceGuard, text: str, rule: str) -> None:
    assert rule in {v.rule for v in guard.check_reply(text)}


def test_only_a_whole_reply_knows_a_figure_was_taken_back(guard: ComplianceGuard) -> None:
    """Before speech the first clause is all there is: it is stopped."""
    assert [v.rule for v in guard.check("Critical illness lists thirty,")] == ["wrong_figure"]


def test_ordinals_are_not_figures() -> None:
    assert figures_in("back on the twenty-fifth") == []
    assert [f.value for f in figures_in("up to your sixty-fifth birthday")] == [65.0]
    assert [f.value for f in figures_in("twenty-one days")] == [21.0]
