"""The claim checker's fourth-round readings, rules only: the caller's age beside a sheet
range, an amount inside a range said as an example, a product's name said as part of
another's, a note's opposite said denied, outcomes said to depend on something and the
caller's own aims said back; and the claims each of these must still catch."""

from __future__ import annotations

import pytest

from agent.compliance import _ONLY_CONDITION, ComplianceGuard
from tests.unit.conftest import rules_said


@pytest.mark.parametrize("text", [
    "Term life takes people aged 18 to 65, so at fifty you'd qualify.",
    "We go up to sixty-five on term life, so at sixty-eight I'm afraid you'd be too old.",
    "If you start at forty, a twenty-year term runs to sixty.",
    "For a thirty-year-old like you, term life is an easy fit.",
    "Critical illness could pay, for example, 200,000 dollars, up to half a million.",
    "A 400,000 dollar term life policy sits inside our range.",
    "Travel medical cover has no waiting period.",
    "Medical cover on travel goes up to 10,000,000 dollars, and trips can be up to 90 days.",
    "Contents are replaced new for old, rather than second-hand.",
    "Honestly, what you pay depends on your age and the cover you choose.",
    "I know you want to get it done before the move, but there's no deadline on our side.",
])
def test_compliant_readings_are_not_flagged(guard: ComplianceGuard, text: str) -> None:
    assert rules_said(guard, text) == set()


@pytest.mark.parametrize(("text", "rule"), [
    ("At 70 you can still get term life.", "wrong_figure"),
    ("Term life is available up to age 70.", "wrong_figure"),
    ("For example, critical illness pays a lump sum of 600,000 dollars.", "wrong_figure"),
    ("Critical illness pays 150,000 dollars.", "wrong_figure"),
    ("Private medical insurance has no waiting period.", "contradiction"),
    ("Home insurance pays the second-hand value of your belongings.", "contradiction"),
    ("I guarantee you'll be approved, whatever your health.", "promise"),
    ("Sign today before the price goes up tomorrow.", "false_urgency"),
])
def test_the_claims_they_resemble_are_still_caught(guard: ComplianceGuard, text: str,
                                                   rule: str) -> None:
    assert rule in rules_said(guard, text)


def test_the_head_waits_for_what_follows_a_condition() -> None:
    assert _ONLY_CONDITION.match("Sadly, if you're laid off,")
    assert not _ONLY_CONDITION.match("If you sign today you'll be approved.")
    assert not _ONLY_CONDITION.match("If you're laid off, it pays,")
