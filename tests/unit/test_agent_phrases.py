"""Shared phrase machinery: negation read anywhere in a clause, and before a match."""

from __future__ import annotations

import re

import pytest

from agent.phrases import has_negation, hits, rx


@pytest.mark.parametrize("text", [
    "If you'd been diagnosed before you joined, it wouldn't be covered.",
    "No, a condition you already had is never paid for.",
    "We cannot pay for something diagnosed last year.",
    "It is not covered if you knew about it.",
    "Neither the heart condition nor the diabetes would count.",
    "You'd be unable to claim for that one.",
])
def test_has_negation_finds_a_no_word_anywhere_in_the_clause(text: str) -> None:
    assert has_negation(text)


@pytest.mark.parametrize("text", [
    "Even if you were diagnosed last year, it still pays out.",
    "It pays out without a waiting period.",
    "You get a lump sum rather than monthly payments.",
    "Nothing changes and the knot stays tied.",  # "no" and "not" only as whole words
])
def test_has_negation_ignores_affirmations_and_words_that_negate_only_what_follows(
    text: str,
) -> None:
    assert not has_negation(text)


def test_has_negation_reads_a_callers_extra_words_too() -> None:
    excluded = "Anything diagnosed before the policy started is excluded."
    assert not has_negation(excluded)
    assert has_negation(excluded, extra=re.compile(r"exclu", re.I))
    assert not has_negation("Your history shouldn't matter.")
    assert has_negation("Your history shouldn't matter.", extra=re.compile(r"n't\b", re.I))


def test_hits_still_skips_a_match_negated_by_without_or_instead_of() -> None:
    wait = rx(r"\bwaiting period\b")
    assert [m.group(0) for m in hits(wait, "There is a waiting period.")] == ["waiting period"]
    assert list(hits(wait, "It starts without a waiting period.")) == []
    assert list(hits(wait, "It starts at once instead of a waiting period.")) == []
    assert list(hits(wait, "I can't promise a waiting period.")) == []
