"""The agent side of the pipeline, as the pipeline sees it, and a plain LLM responder.

``agent/`` provides the real sales agent behind the same protocol; ``LLMResponder`` is
the simplest thing that speaks: a system prompt, the played history and a streamed reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from models.llm.base import LLM, ChatMessage, Sampling

ReplyPiece = str | Mapping[str, Any]
"""Spoken text, or a private note (thought, strategy, ...): shown to operators, stored,
never spoken."""


class Responder(Protocol):
    @property
    def greeting(self) -> str:
        """What the agent says first."""
        ...

    @property
    def cache_key(self) -> str:
        """Identifies the agent program, for caching its synthesized greeting."""
        ...

    def reply(self, user_text: str) -> AsyncIterator[ReplyPiece]:
        """Stream the spoken reply (text deltas) and private notes (mappings).
        Closing the iterator early cancels generation."""
        ...

    def commit(self, user_text: str, agent_text: str, interrupted: bool) -> None:
        """Record an exchange in the history: ``agent_text`` is what was heard."""
        ...

    async def settle(self, user_text: str) -> Mapping[str, Any]:
        """After the reply's text is complete (while it is still being spoken): anything
        slower that decides about the turn, e.g. whether the dialogue has ended. The
        returned note is reported like the reply's own notes."""
        ...

    async def warm(self) -> None:
        """Get ready for the next reply while nobody waits: evaluate the history so far
        into the LLM's prefix cache (at call start, and after every exchange)."""
        ...

    async def prepare(self, user_text: str) -> None:
        """Speculatively evaluate a likely user line (the caller paused, the turn may
        be over); the real reply then only pays for what differs."""
        ...

    async def listen(self, partial_text: str) -> None:
        """The caller is still speaking: evaluate what they said so far (the partial
        transcript), so that when the turn ends only its last words are new."""
        ...


class LLMResponder:
    """Streams replies from an LLM over the played history, one session per call."""

    def __init__(
        self,
        llm: LLM,
        system_prompt: str,
        greeting: str,
        *,
        session: str,
        sampling: Sampling | None = None,
    ) -> None:
        self._llm = llm
        self._greeting = greeting
        self._session = session
        self._sampling = sampling or Sampling(max_tokens=80)
        self.history: list[ChatMessage] = [ChatMessage("system", system_prompt)]

    @property
    def greeting(self) -> str:
        return self._greeting

    @property
    def cache_key(self) -> str:
        return f"llm-responder:{hash((self.history[0].content, self._greeting))}"

    async def reply(self, user_text: str) -> AsyncIterator[ReplyPiece]:
        messages = [*self.history, ChatMessage("user", user_text)]
        async with self._llm.stream(messages, self._sampling, session=self._session) as stream:
            async for delta in stream:
                yield delta

    async def settle(self, user_text: str) -> Mapping[str, Any]:
        return {}

    async def warm(self) -> None:
        # At call start, with the greeting as it will (nearly always) be heard.
        history = self.history
        if len(history) == 1 and self._greeting:
            history = [*history, ChatMessage("assistant", self._greeting)]
        await self._llm.complete(history, Sampling(max_tokens=1), session=self._session)

    async def prepare(self, user_text: str) -> None:
        messages = [*self.history, ChatMessage("user", user_text)]
        await self._llm.complete(messages, Sampling(max_tokens=1), session=self._session)

    async def listen(self, partial_text: str) -> None:
        await self.prepare(partial_text)

    def commit(self, user_text: str, agent_text: str, interrupted: bool) -> None:
        if user_text:
            self.history.append(ChatMessage("user", user_text))
        if agent_text:
            suffix = " —" if interrupted else ""
            self.history.append(ChatMessage("assistant", agent_text + suffix))
