"""FakeLLM: a real LLM subclass that replays scripted replies with scripted timings."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from models.llm.base import LLM, Capabilities, LLMRequest, RawChunk, SamplingDefaults, Usage

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FakeReply:
    text: str
    ttft_s: float = 0.0
    tokens_per_s: float = 0.0
    """0 means all tokens at once after ``ttft_s``."""


Responder = Callable[[LLMRequest], FakeReply | str]


class FakeLLM(LLM):
    """Replies from a script (consumed in order) or from a responder function.

    Tokens are whitespace-preserving word pieces; ``requests`` records every request.
    """

    name = "fake"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, json_schema=True, prefix_cache=False
    )

    def __init__(
        self,
        script: Iterable[FakeReply | str] | Responder,
        *,
        sleep: Sleep = asyncio.sleep,
        defaults: SamplingDefaults | None = None,
    ) -> None:
        super().__init__(defaults)
        self._responder = script if callable(script) else None
        self._script = [] if callable(script) else list(script)
        self._sleep = sleep
        self.requests: list[LLMRequest] = []
        self.cancelled = 0

    def _next(self, request: LLMRequest) -> FakeReply:
        if self._responder is not None:
            reply = self._responder(request)
        elif self._script:
            reply = self._script.pop(0)
        else:
            raise AssertionError("FakeLLM script exhausted")
        return FakeReply(reply) if isinstance(reply, str) else reply

    async def _generate(self, request: LLMRequest) -> AsyncIterator[RawChunk]:
        self.requests.append(request)
        reply = self._next(request)
        tokens = re.findall(r"\s*\S+", reply.text) or [""]
        tokens = tokens[: request.max_tokens]
        finished = False
        try:
            await self._sleep(reply.ttft_s)
            for i, token in enumerate(tokens):
                if i and reply.tokens_per_s:
                    await self._sleep(1.0 / reply.tokens_per_s)
                yield RawChunk(token)
            finished = True
            yield RawChunk(finish_reason="stop", usage=Usage(0, len(tokens), 0))
        finally:
            if not finished:
                self.cancelled += 1
