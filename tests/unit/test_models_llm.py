"""The LLM interface driven by FakeLLM, and the OpenAI-compatible SSE line parser."""

from __future__ import annotations

import asyncio
import json
from typing import ClassVar

import pytest
from pydantic import BaseModel

from models.errors import ModelRuntimeError, SchemaValidationError
from models.llm import (
    Capabilities,
    ChatMessage,
    FakeLLM,
    FakeReply,
    LLMRequest,
    RawChunk,
    Sampling,
    SamplingDefaults,
    Usage,
)
from models.llm.base import SessionSlots
from models.llm.openai_compat import _parse_sse

HELLO = [ChatMessage("user", "hello")]


class Quote(BaseModel):
    product: str
    monthly_premium: float


class RecordingSleep:
    """Injected clock: records requested delays and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def pending_tasks() -> list[asyncio.Task[object]]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()]


# --- complete / stream -----------------------------------------------------------------


async def test_complete_joins_tokens_and_reports_usage_and_timings() -> None:
    llm = FakeLLM(["Term life covers you for twenty years."], sleep=RecordingSleep())
    c = await llm.complete(HELLO)
    assert c.text == "Term life covers you for twenty years."
    assert c.finish_reason == "stop"
    assert c.usage == Usage(prompt_tokens=0, completion_tokens=7, cached_tokens=0)
    assert c.timings.ttft_s >= 0
    assert c.timings.total_s >= c.timings.ttft_s
    assert c.timings.decode_tokens_per_s >= 0


async def test_complete_consumes_the_script_in_order_and_records_requests() -> None:
    llm = FakeLLM(["one", FakeReply("two")], sleep=RecordingSleep())
    assert (await llm.complete(HELLO)).text == "one"
    assert (await llm.complete(HELLO, session="call-1")).text == "two"
    assert [r.session for r in llm.requests] == [None, "call-1"]
    assert llm.requests[0].messages == tuple(HELLO)


async def test_responder_function_sees_the_request() -> None:
    llm = FakeLLM(lambda req: f"you said {req.messages[-1].content}", sleep=RecordingSleep())
    assert (await llm.complete(HELLO)).text == "you said hello"


async def test_stream_yields_a_multi_word_reply_incrementally() -> None:
    llm = FakeLLM(["We can cover your family today."], sleep=RecordingSleep())
    deltas: list[str] = []
    async with llm.stream(HELLO) as s:
        async for delta in s:
            deltas.append(delta)
            assert s.text == "".join(deltas)
    assert len(deltas) > 1
    assert "".join(deltas) == "We can cover your family today."
    assert s.completion is not None
    assert s.completion.text == "We can cover your family today."
    assert llm.cancelled == 0


async def test_stream_uses_the_injected_sleep_for_ttft_and_token_pacing() -> None:
    sleep = RecordingSleep()
    llm = FakeLLM([FakeReply("a b c", ttft_s=0.4, tokens_per_s=10)], sleep=sleep)
    await llm.complete(HELLO)
    assert sleep.calls == [0.4, 0.1, 0.1]


async def test_leaving_the_stream_early_stops_generation_without_leaking_tasks() -> None:
    llm = FakeLLM(["one two three four five"], sleep=RecordingSleep())
    async with llm.stream(HELLO) as s:
        async for delta in s:
            assert delta == "one"
            break
    assert llm.cancelled == 1
    assert s.completion is None
    assert pending_tasks() == []


async def test_max_tokens_truncates_the_reply() -> None:
    llm = FakeLLM(["one two three four"], sleep=RecordingSleep())
    c = await llm.complete(HELLO, Sampling(max_tokens=2))
    assert c.text == "one two"
    assert c.usage.completion_tokens == 2


# --- sampling --------------------------------------------------------------------------


async def test_backend_defaults_fill_unset_sampling_fields() -> None:
    defaults = SamplingDefaults(temperature=0.3, top_p=0.8, max_tokens=77, timeout_s=5)
    llm = FakeLLM(["ok"], defaults=defaults, sleep=RecordingSleep())
    await llm.complete(HELLO)
    r = llm.requests[0]
    assert (r.temperature, r.top_p, r.max_tokens) == (0.3, 0.8, 77)
    assert (r.stop, r.seed, r.json_schema) == ((), None, None)


async def test_per_request_sampling_overrides_defaults() -> None:
    defaults = SamplingDefaults(temperature=0.3, top_p=0.8, max_tokens=77, timeout_s=5)
    llm = FakeLLM(["ok"], defaults=defaults, sleep=RecordingSleep())
    await llm.complete(
        HELLO, Sampling(temperature=0.0, top_p=1.0, max_tokens=5, stop=("\n",), seed=7)
    )
    r = llm.requests[0]
    assert (r.temperature, r.top_p, r.max_tokens, r.stop, r.seed) == (0.0, 1.0, 5, ("\n",), 7)


# --- timeout ---------------------------------------------------------------------------


async def test_reply_slower_than_timeout_raises_model_runtime_error() -> None:
    # Real sleeps on purpose: the timeout is enforced by the event loop clock.
    llm = FakeLLM([FakeReply("too late", ttft_s=0.5)], defaults=SamplingDefaults(timeout_s=0.01))
    with pytest.raises(ModelRuntimeError, match="fake: generation exceeded"):
        await llm.complete(HELLO)
    assert llm.cancelled == 1
    assert pending_tasks() == []


# --- JSON ------------------------------------------------------------------------------


async def test_complete_json_validates_into_the_schema_and_requests_constrained_decoding() -> None:
    llm = FakeLLM(['{"product": "term-20", "monthly_premium": 31.5}'], sleep=RecordingSleep())
    result = await llm.complete_json(HELLO, Quote)
    assert result.value == Quote(product="term-20", monthly_premium=31.5)
    assert result.completion.text.startswith("{")
    assert llm.requests[0].json_schema == Quote.model_json_schema()
    assert llm.requests[0].messages == tuple(HELLO)  # constrained: no schema in the prompt


async def test_complete_json_on_bad_json_raises_schema_error_with_raw_text() -> None:
    raw = '{"product": "term-20", "monthly_premium": "cheap"}'
    llm = FakeLLM([raw], sleep=RecordingSleep())
    with pytest.raises(SchemaValidationError, match="Quote") as info:
        await llm.complete_json(HELLO, Quote)
    assert info.value.raw == raw


async def test_complete_json_on_non_json_text_raises_schema_error() -> None:
    llm = FakeLLM(["Sure! Here is your quote."], sleep=RecordingSleep())
    with pytest.raises(SchemaValidationError) as info:
        await llm.complete_json(HELLO, Quote)
    assert info.value.raw == "Sure! Here is your quote."


class UnconstrainedFakeLLM(FakeLLM):
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, json_schema=False, prefix_cache=False
    )


async def test_complete_json_without_constrained_decoding_puts_the_schema_in_the_prompt() -> None:
    llm = UnconstrainedFakeLLM(['{"product": "x", "monthly_premium": 1}'], sleep=RecordingSleep())
    await llm.complete_json(HELLO, Quote)
    messages = llm.requests[0].messages
    assert messages[0] == HELLO[0]
    assert messages[-1].role == "system"
    assert json.dumps(Quote.model_json_schema()) in messages[-1].content


# --- SessionSlots / openai_body --------------------------------------------------------


def test_session_slots_reuse_a_sessions_slot_and_evict_least_recently_used() -> None:
    slots = SessionSlots(2)
    assert slots.slot_for("a") == 0
    assert slots.slot_for("b") == 1
    assert slots.slot_for("a") == 0  # a is now the most recent
    assert slots.slot_for("c") == 1  # b was least recently used
    assert slots.slot_for("a") == 0
    assert slots.slot_for("b") == 1  # c evicted in turn


def test_session_slots_give_no_preference_for_no_session() -> None:
    slots = SessionSlots(2)
    assert slots.slot_for(None) == -1
    assert slots.slot_for("a") == 0


def request(**kw: object) -> LLMRequest:
    base: dict[str, object] = dict(
        messages=(ChatMessage("system", "be brief"), ChatMessage("user", "hi")),
        temperature=0.2,
        top_p=0.9,
        max_tokens=16,
        stop=(),
        seed=None,
        json_schema=None,
        session=None,
    )
    base.update(kw)
    return LLMRequest(**base)  # type: ignore[arg-type]


def test_openai_body_has_messages_and_sampling_but_no_optional_fields() -> None:
    body = request().openai_body(stream=True)
    assert body == {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 16,
        "stream": True,
    }


def test_openai_body_includes_stop_seed_and_json_schema_response_format() -> None:
    schema = Quote.model_json_schema()
    body = request(stop=("\n", "User:"), seed=3, json_schema=schema).openai_body(stream=False)
    assert body["stream"] is False
    assert body["stop"] == ["\n", "User:"]
    assert body["seed"] == 3
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


# --- _parse_sse ------------------------------------------------------------------------


def sse(obj: object) -> str:
    return "data: " + json.dumps(obj)


def test_sse_content_delta_becomes_a_text_chunk() -> None:
    line = sse({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]})
    assert _parse_sse(line) == RawChunk("Hi", None, None)


def test_sse_final_choice_carries_finish_reason() -> None:
    line = sse({"choices": [{"delta": {}, "finish_reason": "length"}]})
    assert _parse_sse(line) == RawChunk("", "length", None)


def test_sse_usage_only_chunk_reports_usage_with_cached_tokens() -> None:
    line = sse(
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 40,
                "completion_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 32},
            },
        }
    )
    assert _parse_sse(line) == RawChunk(usage=Usage(40, 9, 32))


def test_sse_usage_without_details_has_zero_cached_tokens() -> None:
    line = sse(
        {
            "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1, "prompt_tokens_details": None},
        }
    )
    assert _parse_sse(line) == RawChunk(usage=Usage(4, 1, 0))


def test_sse_done_marker_and_non_data_lines_are_skipped() -> None:
    assert _parse_sse("data: [DONE]") is None
    assert _parse_sse("") is None
    assert _parse_sse(": keep-alive") is None
    assert _parse_sse("event: message") is None


def test_sse_data_without_space_is_accepted() -> None:
    assert _parse_sse('data:{"choices":[{"delta":{"content":"x"}}]}') == RawChunk("x")


def test_sse_malformed_json_raises_model_runtime_error() -> None:
    with pytest.raises(ModelRuntimeError, match="malformed stream line"):
        _parse_sse('data: {"choices": [')


def test_sse_error_payload_raises_model_runtime_error() -> None:
    with pytest.raises(ModelRuntimeError, match=r"server error: .*context length"):
        _parse_sse(sse({"error": {"message": "context length exceeded", "code": 400}}))
