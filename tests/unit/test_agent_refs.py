"""Figures by construction: references, their expansion, and the output constraints."""

from __future__ import annotations

import json
import re

import pytest

from agent.domain import load_domain
from agent.refs import (
    FORBIDDEN_WORDS,
    PROMISE_STEMS,
    RefExpander,
    continuation_grammar,
    response_pattern,
    single_grammar,
    tidy_units,
)

DOMAIN = load_domain("insurance")


def test_a_reference_split_across_deltas_is_held_until_it_closes() -> None:
    expander = RefExpander(DOMAIN.refs)
    out = [expander.feed(d) for d in ["It costs {crit", "ical_illness.prem", "ium}, see?"]]
    assert out == ["It costs ", "", "from 18 to 120 dollars a month, see?"]
    assert expander.used == ["critical_illness.premium"]


def test_an_unknown_reference_is_passed_through_for_the_checker_to_stop() -> None:
    expander = RefExpander(DOMAIN.refs)
    assert expander.feed("It is {travel.colour}.") == "It is {travel.colour}."
    assert expander.feed("Cut at {travel.prem") == "Cut at "
    assert expander.flush() == ""  # an unfinished reference is not speech


@pytest.mark.parametrize(
    ("said", "tidy"),
    [("from 12 to 85 dollars a month dollars.", "from 12 to 85 dollars a month."),
     ("no waiting period months", "no waiting period"),
     ("100 dollars per day in hospital", "100 dollars per day in hospital"),
     ("2 years, 5 years or until retirement", "2 years, 5 years or until retirement")],
)
def test_a_unit_said_again_after_a_figure_is_dropped(said: str, tidy: str) -> None:
    assert tidy_units(said) == tidy


def test_the_json_pattern_admits_references_and_refuses_digits() -> None:
    pattern = re.compile(response_pattern(list(DOMAIN.refs)))
    assert pattern.match("It costs {travel.premium}, not much.")
    assert not pattern.match("It costs 5 dollars.")
    assert not pattern.match("It costs {travel.colour}.")


def test_grammars_name_every_reference_and_ban_number_words() -> None:
    grammar = single_grammar([["pivot", "chitchat"], ["none", "travel"]], list(DOMAIN.refs))
    for ref in DOMAIN.refs:
        assert json.dumps("{" + ref + "}") in grammar
    assert "sixty" in FORBIDDEN_WORDS and "percent" in FORBIDDEN_WORDS
    assert "sixty" in grammar and grammar.startswith("%llguidance")
    assert continuation_grammar(["travel.premium"]).count("{travel.premium}") == 1


def test_the_response_grammar_refuses_promise_words_but_not_assurance() -> None:
    safe = re.search(r"& ~/\(\?i:\((.*?)\)\[a-z", continuation_grammar([]))
    assert safe is not None
    banned = re.compile(rf"(?i:({safe.group(1)})[a-z'\u2019]*)")
    for word in ["guarantee", "Guaranteed", "promise", "promising", "definitely", "assured",
                 "swear"]:
        assert banned.fullmatch(word), word
    for word in ["assurance", "cover", "certain", "sure"]:
        assert not banned.fullmatch(word), word
    assert set(PROMISE_STEMS) <= set(safe.group(1).split("|"))


def test_a_reference_to_another_products_fact_is_marked_not_expanded() -> None:
    def focus(said: str) -> str | None:
        named = DOMAIN.mentions(said, by_id=False)
        return named[-1][1] if named else None

    expander = RefExpander(DOMAIN.refs, focus=focus)
    out = expander.feed("Income Protection has {term_life.waiting_period}. ")
    assert out == "Income Protection has {!term_life.waiting_period}. "
    assert expander.feed("Term Life has {term_life.waiting_period}.") == (
        "Term Life has no waiting period.")


def test_a_figure_of_a_product_the_text_has_not_named_says_which_product() -> None:
    def name(said: str, product: str) -> str:
        return "" if product in DOMAIN.mentioned(said, by_id=False) else (
            f" for {DOMAIN.product(product).name}")

    expander = RefExpander(DOMAIN.refs, focus=lambda said: "travel", name=name)
    assert expander.feed("It is {travel.premium}, see?") == (
        "It is from 5 to 30 dollars a month for Travel Insurance, see?")
    assert expander.feed(" Travel Insurance is {travel.premium}.") == (
        " Travel Insurance is from 5 to 30 dollars a month.")
