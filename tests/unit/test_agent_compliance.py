"""Compliance: what the agent may say, opt-outs, "are you human?", and do-not-call."""

from __future__ import annotations

import pytest

from agent.compliance import (
    ComplianceGuard,
    MemoryDoNotCall,
    asks_if_human,
    is_opt_out,
    normalize_caller_id,
    words_to_numbers,
)
from agent.domain import load_domain

INSTRUCTIONS = (
    "You are Ava on an outbound call. Build rapport first and then offer one product "
    "that fits the caller's life. Keep every answer short and friendly."
)


@pytest.fixture(scope="module")
def guard() -> ComplianceGuard:
    return ComplianceGuard(load_domain("insurance"), INSTRUCTIONS)


def rules(guard: ComplianceGuard, text: str) -> list[tuple[str, str]]:
    return [(v.rule, v.detail) for v in guard.check(text)]


@pytest.mark.parametrize(
    "text",
    [
        "Premiums 12 to 85 dollars a month.",
        "It pays up to 60 percent of your income.",
        "Cover goes up to fifty thousand dollars.",
        "Cover from 50,000 to 1,000,000 dollars.",
        "Cover up to one million dollars.",
        "Terms of 10, 20 or 30 years.",
        "One of our plans might suit you.",
        "How has your week been?",
        "Our travel insurance covers lost luggage.",
    ],
)
def test_supported_facts_and_small_talk_pass(guard: ComplianceGuard, text: str) -> None:
    assert guard.check(text) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("98% of claims are paid.", "98"),
        ("We pay 85 percent.", "85"),  # 85 is a premium in dollars, not a percentage
        ("It costs 7 dollars.", "7"),
        ("It costs seven dollars.", "7"),
        ("Cover up to 2,500,000 dollars.", "2500000"),
    ],
)
def test_numbers_not_in_the_sheet_as_that_kind_are_flagged(
    guard: ComplianceGuard, text: str, number: str
) -> None:
    # An exact price may also count as a personal quote; the number is flagged either way.
    assert ("unsupported_number", number) in rules(guard, text)


def test_a_money_figure_is_not_supported_by_a_percentage(guard: ComplianceGuard) -> None:
    # 60 appears in the sheet only as "60 percent".
    assert rules(guard, "That's 60 dollars a month.") == [("unsupported_number", "60")]


@pytest.mark.parametrize(
    ("text", "product"),
    [
        ("We also sell pet insurance.", "pet"),
        ("Our dental plan is popular.", "dental"),
        ("How about funeral cover?", "funeral"),
        ("A long-term care policy could help.", "long-term care"),
    ],
)
def test_products_outside_the_domain_are_flagged(
    guard: ComplianceGuard, text: str, product: str
) -> None:
    assert rules(guard, text) == [("unknown_product", product)]


@pytest.mark.parametrize(
    "text",
    ["Approval is guaranteed.", "We always pay claims.", "We never approve late claims."],
)
def test_guarantees_are_flagged(guard: ComplianceGuard, text: str) -> None:
    assert [r for r, _ in rules(guard, text)] == ["guarantee"]


@pytest.mark.parametrize(
    "text",
    [
        "My instructions say I should ask about your job.",
        "That's in my system prompt.",
        "I was told to mention income protection.",
        "Thought: pivot to medical.",
        "My strategy is to sell you cover.",
        '["pivot"',
        '{"template": "pivot"}',
        "Statistics say nurses like this.",
    ],
)
def test_instruction_and_thought_leaks_are_flagged(guard: ComplianceGuard, text: str) -> None:
    assert [r for r, _ in rules(guard, text)] == ["leak"]


def test_six_words_copied_from_the_instructions_are_a_leak(guard: ComplianceGuard) -> None:
    text = "Well, I build rapport first and then offer something."
    assert rules(guard, text) == [("leak", "repeats the instructions")]


def test_five_words_shared_with_the_instructions_are_not_a_leak(guard: ComplianceGuard) -> None:
    assert guard.check("Let's build rapport first and then chat.") == []


def test_instruction_copy_check_is_case_and_punctuation_insensitive(
    guard: ComplianceGuard,
) -> None:
    text = "KEEP EVERY ANSWER, short and friendly!"
    assert rules(guard, text) == [("leak", "repeats the instructions")]


def test_several_problems_in_one_line_are_all_reported(guard: ComplianceGuard) -> None:
    found = [r for r, _ in rules(guard, "Pet insurance is guaranteed at 7 dollars.")]
    assert sorted(found) == ["guarantee", "unknown_product", "unsupported_number"]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("fifty thousand dollars", ["50000"]),
        ("twenty-five years", ["25"]),
        ("one hundred and twenty dollars", ["120"]),
        ("one thousand five hundred", ["1500"]),
        ("two hundred thousand", ["200000"]),
        ("one million two hundred thousand", ["1200000"]),
        ("a hundred dollars", ["100"]),
        ("twelve or thirty", ["12", "30"]),
        ("Fifty Thousand", ["50000"]),
        ("one of our plans", []),  # a lone "one" or "two" is a count, not a claim
        ("two options", []),
        ("no numbers here", []),
    ],
)
def test_words_to_numbers_turns_spelled_numbers_into_digits(text: str, numbers: list[str]) -> None:
    assert words_to_numbers(text) == numbers


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
