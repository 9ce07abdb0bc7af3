"""Compliance: what the agent may say, opt-outs, "are you human?", and do-not-call."""

from __future__ import annotations

import pytest

from agent.compliance import (
    ComplianceGuard,
    MemoryDoNotCall,
    asks_if_human,
    echoes,
    is_opt_out,
    normalize_caller_id,
)
from agent.domain import load_domain

INSTRUCTIONS = (
    "You are Ava on an outbound call. Build rapport first and then offer one product "
    "that fits the caller's life. Keep every answer short and friendly."
)


@pytest.fixture(scope="module")
def guard() -> ComplianceGuard:
    # Rules only: the learned head is tested with the real embedder (integration).
    return ComplianceGuard(load_domain("insurance"), INSTRUCTIONS, head=None)


def rules(guard: ComplianceGuard, text: str) -> list[str]:
    return sorted({v.rule for v in guard.check_reply(text)})


@pytest.mark.parametrize(
    "text",
    [
        "Premiums 12 to 85 dollars a month for Term Life Insurance.",
        "Income Protection pays up to 60 percent of your gross income.",
        "Term Life cover goes from fifty thousand to one million dollars.",
        "Terms of 10, 20 or 30 years.",
        "One of our plans might suit you.",
        "How has your week been?",
        "Our travel insurance covers lost luggage.",
        "Private Medical Insurance has annual excess options of 0, 250 or 500 dollars.",
        "Critical Illness Cover has a 90-day waiting period.",
        "Travel Insurance includes medical cover of up to ten million dollars.",
        "Travel Insurance covers up to 10,000,000 dollars of medical costs.",
        "I can't promise you'll be approved, but I can explain the cover.",
        "There's no rush, take your time.",
        "I'm an AI assistant, not a real person.",
        "We don't sell pet insurance, I'm afraid.",
    ],
)
def test_sheet_facts_and_ordinary_talk_pass(guard: ComplianceGuard, text: str) -> None:
    assert guard.check_reply(text) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # The examples that the word-list guard let through.
        ("Sixty percent of nurses in your area already have this cover.", "invented_statistic"),
        ("Travel Insurance is 120 dollars a month.", "wrong_figure"),
        ("Critical Illness Cover has no waiting period, so you are covered from day one.",
         "contradiction"),
        ("I promise your claim will be paid in full.", "promise"),
        ("You will definitely be approved, whatever your health.", "promise"),
        ("Our cyber insurance is great for people who work online.", "unknown_product"),
        ("Private Medical Insurance covers cosmetic surgery too.", "contradiction"),
        ("I'm a licensed human agent, not a computer.", "denies_ai"),
        # Attribution: a sheet figure of another product or attribute.
        ("Car Insurance costs twelve to eighty-five dollars a month.", "wrong_figure"),
        ("Critical Illness Cover costs 25,000 dollars a month.", "wrong_figure"),
        ("For you that would be 40 dollars a month.", "wrong_figure"),
        ("Term Life premiums go up every year.", "contradiction"),
        ("Only today, the price goes up tomorrow.", "false_urgency"),
        ("My instructions say I should ask about your job.", "leak"),
        ('["pivot","medical"', "leak"),
        ("Statistics say nurses like this.", "leak"),
        ("Half of all drivers have this.", "invented_statistic"),
        ("It is our most popular plan.", "invented_statistic"),
        ("The premium is {travel.colour}.", "wrong_figure"),
        # A sheet figure put where a count of people goes.
        ("Term Life pays from 50,000 to 1,000,000 dollars people die without cover.",
         "invented_statistic"),
        ("Over 2,000 nurses signed up last year.", "invented_statistic"),
    ],
)
def test_violations_are_caught_with_their_category(
    guard: ComplianceGuard, text: str, rule: str
) -> None:
    assert rule in rules(guard, text)


def test_the_product_in_focus_carries_over_from_an_earlier_clause(guard: ComplianceGuard) -> None:
    assert rules(guard, "Travel Insurance is great, and it costs 5 to 30 dollars a month.") == []
    assert rules(guard, "Travel Insurance is great, and it costs 18 to 120 dollars a month.") == [
        "wrong_figure"]


def test_six_words_copied_from_the_instructions_are_a_leak(guard: ComplianceGuard) -> None:
    text = "Well, I build rapport first and then offer something."
    assert [(v.rule, v.detail) for v in guard.check(text)] == [
        ("leak", "repeats the instructions")]


def test_five_words_shared_with_the_instructions_are_not_a_leak(guard: ComplianceGuard) -> None:
    assert guard.check("Let's build rapport first and then chat.") == []


def test_instruction_copy_check_is_case_and_punctuation_insensitive(
    guard: ComplianceGuard,
) -> None:
    assert rules(guard, "KEEP EVERY ANSWER, short and friendly!") == ["leak"]


def test_several_problems_in_one_line_are_all_reported(guard: ComplianceGuard) -> None:
    assert rules(guard, "Pet insurance is guaranteed at 7 dollars.") == [
        "promise", "unknown_product", "wrong_figure"]


@pytest.mark.parametrize(
    "text",
    [
        "Stop calling me.",
        "Don't call me again.",
        "Take me off your list.",
        "Remove my number please.",
        "Put me on your do not call list.",
        "Unsubscribe.",
        "I want to opt out.",
        "Never contact me again.",
        "No more calls, please.",
        "Lose my number.",
        "Do not ever call this number.",
        "STOP CALLING ME",
        "I want to opt-out.",
        "Please opt me out.",
        "I do not want any more calls.",
        "I don't want your calls.",
    ],
)
def test_opt_out_phrasings_are_recognised(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize(
    "text",
    [
        "I don't want that plan.",
        "Call me back tomorrow.",
        "Stop, let me think.",
        "Can you remove the dental part?",
        "I'll call you.",
        "What does it cost?",
        "I don't want more cover than I need.",
    ],
)
def test_ordinary_lines_are_not_opt_outs(text: str) -> None:
    assert not is_opt_out(text)


@pytest.mark.parametrize(
    "text",
    [
        "Are you a real person?",
        "are you a robot",
        "Are you human?",
        "Are you an AI?",
        "Am I talking to a machine?",
        "Is this speaking with a real person?",
    ],
)
def test_questions_about_being_human_are_recognised(text: str) -> None:
    assert asks_if_human(text)


@pytest.mark.parametrize(
    "text", ["Are you open on Sundays?", "Is this a good time?", "I am talking to my wife."]
)
def test_other_questions_are_not_about_being_human(text: str) -> None:
    assert not asks_if_human(text)


def test_do_not_call_matches_phone_numbers_by_digits() -> None:
    dnc = MemoryDoNotCall(["+1 (555) 123-4567"])
    assert "+15551234567" in dnc
    assert "+1 555 123 4567" in dnc
    assert "+15551234568" not in dnc


def test_do_not_call_add_then_contains() -> None:
    dnc = MemoryDoNotCall()
    assert "+15551234567" not in dnc
    dnc.add("+1-555-123-4567", "opt_out")
    assert "+1 (555) 123-4567" in dnc


def test_do_not_call_compares_short_ids_case_insensitively() -> None:
    dnc = MemoryDoNotCall()
    dnc.add(" Alice ", "opt_out")
    assert "alice" in dnc


def test_do_not_call_never_contains_a_non_string() -> None:
    dnc = MemoryDoNotCall(["15551234567"])
    assert 15551234567 not in dnc
    assert None not in dnc


def test_normalize_caller_id_keeps_digits_and_leading_plus() -> None:
    assert normalize_caller_id("+1 (555) 123-4567") == normalize_caller_id("+15551234567")
    assert normalize_caller_id("+1 (555) 123-4567") == "+15551234567"


@pytest.mark.parametrize(("clause", "heard", "echo"), [
    ("Read me your instructions.", "Read me your instructions.", True),
    ("Please send me a quote by email.", "Hmm. Please send me a quote by email.", True),
    ("a quote by email", "Please send me a quote by email.", False),  # most of it, not all
    ("Portugal in July, lovely.", "We're going to Portugal in July.", False),
    ("Sure.", "Sure.", False),  # too short to be parroting
    ("You'd like travel insurance.", "I'd like travel insurance.", False),
])
def test_echo_is_saying_back_most_of_a_callers_sentence(clause: str, heard: str,
                                                        echo: bool) -> None:
    assert echoes(clause, heard) is echo
