"""Single-model mode: the thought and the response in one constrained JSON array.

The answer is ``[template, product, caller state, sector, response]``; its response
streams to TTS as soon as it starts. When the caller pauses, ``SingleModel.speculate``
already writes the four thought fields; if the final transcript is the same line, the
reply continues that prefilled answer, so its first generated token is the response's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

from agent.dialogue import Template, Thought, UserState
from agent.prompt import thought_grammar
from agent.refs import continuation_grammar, single_grammar
from agent.speech import Note
from agent.stream_json import StreamedArrayReader
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling


class SingleModel:
    """One call's single-model decoding: its grammars, and the thought written ahead.

    ``schema`` is the answer's JSON schema (``agent.prompt.thought_array_schema``), used
    by backends without grammars; ``refs`` are the fact references a response may use.
    """

    def __init__(self, llm: LLM, sampling: Sampling, *, session: str,
                 schema: dict[str, Any], refs: list[str]) -> None:
        self._llm = llm
        self._sampling = sampling
        self._session = session
        self._schema = schema
        leading = [item["enum"] for item in schema["prefixItems"][:4]]
        self._thought_grammar = thought_grammar(leading)
        self._single_grammar = single_grammar(leading, refs)
        self._continuation_grammar = continuation_grammar(refs)
        self._speculation: (
            tuple[str, list[ChatMessage], asyncio.Future[list[str] | None]] | None
        ) = None

    @property
    def grammars(self) -> tuple[str, ...]:
        """Every grammar this mode decodes with (to compile them before the call needs them)."""
        return (self._thought_grammar, self._single_grammar, self._continuation_grammar)

    async def speculate(self, user_text: str, messages: list[ChatMessage]) -> None:
        """Write the thought for ``user_text`` (prompted by ``messages``) ahead of the
        reply; ``stream`` for exactly this line and prompt starts from it."""
        done: asyncio.Future[list[str] | None] = asyncio.get_running_loop().create_future()
        self._speculation = (user_text, messages, done)
        written: list[str] | None = None
        try:
            written = await self.written_thought(messages)
        finally:
            done.set_result(written)

    async def written_thought(self, messages: list[ChatMessage]) -> list[str] | None:
        """The four thought fields the LLM writes for ``messages``, without answering;
        None when it failed."""
        try:
            out = await self._llm.complete(
                messages, Sampling(temperature=self._sampling.temperature, max_tokens=24),
                session=self._session, grammar=self._thought_grammar,
            )
            parsed = json.loads(out.text)
        except (SalesvoiceError, ValueError):
            return None
        if isinstance(parsed, list) and len(parsed) == 4:
            return [str(f) for f in parsed]
        return None

    async def _speculated(self, user_text: str, messages: list[ChatMessage]) -> list[str] | None:
        """The thought speculate() wrote for exactly this line and prompt, if any."""
        spec, self._speculation = self._speculation, None
        if spec is None or spec[0] != user_text or spec[1] != messages:
            return None
        return await spec[2]

    async def stream(
        self, messages: list[ChatMessage], user_text: str,
        note: Callable[[Thought, str], Note],
    ) -> AsyncGenerator[str | Note, None]:
        """The reply to ``user_text``: the thought's ``note`` (given the thought and the
        sector field) once the thought is complete, then the response as it streams."""
        reader = StreamedArrayReader(leading=4)
        noted = False
        fields = await self._speculated(user_text, messages)
        if fields is not None:
            # Continue the prefilled answer: the thought is already in the prompt (and in
            # the cache), so the first generated token is the response's.
            prefix = prefilled(fields)
            reader.feed(prefix)
            noted = True
            yield note(thought_of(fields), fields[3])
            request: dict[str, Any] = {"grammar": self._continuation_grammar}
            messages = [*messages, ChatMessage("assistant", prefix)]
        elif self._llm.capabilities.grammar:
            request = {"grammar": self._single_grammar}
        else:
            request = {"json_schema": self._schema}
        async with self._llm.stream(
            messages, self._sampling, session=self._session, **request
        ) as stream:
            async for delta in stream:
                spoken = reader.feed(delta)
                if reader.thought_ready and not noted:
                    noted = True
                    yield note(thought_of(reader.fields), reader.fields[3])
                if spoken:
                    yield spoken
                if reader.done:
                    break


def prefilled(fields: list[str]) -> str:
    """The single-model answer up to the opening quote of its response."""
    return json.dumps(fields, separators=(",", ":"))[:-1] + ',"'


def thought_of(fields: list[str]) -> Thought:
    """The thought the answer's leading fields (template, product, state) describe."""
    template, intent, state = fields[:3]
    return Thought(
        template=Template(template),
        intent=None if intent == "none" else intent,
        user_state=UserState(state),
    )
