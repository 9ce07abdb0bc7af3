"""The one dialogue record shared by live calls and simulations (versioned JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1


class Record(BaseModel):
    """Base for records: unknown fields rejected, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class Template(StrEnum):
    """The four thought templates of the paper's sales agent."""

    CHITCHAT = "chitchat"
    """Continue the chit-chat, no product hinted."""
    PIVOT = "pivot"
    """Pivot toward a product the caller is likely to want."""
    CONTINUE = "continue"
    """Continue the current product topic."""
    CONFIRM = "confirm"
    """The caller explicitly showed interest in a product."""


class UserState(StrEnum):
    """The agent's reading of the caller's last line."""

    ENGAGED = "engaged"
    ACCEPT = "accept"
    WITHDRAW = "withdraw"
    GOODBYE = "goodbye"
    OPT_OUT = "opt_out"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    WITHDREW = "withdrew"
    EXPLICIT_INTENT = "explicit_intent"
    GOODBYE = "goodbye"
    MAX_TURNS = "max_turns"
    HUNG_UP = "hung_up"
    OPTED_OUT = "opted_out"


class Thought(Record):
    """The agent's private step before it speaks. Never spoken."""

    template: Template
    intent: str | None = None
    """The product (intent) the template refers to, when it refers to one."""
    user_state: UserState = UserState.ENGAGED
    note: str = ""


class SectorGuess(Record):
    sector: str | None
    """ISIC section letter, or None when unknown."""
    confidence: float = Field(ge=0, le=1)
    source: Literal["metadata", "inferred", "none"]


class Turn(Record):
    speaker: Literal["agent", "user"]
    text: str
    thought: Thought | None = None
    strategy: str | None = None
    """The strategy line injected for this agent turn, if any."""
    sector: SectorGuess | None = None
    attitude: str | None = None
    """Chain-of-Attitude label of a user turn, once classified."""
    interrupted: bool = False
    """Agent turn cut off by the caller: ``text`` is what was heard."""
    compliance: list[str] = Field(default_factory=list)
    compliance_detail: list[dict[str, str]] = Field(default_factory=list)
    """Which rule fired on what text (the caller heard the safe line instead)."""
    """Rules that fired on this turn (e.g. "unsupported_number", "opt_out")."""
    timings: dict[str, Any] = Field(default_factory=dict)
    audio_ref: str | None = None


class CallerProfile(Record):
    """What is known about the caller; any field may be missing."""

    caller_id: str | None = None
    name: str | None = None
    occupation: str | None = None
    sector: str | None = None
    age: int | None = None
    gender: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Anything else (persona attributes in simulation, CRM fields live)."""


class Dialogue(Record):
    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    source: Literal["live", "simulated"]
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    caller: CallerProfile = Field(default_factory=CallerProfile)
    program_version: str
    variant: str | None = None
    turns: list[Turn] = Field(default_factory=list)
    outcome: Outcome | None = None
    outcome_intent: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Dialogue:
        return cls.model_validate_json(text)

    @property
    def agent_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.speaker == "agent"]

    def continue_ratio(self) -> float | None:
        """Share of agent turns whose thought continued the current topic (aggressiveness:
        lower means more pivots)."""
        thoughts = [t.thought for t in self.agent_turns if t.thought is not None]
        if not thoughts:
            return None
        return sum(t.template is Template.CONTINUE for t in thoughts) / len(thoughts)
