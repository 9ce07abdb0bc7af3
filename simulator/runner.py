"""One simulated dialogue: a user model talks to an agent until the papers' termination
rules end it.

The agent is reached through a ``Conversation``: in-process (``LocalConversation``, text
or audio ``Channel``) or over the wire (dial-in, ``simulator/dialin.py``). Termination:
success (the caller accepts or explicitly asks for a product), withdrawal, goodbye,
opt-out, or the utterance limit (the first paper counts both sides, 20 in all).

Outcome: a programmatic user's own verdict is the truth (the agent's reading is kept as
``metadata.agent_outcome``); with an LLM user the outcome is the agent's constrained
classification of each caller line (``agent/outcome.py``), never a tag in the text.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.dialogue import Dialogue, Outcome
from simulator.agents import SimAgent
from simulator.users import UserAgent

SUCCESS = frozenset({Outcome.ACCEPTED, Outcome.EXPLICIT_INTENT})
ENDS = frozenset({*SUCCESS, Outcome.WITHDREW, Outcome.GOODBYE, Outcome.OPTED_OUT,
                  Outcome.HUNG_UP})


@dataclass(frozen=True, slots=True)
class Heard:
    """One line after crossing the channel."""

    said: str
    heard: str
    info: dict[str, Any] = field(default_factory=dict)
    """Channel measurements: WER, audio seconds, stage times."""


class Channel(Protocol):
    """How lines travel between the user model and the agent."""

    name: str

    async def to_agent(self, text: str) -> Heard: ...

    async def to_user(self, text: str) -> Heard: ...


class TextChannel:
    name = "text"

    async def to_agent(self, text: str) -> Heard:
        return Heard(text, text)

    async def to_user(self, text: str) -> Heard:
        return Heard(text, text)


@dataclass(frozen=True, slots=True)
class AgentReply:
    heard: Heard
    outcome: Outcome | None = None
    """The agent's reading of the dialogue so far (None: going on)."""
    ended: bool = False
    """The agent (or server) ended the call."""


class Conversation(Protocol):
    """The agent as the simulated user reaches it."""

    async def open(self) -> Heard:
        """Start the call; the greeting as the user heard it."""
        ...

    async def say(self, text: str) -> AgentReply: ...

    async def close(self) -> Dialogue:
        """End the call; the agent's record of it."""
        ...


class LocalConversation:
    """An in-process agent behind a channel (text, or audio through TTS and ASR)."""

    def __init__(self, agent: SimAgent, channel: Channel | None = None) -> None:
        self.agent = agent
        self.channel = channel or TextChannel()
        self.crossings: list[dict[str, Any]] = []

    async def open(self) -> Heard:
        self.agent.commit("", self.agent.greeting, False)
        return await self._to_user(self.agent.greeting)

    async def say(self, text: str) -> AgentReply:
        to_agent = await self.channel.to_agent(text)
        self._record("user", to_agent)
        turn = await self.agent.respond(to_agent.heard)
        heard = await self._to_user(turn.text)
        outcome = self.agent.dialogue.outcome
        ended = outcome in ENDS and outcome not in SUCCESS
        return AgentReply(heard, outcome, ended)

    async def close(self) -> Dialogue:
        dialogue = self.agent.dialogue
        if self.channel.name != "text":
            dialogue.metadata["channel"] = self.crossings
        return dialogue

    async def _to_user(self, text: str) -> Heard:
        heard = await self.channel.to_user(text)
        self._record("agent", heard)
        return heard

    def _record(self, speaker: str, heard: Heard) -> None:
        if self.channel.name != "text":
            self.crossings.append({"speaker": speaker, "said": heard.said,
                                   "heard": heard.heard, **heard.info})


async def run_dialogue(
    conversation: Conversation,
    user: UserAgent,
    *,
    max_utterances: int = 20,
    metadata: dict[str, Any] | None = None,
) -> Dialogue:
    """Talk until an ending rule fires; the dialogue with outcome and run metadata."""
    started = time.monotonic()
    heard = await conversation.open()
    utterances = 1
    verdict: tuple[Outcome, str | None] | None = None
    agent_view: Outcome | None = None
    ended_by = "max_utterances"
    hints: list[dict[str, Any]] = []
    try:
        while utterances < max_utterances:
            line = await user.reply(heard.heard)
            utterances += 1
            hints.append(dict(line.hints))
            if line.verdict is not None:
                verdict = (line.verdict, line.intent)
            reply = await conversation.say(line.text)
            utterances += 1
            heard = reply.heard
            agent_view = reply.outcome
            if verdict is not None and user.knows_truth:
                ended_by = "user"
                break
            if reply.ended or (agent_view in SUCCESS and not user.knows_truth):
                ended_by = "agent"
                break
    except BaseException:
        # Hang up (a dial-in call must not stay open) and let the batch record the error.
        with contextlib.suppress(Exception):
            await conversation.close()
        raise
    dialogue = await conversation.close()
    agent_outcome, agent_intent = dialogue.outcome, dialogue.outcome_intent
    if user.knows_truth:
        dialogue.outcome, dialogue.outcome_intent = verdict or (None, None)
    if dialogue.outcome is None and ended_by == "max_utterances":
        dialogue.outcome = Outcome.MAX_TURNS
    dialogue.metadata.update(metadata or {})
    dialogue.metadata.update({
        "utterances": utterances,
        "ended_by": ended_by,
        "agent_outcome": agent_outcome.value if agent_outcome else None,
        "agent_outcome_intent": agent_intent,
        "user_truth": user.truth(),
        "user_hints": hints,
        "elapsed_s": round(time.monotonic() - started, 3),
    })
    return dialogue


def is_success(dialogue: Dialogue) -> bool:
    return dialogue.outcome in SUCCESS
