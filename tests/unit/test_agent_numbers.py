"""The one reader of figures: digits, number words, and the unit each is said in."""

from __future__ import annotations

import pytest

from agent.numbers import figures_in, same_unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fifty thousand dollars", [(50000, "money")]),
        ("twenty-five years", [(25, "years")]),
        ("one hundred and twenty dollars a month", [(120, "money_month")]),
        ("between eight and forty dollars a month", [(8, "money_month"), (40, "money_month")]),
        ("Premiums from twelve to 85 dollars a month.", [(12, "money_month"), (85, "money_month")]),
        ("Cover from 50,000 to 1,000,000 dollars.", [(50000, "money"), (1000000, "money")]),
        ("Available from age 18 to 65.", [(18, "age"), (65, "age")]),
        ("A 90-day waiting period applies.", [(90, "days")]),
        ("up to 60 percent of your income", [(60, "percent")]),
        ("Terms of 10, 20 or 30 years.", [(10, "years"), (20, "years"), (30, "years")]),
        ("a hundred dollars", [(100, "money")]),
        ("$10 million", [(10_000_000, "money")]),
        ("Covers 40 listed conditions.", [(40, "count")]),
        ("one of our plans", []),
        ("How often do you travel?", []),
        ("two options", []),
    ],
)
def test_figures_are_read_with_their_units(text: str, expected: list[tuple[float, str]]) -> None:
    assert [(f.value, f.unit) for f in figures_in(text)] == expected


def test_plain_dollars_may_stand_for_a_monthly_premium_but_not_the_reverse() -> None:
    assert same_unit("money", "money_month")
    assert not same_unit("money_month", "money")
    assert same_unit("", "percent")
    assert not same_unit("percent", "money")
