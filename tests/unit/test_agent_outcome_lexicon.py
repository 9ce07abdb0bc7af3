"""Outcome signals that need no model: the phrase lexicon and the agent's own thought."""

from __future__ import annotations

import pytest

from agent.dialogue import Template, Thought, UserState
from agent.outcome import lexicon_states, thought_state


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("Sign me up!", {"accept"}),
        ("Sounds good, send me a quote.", {"accept"}),
        ("Yes, please.", {"accept"}),
        ("How do I apply?", {"accept"}),
        ("OK, I'll take it.", {"accept"}),
        ("I'm not interested.", {"withdraw"}),
        ("No thanks.", {"withdraw"}),
        ("It's not for me.", {"withdraw"}),
        ("I can't afford it.", {"withdraw"}),
        ("I don't need that.", {"withdraw"}),
        ("Bye!", {"goodbye"}),
        ("Sorry, I have to go.", {"goodbye"}),
        ("Goodbye.", {"goodbye"}),
        ("Stop calling me.", {"opt_out"}),
        ("Take me off your list.", {"opt_out"}),
        ("No thanks, bye.", {"withdraw", "goodbye"}),
    ],
)
def test_lexicon_recognises_outcome_phrases(text: str, states: set[str]) -> None:
    assert lexicon_states(text) == states


@pytest.mark.parametrize(
    "text",
    [
        "What does it cover?",
        "My week was fine, thanks for asking.",
        "How much is it per month?",
        "I work at a hospital.",
        "Maybe, tell me more.",
        "",
    ],
)
def test_lexicon_finds_nothing_in_neutral_lines(text: str) -> None:
    assert lexicon_states(text) == set()


def test_thought_state_of_no_thought_is_none() -> None:
    assert thought_state(None) is None


def test_engaged_confirm_with_intent_is_explicit_intent() -> None:
    thought = Thought(template=Template.CONFIRM, intent="medical")
    assert thought_state(thought) == "explicit_intent"


def test_engaged_confirm_without_intent_is_none() -> None:
    assert thought_state(Thought(template=Template.CONFIRM)) is None


@pytest.mark.parametrize(
    "thought",
    [
        Thought(template=Template.CHITCHAT),
        Thought(template=Template.PIVOT, intent="medical"),
        Thought(template=Template.CONTINUE, intent="medical"),
    ],
)
def test_engaged_thoughts_other_than_confirm_are_none(thought: Thought) -> None:
    assert thought_state(thought) is None


@pytest.mark.parametrize(
    "state", [UserState.WITHDRAW, UserState.ACCEPT, UserState.GOODBYE, UserState.OPT_OUT]
)
def test_a_non_engaged_user_state_is_returned_as_is(state: UserState) -> None:
    thought = Thought(template=Template.CONTINUE, intent="medical", user_state=state)
    assert thought_state(thought) == state.value


def test_withdraw_wins_over_a_confirm_template() -> None:
    thought = Thought(template=Template.CONFIRM, intent="home", user_state=UserState.WITHDRAW)
    assert thought_state(thought) == "withdraw"
