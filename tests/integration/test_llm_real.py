"""Real embedded LLMs: constrained JSON, streaming, prefix cache, cancellation, and the
OpenAI-compatible backend against a local llama.cpp server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from models.config import LLMSettings, OpenAISettings
from models.errors import ModelRuntimeError
from models.llm import LLM, ChatMessage, Sampling, SamplingDefaults
from models.llm.llamacpp import LlamaCppLLM
from models.llm.openai_compat import OpenAICompatLLM
from models.registry import build_llm
from server.settings import Settings

pytestmark = pytest.mark.real


class Thought(BaseModel):
    template: Literal["chitchat", "pivot", "continue", "confirm"]
    intent: Literal["none", "term_life", "critical_illness", "medical", "travel", "home", "auto"]
    confidence: float = Field(ge=0, le=1)
    reason: str = Field(max_length=120)


CALLER_LINES = [
    "Hi, who is this?",
    "I'm a nurse and I work night shifts, it's exhausting.",
    "My husband and I just had our second baby.",
    "We're flying to Spain next month for two weeks.",
    "I already have insurance through work, I think.",
    "What would happen to my family if I got cancer?",
    "Honestly I just bought a new house and money is tight.",
    "I drive about two hours every day for work.",
    "Yes, please tell me more about the life insurance plan.",
    "The weather has been lovely this week, hasn't it?",
]

SYSTEM = (
    "You are the planning step of an insurance sales agent. Read the caller's line and "
    "decide the next move: chitchat, pivot to a product, continue the current topic, or "
    "confirm that the caller explicitly asked for a product. Answer in JSON."
)


async def test_constrained_json_is_schema_valid_on_ten_of_ten_prompts(qwen: LLM) -> None:
    results = []
    for i, line in enumerate(CALLER_LINES):
        out = await qwen.complete_json(
            [ChatMessage("system", SYSTEM), ChatMessage("user", line)],
            Thought,
            Sampling(temperature=0.8, max_tokens=120, seed=i),
        )
        assert isinstance(out.value, Thought)  # parse_json_output validated it
        results.append(out.value)
    print([(r.template, r.intent) for r in results])
    assert len(results) == 10


async def test_stream_yields_text_incrementally(qwen: LLM) -> None:
    deltas = []
    async with qwen.stream(
        [ChatMessage("user", "Name three kinds of insurance, comma separated.")],
        Sampling(max_tokens=40, temperature=0.0),
    ) as stream:
        async for delta in stream:
            deltas.append(delta)
    assert len(deltas) >= 3
    assert stream.completion is not None
    c = stream.completion
    assert c.text == "".join(deltas)
    assert 0 < c.timings.ttft_s < c.timings.total_s
    assert c.usage.completion_tokens >= len(deltas) - 1
    assert c.timings.decode_tokens_per_s > 0


async def test_follow_up_turn_of_a_session_reuses_the_cached_prefix(qwen: LLM) -> None:
    history = [
        ChatMessage("system", SYSTEM + " " + "Always be polite and brief. " * 20),
        ChatMessage("user", "Hello there."),
    ]
    first = await qwen.complete(history, Sampling(max_tokens=8, temperature=0.0), session="c1")
    history += [ChatMessage("assistant", first.text), ChatMessage("user", "Tell me more.")]
    second = await qwen.complete(history, Sampling(max_tokens=8, temperature=0.0), session="c1")
    assert second.usage.cached_tokens >= first.usage.prompt_tokens - 8
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


async def test_leaving_a_stream_early_stops_generation_and_frees_the_model(qwen: LLM) -> None:
    async with qwen.stream(
        [ChatMessage("user", "Count from one to two hundred in words.")],
        Sampling(max_tokens=400, temperature=0.0),
    ) as stream:
        async for _ in stream:
            break
    assert stream.completion is None  # never finished: it was cut off
    # The model is usable at once afterwards.
    c = await qwen.complete([ChatMessage("user", "Say OK.")], Sampling(max_tokens=4))
    assert c.text


@pytest.fixture(scope="module")
def llama_server(settings: Settings) -> Iterator[LlamaCppLLM]:
    """A local llama.cpp HTTP server (OpenAI protocol, as vLLM speaks) with SmolLM2."""
    s = LLMSettings(
        llamacpp=settings.llm.llamacpp.model_copy(
            update={"model": "smollm2-135m-instruct-q4_1", "n_ctx": 2048, "slots": 1}
        )
    )
    server = build_llm(s, settings.cache_dir)
    assert isinstance(server, LlamaCppLLM)
    yield server
    asyncio.run(server.aclose())


class Contact(BaseModel):
    name: str = Field(max_length=40)
    wants_callback: bool


async def test_openai_backend_against_a_local_server(llama_server: LlamaCppLLM) -> None:
    llm = OpenAICompatLLM(
        OpenAISettings(base_url=llama_server.listening_address + "/v1"),
        SamplingDefaults(max_tokens=32),
    )
    try:
        c = await llm.complete([ChatMessage("user", "Say hello.")], Sampling(temperature=0.0))
        assert c.text.strip()
        assert c.usage.completion_tokens > 0
        deltas = [d async for d in llm.stream([ChatMessage("user", "Count to five.")])]
        assert len(deltas) > 1
        for _ in range(3):
            out = await llm.complete_json(
                [ChatMessage("user", "Jane Doe asked us to call her back tomorrow. As JSON.")],
                Contact,
                # The schema bounds the answer: a 40-character name can be 40 tokens
                # (a run of digits), plus the keys, quotes and whitespace.
                Sampling(max_tokens=120),
            )
            assert isinstance(out.value, Contact)
    finally:
        await llm.aclose()


async def test_openai_backend_names_the_url_when_no_server_listens() -> None:
    llm = OpenAICompatLLM(
        OpenAISettings(base_url="http://127.0.0.1:9/v1", connect_timeout_s=1), SamplingDefaults()
    )
    try:
        with pytest.raises(ModelRuntimeError, match=r"cannot reach .*127\.0\.0\.1:9"):
            await llm.complete([ChatMessage("user", "hi")])
    finally:
        await llm.aclose()
