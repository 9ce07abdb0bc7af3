"""The LLM interface: chat completion, streaming, and JSON-schema constrained output.

Template method: the public methods own timing, timeouts, schema validation and error
mapping; a backend implements ``_generate`` (an async iterator of raw chunks) only.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from models.errors import ModelRuntimeError, SalesvoiceError, SchemaValidationError

Role = Literal["system", "user", "assistant"]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    """Per-request sampling; None fields take the backend's configured defaults."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logit_bias: tuple[tuple[str, float], ...] = ()
    """(text, bias) pairs added to the logits of the tokens of each text, where the
    backend supports it by text (``Capabilities.text_logit_bias``); ignored elsewhere."""


@dataclass(frozen=True, slots=True)
class SamplingDefaults:
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 256
    timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Capabilities:
    streaming: bool
    json_schema: bool
    """Decoding is constrained to the schema (not just validated afterwards)."""
    prefix_cache: bool
    """Follow-up turns of one ``session`` reuse the cached prompt prefix."""
    grammar: bool = False
    """Accepts a raw LLGuidance grammar (``grammar=``)."""
    prefill: bool = False
    """Continues a final assistant message instead of starting a new one (assistant
    prefill)."""
    text_logit_bias: bool = False
    """Applies ``Sampling.logit_bias`` given as text (not token ids)."""


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """What a backend receives: everything resolved, nothing optional but the extras."""

    messages: tuple[ChatMessage, ...]
    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    json_schema: dict[str, Any] | None
    session: str | None
    grammar: str | None = None
    logit_bias: tuple[tuple[str, float], ...] = ()

    def openai_body(self, *, stream: bool) -> dict[str, Any]:
        """The request as an OpenAI-style chat completion body."""
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stream": stream,
        }
        if self.stop:
            body["stop"] = list(self.stop)
        if self.seed is not None:
            body["seed"] = self.seed
        if self.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": self.json_schema, "strict": True},
            }
        return body


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class RawChunk:
    """One piece of backend output: some text and/or the final bookkeeping."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class LLMTimings:
    ttft_s: float
    """Request start → first generated text."""
    total_s: float
    decode_tokens_per_s: float


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    finish_reason: str
    usage: Usage
    timings: LLMTimings


@dataclass(frozen=True, slots=True)
class JSONCompletion(Generic[M]):
    value: M
    completion: Completion


def parse_json_output(schema: type[M], text: str) -> M:
    """Validate model output against ``schema``, with an error that shows the raw text."""
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        raise SchemaValidationError(
            f"output does not match {schema.__name__}: {exc.error_count()} error(s), "
            f"first: {exc.errors()[0]['msg']}",
            text,
        ) from None


class LLMStream:
    """Async iterator of text deltas; ``completion`` is set once it is exhausted.

    Use inside ``async with``: leaving early (barge-in) stops the generation in the backend.
    """

    def __init__(self, chunks: AsyncIterator[RawChunk], timeout_s: float, backend: str) -> None:
        self._chunks = chunks
        self._backend = backend
        self._start = time.monotonic()
        self._deadline = self._start + timeout_s
        self._first: float | None = None
        self._parts: list[str] = []
        self._finish = "stop"
        self._usage: Usage | None = None
        self._count = 0
        self.completion: Completion | None = None

    def __aiter__(self) -> LLMStream:
        return self

    async def __anext__(self) -> str:
        while True:
            remaining = self._deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._finalize()
                raise
            except TimeoutError:
                await self.aclose()
                raise ModelRuntimeError(
                    f"{self._backend}: generation exceeded {self._deadline - self._start:.2f} s"
                ) from None
            except SalesvoiceError:
                raise
            except Exception as exc:  # vendor errors become one actionable type
                raise ModelRuntimeError(f"{self._backend}: {type(exc).__name__}: {exc}") from exc
            if chunk.usage is not None:
                self._usage = chunk.usage
            if chunk.finish_reason is not None:
                self._finish = chunk.finish_reason
            if chunk.text:
                if self._first is None:
                    self._first = time.monotonic()
                self._parts.append(chunk.text)
                self._count += 1
                return chunk.text

    def _finalize(self) -> None:
        end = time.monotonic()
        first = self._first if self._first is not None else end
        usage = self._usage or Usage(completion_tokens=self._count)
        decode_s = end - first
        rate = (usage.completion_tokens - 1) / decode_s if decode_s > 0 else 0.0
        self.completion = Completion(
            text="".join(self._parts),
            finish_reason=self._finish,
            usage=usage,
            timings=LLMTimings(
                ttft_s=first - self._start, total_s=end - self._start, decode_tokens_per_s=rate
            ),
        )

    @property
    def text(self) -> str:
        """Text received so far."""
        return "".join(self._parts)

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> LLMStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class LLM(ABC):
    """A chat model. Backends implement ``_generate``; callers use the public methods."""

    capabilities: ClassVar[Capabilities]
    name: ClassVar[str]
    count_tokens: Callable[[str], int] | None = None
    """Tokens of a text by the model's own tokenizer, where the backend has one (a method
    there); None here, so ``isinstance(llm, agent.context.SizedLLM)`` is false and the
    agent estimates instead. Fast and non-blocking enough to call on the event loop."""

    def __init__(self, defaults: SamplingDefaults | None = None) -> None:
        self.defaults = defaults or SamplingDefaults()
        self.version: str = self.name
        """Which model answers, as records name it (a backend adds its model and adapter)."""

    @property
    def context_tokens(self) -> int | None:
        """Tokens one request may hold (prompt and reply), where the backend knows it."""
        return None

    def _request(
        self,
        messages: Sequence[ChatMessage],
        sampling: Sampling | None,
        json_schema: dict[str, Any] | None,
        session: str | None,
        grammar: str | None = None,
    ) -> LLMRequest:
        if grammar is not None and not self.capabilities.grammar:
            raise SalesvoiceError(f"backend {self.name!r} does not take raw grammars")
        s = sampling or Sampling()
        d = self.defaults
        return LLMRequest(
            messages=tuple(messages),
            temperature=d.temperature if s.temperature is None else s.temperature,
            top_p=d.top_p if s.top_p is None else s.top_p,
            max_tokens=d.max_tokens if s.max_tokens is None else s.max_tokens,
            stop=s.stop,
            seed=s.seed,
            json_schema=json_schema,
            session=session,
            grammar=grammar,
            logit_bias=s.logit_bias,
        )

    def stream(
        self,
        messages: Sequence[ChatMessage],
        sampling: Sampling | None = None,
        *,
        json_schema: dict[str, Any] | None = None,
        session: str | None = None,
        grammar: str | None = None,
    ) -> LLMStream:
        """Stream text deltas. ``session`` names a conversation whose prefix to keep warm;
        ``grammar`` (backends with ``capabilities.grammar``) constrains the output."""
        request = self._request(messages, sampling, json_schema, session, grammar)
        return LLMStream(self._generate(request), self.defaults.timeout_s, self.name)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        sampling: Sampling | None = None,
        *,
        json_schema: dict[str, Any] | None = None,
        session: str | None = None,
        grammar: str | None = None,
    ) -> Completion:
        async with self.stream(
            messages, sampling, json_schema=json_schema, session=session, grammar=grammar
        ) as s:
            async for _ in s:
                pass
        assert s.completion is not None
        return s.completion

    async def complete_json(
        self,
        messages: Sequence[ChatMessage],
        schema: type[M],
        sampling: Sampling | None = None,
        *,
        session: str | None = None,
    ) -> JSONCompletion[M]:
        """Generate an object of ``schema``: constrained decoding where the backend can,
        otherwise the schema in the prompt; always validated."""
        json_schema = schema.model_json_schema()
        if not self.capabilities.json_schema:
            hint = ChatMessage(
                "system",
                "Reply with one JSON object only, matching this JSON schema:\n"
                + json.dumps(json_schema),
            )
            messages = [*messages, hint]
        completion = await self.complete(
            messages, sampling, json_schema=json_schema, session=session
        )
        return JSONCompletion(parse_json_output(schema, completion.text), completion)

    async def prime(self, messages: Sequence[ChatMessage]) -> None:
        """Get a prompt prefix shared by many conversations (a system prompt) into the
        backend's cache, so no conversation pays for evaluating it."""
        await self.complete(messages, Sampling(max_tokens=1))

    @abstractmethod
    def _generate(self, request: LLMRequest) -> AsyncIterator[RawChunk]:
        """Yield raw chunks for ``request``; closing the iterator must stop generation."""

    async def aclose(self) -> None:
        """Release the model (threads, sockets, memory)."""
        return None


class SessionSlots:
    """Maps conversation ids to a fixed number of cache slots, least recently used first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._owner: list[str | None] = [None] * size
        self._last_use = [0] * size
        self._tick = 0

    def slot_for(self, session: str | None) -> int:
        """The slot of ``session`` (-1: no preference, let the backend choose)."""
        if session is None:
            return -1
        if session in self._owner:
            slot = self._owner.index(session)
        else:
            slot = min(range(self.size), key=self._last_use.__getitem__)
            self._owner[slot] = session
        self._tick += 1
        self._last_use[slot] = self._tick
        return slot
