"""Dialogue: the versioned JSON record shared by live calls and simulations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agent.dialogue import (
    SCHEMA_VERSION,
    CallerProfile,
    Dialogue,
    Outcome,
    SectorGuess,
    Template,
    Thought,
    Turn,
    UserState,
)


def agent(text: str, template: Template | None = None, intent: str | None = None) -> Turn:
    thought = None if template is None else Thought(template=template, intent=intent)
    return Turn(speaker="agent", text=text, thought=thought)


def user(text: str) -> Turn:
    return Turn(speaker="user", text=text)


def full_dialogue() -> Dialogue:
    return Dialogue(
        id="call-1",
        source="simulated",
        created_at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        caller=CallerProfile(caller_id="+15551234567", occupation="nurse", sector="Q", age=41),
        program_version="p-0123456789ab",
        variant="B",
        turns=[
            Turn(
                speaker="agent",
                text="Hi, this is Ava, an AI assistant.",
                thought=Thought(template=Template.CHITCHAT, note="open"),
                timings={"ttfa_ms": 420},
            ),
            Turn(
                speaker="user",
                text="I'm a nurse, long shifts.",
                sector=SectorGuess(sector="Q", confidence=0.9, source="inferred"),
                attitude="positive",
            ),
            Turn(
                speaker="agent",
                text="Critical illness cover might suit you.",
                thought=Thought(
                    template=Template.PIVOT,
                    intent="critical_illness",
                    user_state=UserState.ENGAGED,
                ),
                strategy="Statistics say ...",
                interrupted=True,
                compliance=["unsupported_number"],
            ),
            Turn(speaker="user", text="Sign me up."),
        ],
        outcome=Outcome.ACCEPTED,
        outcome_intent="critical_illness",
        metadata={"persona": 7},
    )


def test_json_round_trip_preserves_the_whole_dialogue() -> None:
    dialogue = full_dialogue()
    again = Dialogue.from_json(dialogue.to_json())
    assert again == dialogue
    assert [t.text for t in again.turns] == [t.text for t in dialogue.turns]
    assert again.turns[2].thought == Thought(template=Template.PIVOT, intent="critical_illness")
    assert again.turns[1].sector == SectorGuess(sector="Q", confidence=0.9, source="inferred")
    assert again.outcome is Outcome.ACCEPTED
    assert again.outcome_intent == "critical_illness"
    assert again.created_at == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def test_json_carries_schema_version_one() -> None:
    assert SCHEMA_VERSION == 1
    assert json.loads(full_dialogue().to_json())["schema_version"] == 1


def test_other_schema_version_is_rejected() -> None:
    data = json.loads(full_dialogue().to_json()) | {"schema_version": 2}
    with pytest.raises(ValidationError):
        Dialogue.from_json(json.dumps(data))


def test_unknown_top_level_field_is_rejected() -> None:
    data = json.loads(full_dialogue().to_json()) | {"outcom": "accepted"}
    with pytest.raises(ValidationError, match="outcom"):
        Dialogue.from_json(json.dumps(data))


def test_unknown_field_inside_a_turn_is_rejected() -> None:
    data = json.loads(full_dialogue().to_json())
    data["turns"][0]["speeker"] = "agent"
    with pytest.raises(ValidationError, match="speeker"):
        Dialogue.from_json(json.dumps(data))


def test_unknown_template_in_a_thought_is_rejected() -> None:
    data = json.loads(full_dialogue().to_json())
    data["turns"][0]["thought"]["template"] = "upsell"
    with pytest.raises(ValidationError):
        Dialogue.from_json(json.dumps(data))


def test_sector_confidence_outside_zero_to_one_is_rejected() -> None:
    with pytest.raises(ValidationError):
        SectorGuess(sector="Q", confidence=1.5, source="inferred")


def test_agent_turns_lists_only_agent_speech() -> None:
    assert [t.text for t in full_dialogue().agent_turns] == [
        "Hi, this is Ava, an AI assistant.",
        "Critical illness cover might suit you.",
    ]


def test_continue_ratio_is_none_without_turns() -> None:
    assert Dialogue(id="d", source="live", program_version="p").continue_ratio() is None


def test_continue_ratio_is_none_when_no_agent_turn_has_a_thought() -> None:
    dialogue = Dialogue(
        id="d", source="live", program_version="p", turns=[agent("Hello"), user("Hi")]
    )
    assert dialogue.continue_ratio() is None


def test_continue_ratio_is_the_share_of_continue_among_agent_thoughts() -> None:
    dialogue = Dialogue(
        id="d",
        source="live",
        program_version="p",
        turns=[
            agent("a", Template.CHITCHAT),
            user("b"),
            agent("c", Template.PIVOT, "medical"),
            agent("no thought"),  # not counted: no thought
            agent("d", Template.CONTINUE, "medical"),
            agent("e", Template.CONTINUE, "medical"),
        ],
    )
    assert dialogue.continue_ratio() == pytest.approx(0.5)


def test_continue_ratio_ignores_thoughts_on_user_turns() -> None:
    dialogue = Dialogue(
        id="d",
        source="live",
        program_version="p",
        turns=[
            agent("a", Template.CONTINUE, "medical"),
            Turn(speaker="user", text="b", thought=Thought(template=Template.PIVOT)),
        ],
    )
    assert dialogue.continue_ratio() == 1.0


def test_continue_ratio_is_zero_when_the_agent_never_continues() -> None:
    dialogue = Dialogue(
        id="d",
        source="live",
        program_version="p",
        turns=[agent("a", Template.CHITCHAT), agent("b", Template.PIVOT, "home")],
    )
    assert dialogue.continue_ratio() == 0.0
