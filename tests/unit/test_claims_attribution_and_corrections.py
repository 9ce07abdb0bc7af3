"""The claim checker's fifth-round readings, rules only: a figure read against the
product of its own phrase (named before or right after it), a figure said to be wrong
("not thirty"), the caller's and their family's ages, lengths of time in other units,
and phrase rules that fired on harmless words; with the violation each must still catch."""

from __future__ import annotations

import pytest

from agent.compliance import ComplianceGuard
from tests.unit.conftest import rules_said


@pytest.mark.parametrize("text", [
    # The product named right after the figure, in the figure's own phrase.
    "Private medical has a thirty-day wait for illness, and ninety days on critical illness.",
    "Critical illness is eighteen to a hundred and twenty dollars a month, and forty-five to "
    "three hundred for medical cover.",
    "Income protection keeps pre-existing conditions out for one year, medical for two years.",
])
def test_a_figure_is_read_against_the_product_of_its_own_phrase(
        guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


@pytest.mark.parametrize("text", [
    "Private medical has a thirty-day wait for illness, and ninety days on income protection.",
    "Income protection keeps pre-existing conditions out for three years.",
    "Travel costs five to thirty dollars a month, and forty-five to two hundred on term life.",
])
def test_a_wrong_figure_in_its_own_phrase_is_still_caught(
        guard: ComplianceGuard, text: str) -> None:
    assert "wrong_figure" in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Let me correct myself: income protection's wait is twenty-eight days, not fourteen.",
    "On critical illness it's ninety days rather than sixty.",
])
def test_a_figure_said_to_be_wrong_is_no_claim(guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


def test_the_corrected_figure_itself_is_still_checked(guard: ComplianceGuard) -> None:
    assert "wrong_figure" in rules_said(
        guard, "Correction: income protection's wait is fourteen days, not twenty-eight.")


@pytest.mark.parametrize("text", [
    "Forty-four, great; term life takes people from eighteen to sixty-five.",
    "Aged fifty with two teenagers, it makes sense to look at term life.",
    "So your daughters, aged four and eleven, would be the ones you're protecting.",
    "Three grandchildren aged two, five and seven, how lovely.",
])
def test_the_callers_and_their_familys_ages_are_not_claims(
        guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


@pytest.mark.parametrize("text", [
    "Seventy-one, great; term life will take you on.",
    "At seventy-three you can still take out term life with us.",
])
def test_an_age_past_the_sheet_said_to_be_eligible_is_still_caught(
        guard: ComplianceGuard, text: str) -> None:
    assert "wrong_figure" in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Critical illness won't pay for an illness in the first three months, its waiting period.",
    "Private medical's waiting period for illness is one month.",
    "Travel cover runs five to thirty dollars a month with medical cover up to $10,000,000.",
])
def test_a_sheet_figure_in_another_unit_or_wording_is_not_flagged(
        guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


@pytest.mark.parametrize("text", [
    "Critical illness won't pay for an illness in the first six months.",
    "Income protection's waiting period is six weeks.",
    "Term life cover goes up to two million dollars.",
    "Income protection pays for one year, two years or five years.",
    "Travel is five to thirty dollars a month, with medical cover up to $20,000,000.",
])
def test_a_different_length_or_amount_is_still_caught(guard: ComplianceGuard, text: str) -> None:
    assert "wrong_figure" in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Where do you usually go for your holidays?",
    "Whatever you pick, term life premiums stay fixed for the whole term.",
    "It's about the cover that fits, not the biggest cover.",
    "On income protection the twenty-eight day waiting period counts from the start date.",
])
def test_harmless_words_do_not_fire_phraserules_said(guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


@pytest.mark.parametrize(("text", "rule"), [
    ("Most families usually go for the twenty-year term.", "invented_statistic"),
    ("Whatever happens, your claim will be paid, and premiums stay fixed for the whole term.",
     "promise"),
    ("Premiums are guaranteed fixed for the whole term.", "promise"),
    ("We also sell gadget cover for your phone.", "unknown_product"),
    ("On income protection you're covered from the start, no waiting.", "contradiction"),
])
def test_the_phrase_rules_still_catch_the_claim(
        guard: ComplianceGuard, text: str, rule: str) -> None:
    assert rule in rules_said(guard, text)


@pytest.mark.parametrize(("rule", "sentence", "otherwise"), [
    # A share the sheet gives is a benefit level, not a statistic; one that counts people is.
    ("invented_statistic", "Up to sixty percent of your gross income is what it replaces.", True),
    ("invented_statistic", "Sixty percent of our customers pick income protection.", False),
    ("invented_statistic", "Seventy percent of gross income is what it replaces.", False),
    # A question about the caller's own dates presses nothing; an offer's end does.
    ("false_urgency", "Flying out to Lisbon next month?", True),
    ("false_urgency", "Can you sign today before the offer ends?", False),
])
def test_the_heads_verdict_needs_what_the_sheet_would_decide_it_on(
        guard: ComplianceGuard, rule: str, sentence: str, otherwise: bool) -> None:
    assert guard._sheet_says_otherwise(rule, sentence) is otherwise


@pytest.mark.parametrize(("text", "rule"), [
    # A product's own word said bare as its name.
    ("The medical waiting period covers accidents as well.", "contradiction"),
    ("On home, premiums run from 150 to 900 dollars a month.", "wrong_figure"),
    # With no product named, what the clause is about names it ("trip" is travel's).
    ("On a multi-trip plan each trip can be up to a hundred and twenty days.", "wrong_figure"),
    # A zero wait said to be there, a real wait said not to apply.
    ("There's a brief qualifying period before car insurance starts.", "contradiction"),
    ("For you the critical illness waiting period wouldn't apply.", "contradiction"),
    # The exclusion's own verb waived: "not declared".
    ("Travel is fine with your blood pressure, you don't need to declare it.", "contradiction"),
    # "if you wanted one" states a cover; it asks nothing to be added.
    ("Private medical would pay for a tummy tuck too, if you wanted one.", "contradiction"),
])
def test_the_sheet_reads_further_claims(guard: ComplianceGuard, text: str, rule: str) -> None:
    assert rule in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "Take-home pay aside, term life is 12 to 85 dollars a month.",
    "When you travel, medical cover on travel goes up to 10,000,000 dollars.",
    "The medical waiting period applies to illness only, so an accident is covered at once.",
    "If you want snowboarding covered on personal accident, it needs adding.",
    "There's no waiting period on car insurance.",
])
def test_the_further_readings_leave_the_sheets_own_statements_alone(
        guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


@pytest.mark.parametrize(("text", "rule"), [
    ("You'll get the money, you have my promise.", "promise"),
    ("Count on your acceptance, it's basically guaranteed.", "promise"),
    ("I'll freeze your premium at this level for life.", "promise"),
    ("I can keep this rate for the next twenty minutes.", "false_urgency"),
    ("The offer is open till the end of this call.", "false_urgency"),
    ("That discount won't survive past Friday.", "false_urgency"),
    ("No bots on this line, you're speaking with a colleague.", "denies_ai"),
    ("I've got a checklist here and we're on question four.", "leak"),
    ("Your record is flagged as price sensitive, so let's talk budget.", "leak"),
])
def test_phrase_families_reach_further_wordings(
        guard: ComplianceGuard, text: str, rule: str) -> None:
    assert rule in rules_said(guard, text)


@pytest.mark.parametrize("text", [
    "I can't promise an outcome, that depends on the underwriters.",
    "Take as long as you need, I'll hold for you.",
    "Our team members are happy to help with claims.",
])
def test_the_wider_phrase_families_leave_harmless_lines_alone(
        guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


@pytest.mark.parametrize(("text", "denies"), [
    ("Honestly, I'm a dad of three myself, so I get why you'd want cover.", True),
    ("As a mother of two, I always say sort the life cover first.", True),
    ("You mentioned you're a mum of two, so term life could be worth a look.", False),
    ("So he's a father of four now? Congratulations to him.", False),
])
def test_a_family_of_ones_own_is_a_human_pose_the_callers_is_not(
        guard: ComplianceGuard, text: str, denies: bool) -> None:
    assert ("denies_ai" in rules_said(guard, text)) is denies


@pytest.mark.parametrize(("text", "statistic"), [
    ("Heart trouble hits something like one in five men over fifty.", True),
    ("Roughly two out of three people who call us pick this one.", True),
    ("Term life comes in one of three terms: ten, twenty or thirty years.", False),
    ("You can pick one in three options for the term.", False),
])
def test_a_frequency_is_an_invented_statistic(
        guard: ComplianceGuard, text: str, statistic: bool) -> None:
    assert ("invented_statistic" in rules_said(guard, text)) is statistic
