"""Card-like numbers are taken out of stored transcripts; phone numbers and policy
figures stay."""

from __future__ import annotations

import pytest

from server.redact import CARD_MARKER, luhn_valid, redact_card_numbers

M = CARD_MARKER


@pytest.mark.parametrize(("said", "stored"), [
    ("my card is 4111 1111 1111 1111 thanks", f"my card is {M} thanks"),
    ("It's 4111-1111-1111-1111.", f"It's {M}."),
    ("4111111111111111", M),
    ("amex 3782 822463 10005 ok", f"amex {M} ok"),  # 15 digits, 4-6-5
    ("5555 5555 5555 4444, expires 12 27", f"{M}, expires 12 27"),
    ("it's 4111 1111 1111 1111 12 27", f"it's {M} 12 27"),  # read on into the expiry
    ("4111 1111 1111 1111, 123", f"{M}, 123"),  # then the security code
    # As a speech recognizer writes digits read aloud.
    ("four one one one, one one one one, one one one one, one one one one", M),
    ("Four one one one one one one one one one one one one one one one.", f"{M}."),
    ("forty-one eleven eleven eleven, eleven eleven eleven eleven", M),
    ("uh five five five five uh five five five five five five five five four four four four",
     f"uh {M}"),
    ("it's three seven eight two eight double two four six three one triple oh five",
     f"it's {M}"),
    ("card 4111 one one one one 1111 one one one one please", f"card {M} please"),
])
def test_card_numbers_are_replaced_with_the_marker(said: str, stored: str) -> None:
    assert redact_card_numbers(said) == stored


@pytest.mark.parametrize("said", [
    "call me on 555 010 0199",
    "my number is +1 (555) 010-0199",
    "my number is +44 20 7946 0958",
    "555-010-0199, 555-010-0142",  # two phone numbers: 20 digits, but each ends at a pause
    "five five five oh one oh oh one nine nine",
    "my policy number is 1234 5678 9012 3456",  # 16 digits that fail the Luhn check
    "4111 1111 1111 1112",  # one digit misheard: not a card number
    "the cover is 250,000 dollars for 85 a month",
    "coverage 500,000, 750,000, 1,000,000 or 2,500,000",
    "four hundred thousand dollars, twenty five a month",
    "I was born on 12 05 1984 and I'm 41",
    "policy POL-2024-000123 renews on 2025-03-01",
    "one two three",
    "",
])
def test_phone_numbers_figures_and_near_misses_stay(said: str) -> None:
    assert redact_card_numbers(said) == said


def test_two_cards_in_one_line_are_both_removed() -> None:
    said = "either 4111 1111 1111 1111 or 5555 5555 5555 4444"
    assert redact_card_numbers(said) == f"either {M} or {M}"


def test_luhn_check_matches_the_published_test_numbers() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert luhn_valid("6011111111111117") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("1234567890123456")
