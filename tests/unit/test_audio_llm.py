"""The audio-input LLM path against a scripted OpenAI-compatible server (Starlette under
uvicorn, in the test): the request a vLLM-served Ultravox / Qwen2-Audio would receive.

No audio model runs here (no GPU): the server checks the request's shape and the audio it
carries, and replies with a scripted completion, streamed as the client asks.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from models.asr import FakeASR
from models.audio import HOUSE_RATE, PCM
from models.config import LLMSettings, OpenAISettings, load_toml_config
from models.errors import ModelRuntimeError
from models.llm.audio_input import CallerAudio, ListeningASR, listening_asr
from models.llm.base import ChatMessage, SamplingDefaults
from models.llm.openai_compat import OpenAICompatLLM
from models.tts import FakeTTS
from models.vad import FakeVAD
from voice.audio import FRAME_SAMPLES
from voice.clock import VirtualClock
from voice.events import PipelineEvent, TurnCompleted
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.responder import LLMResponder
from voice.turns import TurnConfig

FRAME_S = FRAME_SAMPLES / HOUSE_RATE


def tone(seconds: float, hz: float) -> PCM:
    t = np.arange(round(seconds * HOUSE_RATE)) / HOUSE_RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


@dataclass
class ScriptedServer:
    """Speaks POST /v1/chat/completions; records each body; replies ``reply``."""

    reply: str = "Critical illness cover pays a lump sum."
    fail_with: tuple[int, str] | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append(body)
        if self.fail_with is not None:
            status, message = self.fail_with
            return JSONResponse({"error": {"message": message}}, status_code=status)
        words = self.reply.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        if not body.get("stream"):
            return JSONResponse({"choices": [{"message": {"content": self.reply},
                                              "finish_reason": "stop"}]})

        async def sse() -> AsyncIterator[str]:
            for piece in pieces:
                chunk = {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield f"data: {json.dumps({'choices': [{'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            usage = {"prompt_tokens": 120, "completion_tokens": len(pieces)}
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.completions,
                                       methods=["POST"])])


@pytest.fixture
async def server() -> AsyncIterator[tuple[ScriptedServer, str]]:
    scripted = ScriptedServer()
    config = uvicorn.Config(scripted.app(), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off")
    uv = uvicorn.Server(config)
    # Listening before uvicorn starts: a request sent meanwhile waits in the backlog.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    yield scripted, f"http://127.0.0.1:{port}/v1"
    uv.should_exit = True
    await task


def make_llm(base_url: str, *, audio_input: bool = True) -> OpenAICompatLLM:
    """The backend as a GPU deployment configures it; each test closes its own."""
    settings = OpenAISettings(base_url=base_url, model="fixie-ai/ultravox",
                              audio_input=audio_input)
    return OpenAICompatLLM(settings, SamplingDefaults(timeout_s=10))


def user_content(body: dict[str, Any]) -> Any:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def decoded(part: dict[str, Any]) -> tuple[np.ndarray[Any, Any], int, str]:
    """The samples, rate and subtype of an input_audio part's WAV."""
    assert part["type"] == "input_audio"
    assert part["input_audio"]["format"] == "wav"
    raw = base64.b64decode(part["input_audio"]["data"], validate=True)
    info = sf.info(io.BytesIO(raw))
    samples, rate = sf.read(io.BytesIO(raw), dtype="int16")
    assert info.channels == 1
    return samples, rate, info.subtype


async def hear(asr: ListeningASR | Any, audio: PCM) -> str:
    """One utterance through the (listening) ASR, pushed in 20 ms frames."""
    session = asr.session()
    for start in range(0, len(audio), FRAME_SAMPLES):
        session.push(audio[start:start + FRAME_SAMPLES])
    text: str = (await session.finalize()).text
    await session.aclose()
    return text


async def test_the_reply_request_carries_the_callers_utterance_as_16khz_wav(
        server: tuple[ScriptedServer, str]) -> None:
    scripted, url = server
    llm = make_llm(url)
    asr = listening_asr(FakeASR(["I'd like critical illness cover"]), llm, "call-1")
    audio = tone(1.2, 220)
    text = await hear(asr, audio)
    responder = LLMResponder(llm, "You sell insurance.", "Hello!", session="call-1")
    said = "".join([p async for p in responder.reply(text) if isinstance(p, str)])
    await llm.aclose()

    assert said == scripted.reply
    (body,) = scripted.bodies
    assert body["stream"] is True and body["model"] == "fixie-ai/ultravox"
    (part,) = user_content(body)
    samples, rate, subtype = decoded(part)
    assert rate == HOUSE_RATE and subtype == "PCM_16"
    np.testing.assert_array_equal(samples, audio)
    assert body["messages"][0] == {"role": "system", "content": "You sell insurance."}


async def test_earlier_turns_stay_text_and_only_the_latest_line_is_audio(
        server: tuple[ScriptedServer, str]) -> None:
    scripted, url = server
    llm = make_llm(url)
    asr = listening_asr(FakeASR(["I'm a nurse", "What does it cost?"]), llm, "call-1")
    responder = LLMResponder(llm, "You sell insurance.", "", session="call-1")
    first = await hear(asr, tone(0.8, 200))
    async for _ in responder.reply(first):
        pass
    responder.commit(first, scripted.reply, interrupted=False)
    second_audio = tone(0.6, 300)
    second = await hear(asr, second_audio)
    async for _ in responder.reply(second):
        pass
    await llm.aclose()

    body = scripted.bodies[-1]
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    assert users[0] == "I'm a nurse"
    samples, _, _ = decoded(users[1][0])
    np.testing.assert_array_equal(samples, second_audio)


async def test_a_line_joining_two_utterances_sends_both_in_order(
        server: tuple[ScriptedServer, str]) -> None:
    # The pipeline answers two lines at once when the caller spoke again before the
    # first reply was heard: the model hears both utterances, one after the other.
    scripted, url = server
    llm = make_llm(url)
    asr = listening_asr(FakeASR(["I'm a nurse.", "Night shifts."]), llm, "call-1")
    a, b = tone(0.5, 200), tone(0.4, 400)
    joined = " ".join([await hear(asr, a), await hear(asr, b)])
    await llm.complete([ChatMessage("user", joined)], session="call-1")
    await llm.aclose()
    samples, _, _ = decoded(user_content(scripted.bodies[0])[0])
    np.testing.assert_array_equal(samples, np.concatenate([a, b]))


async def test_a_line_the_caller_did_not_say_stays_text(
        server: tuple[ScriptedServer, str]) -> None:
    # A speculative warm-up on a partial transcript, and another call's session.
    scripted, url = server
    llm = make_llm(url)
    await hear(listening_asr(FakeASR(["Yes please."]), llm, "call-1"), tone(0.5, 200))
    await llm.complete([ChatMessage("user", "Yes")], session="call-1")
    await llm.complete([ChatMessage("user", "Yes please.")], session="call-2")
    await llm.aclose()
    assert [user_content(b) for b in scripted.bodies] == ["Yes", "Yes please."]


async def test_two_calls_with_the_same_words_each_send_their_own_audio(
        server: tuple[ScriptedServer, str]) -> None:
    scripted, url = server
    llm = make_llm(url)
    one, two = tone(0.5, 200), tone(0.5, 500)
    await hear(listening_asr(FakeASR(["Yes."]), llm, "call-1"), one)
    await hear(listening_asr(FakeASR(["Yes."]), llm, "call-2"), two)
    await llm.complete([ChatMessage("user", "Yes.")], session="call-2")
    await llm.complete([ChatMessage("user", "Yes.")], session="call-1")
    await llm.aclose()
    got = [decoded(user_content(b)[0])[0] for b in scripted.bodies]
    np.testing.assert_array_equal(got[0], two)
    np.testing.assert_array_equal(got[1], one)


async def test_without_audio_input_the_asr_is_unwrapped_and_requests_stay_text(
        server: tuple[ScriptedServer, str]) -> None:
    scripted, url = server
    llm = make_llm(url, audio_input=False)
    fake = FakeASR(["Tell me about travel insurance"])
    asr = listening_asr(fake, llm, "call-1")
    assert asr is fake
    text = await hear(asr, tone(0.5, 200))
    await llm.complete([ChatMessage("user", text)], session="call-1")
    await llm.aclose()
    assert user_content(scripted.bodies[0]) == "Tell me about travel insurance"


async def test_a_server_that_cannot_take_audio_is_a_clear_error(
        server: tuple[ScriptedServer, str]) -> None:
    scripted, url = server
    scripted.fail_with = (400, "this model does not support audio input")
    llm = make_llm(url)
    text = await hear(listening_asr(FakeASR(["Hello"]), llm, "call-1"), tone(0.3, 200))
    with pytest.raises(ModelRuntimeError, match=r"HTTP 400.*does not support audio"):
        await llm.complete([ChatMessage("user", text)], session="call-1")
    await llm.aclose()


async def test_a_voice_pipeline_turn_reaches_the_model_as_the_turns_audio(
        server: tuple[ScriptedServer, str]) -> None:
    """VAD → turn end → ASR final → agent → the audio model → spoken reply, with the
    pipeline's own pre-roll and frames: what a live call sends."""
    scripted, url = server
    llm = make_llm(url)
    clock = VirtualClock()
    fake = FakeASR(["How much is life cover?"], final_delay_s=0.05, sleep=clock.sleep)
    pipeline = VoicePipeline(
        vad=FakeVAD(window_samples=FRAME_SAMPLES), asr=listening_asr(fake, llm, "call-1"),
        tts=FakeTTS(sleep=clock.sleep, first_chunk_s=0.01, seconds_per_word=0.05,
                    chunk_s=0.05),
        responder=LLMResponder(llm, "You sell insurance.", "", session="call-1"),
        config=PipelineConfig(turn=TurnConfig(hangover_s=0.3, early_hangover_s=0.3),
                              listen=False),
        clock=clock)
    events: list[PipelineEvent] = []

    async def collect() -> None:
        async for e in pipeline.events():
            events.append(e)

    collector = asyncio.create_task(collect())
    await pipeline.start()
    speech = tone(1.0, 220)
    fed: list[PCM] = []
    for start in range(0, len(speech), FRAME_SAMPLES):
        frame = speech[start:start + FRAME_SAMPLES]
        fed.append(frame)
        pipeline.push_audio(frame)
        await clock.advance(FRAME_S)
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    for _ in range(2000):  # HTTP is real I/O: let it run between virtual frames
        if any(isinstance(e, TurnCompleted) for e in events):
            break
        pipeline.push_audio(silence)
        await clock.advance(FRAME_S)
        await asyncio.sleep(0.002)
    await pipeline.aclose()
    await collector
    await llm.aclose()

    (done,) = [e for e in events if isinstance(e, TurnCompleted)]
    assert done.user_text == "How much is life cover?"
    assert done.agent_text == scripted.reply
    replies = [b for b in scripted.bodies if b["max_tokens"] > 1]
    (part,) = user_content(replies[0])
    samples, rate, _ = decoded(part)
    assert rate == HOUSE_RATE
    # The utterance the ASR heard: all the speech, then the silence up to the turn end.
    np.testing.assert_array_equal(samples[:len(speech)], speech)
    assert not samples[len(speech):].any()


def test_audio_input_is_a_setting_of_the_openai_backend(tmp_path: Path) -> None:
    path = tmp_path / "llm.toml"
    path.write_text('backend = "openai"\n[openai]\nbase_url = "http://gpu:8000/v1"\n'
                    'model = "fixie-ai/ultravox-v0_5-llama-3_2-1b"\naudio_input = true\n')
    settings = load_toml_config(path, LLMSettings, "llm settings")
    assert settings.openai.audio_input is True
    assert OpenAISettings().audio_input is False


def test_the_ear_keeps_a_bounded_number_of_calls_and_clips() -> None:
    ear = CallerAudio()
    for i in range(100):
        ear.heard(f"call-{i}", "hello", tone(0.01, 200))
    assert ear.clip_for("call-0", "hello") is None
    assert ear.clip_for("call-99", "hello") is not None
    for i in range(10):
        ear.heard("call-99", f"line {i}", tone(0.01, 200))
    assert ear.clip_for("call-99", "line 0") is None
    assert ear.clip_for("call-99", "line 9") is not None
