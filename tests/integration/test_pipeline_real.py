"""The whole voice pipeline with the embedded models, fed real human speech in real time."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from models.asr import ASR
from models.audio import PCM
from models.llm import LLM, Sampling
from models.tts import TTS
from models.vad import VAD
from voice.audio import FRAME_SAMPLES
from voice.events import AgentAudio, PipelineEvent, TurnCompleted, UserTranscript
from voice.pipeline import VoicePipeline
from voice.responder import LLMResponder
from voice.wer import wer

pytestmark = pytest.mark.real

SYSTEM = (
    "You are Ava, an AI assistant selling insurance by phone for Acme Insurance. "
    "Reply in one or two short spoken sentences, without lists or emojis."
)
GREETING = "Hello, this is Ava, an AI assistant from Acme Insurance."


async def _feed_real_time(pipeline: VoicePipeline, pcm: PCM, start: float) -> float:
    """Push ``pcm`` in 20 ms frames on a real-time schedule; return the next due time."""
    due = start
    for i in range(0, len(pcm), FRAME_SAMPLES):
        pipeline.push_audio(pcm[i : i + FRAME_SAMPLES])
        due += FRAME_SAMPLES / 16000
        await asyncio.sleep(max(0.0, due - time.monotonic()))
    return due


async def test_real_speech_in_gives_a_transcript_a_reply_and_agent_audio(
    vad: VAD, asr: ASR, piper: TTS, qwen: LLM, librivox: list[tuple[PCM, str]]
) -> None:
    responder = LLMResponder(
        qwen, SYSTEM, GREETING, session="pipeline-real", sampling=Sampling(max_tokens=60)
    )
    pipeline = VoicePipeline(vad=vad, asr=asr, tts=piper, responder=responder)
    events: list[PipelineEvent] = []

    async def collect() -> None:
        async for e in pipeline.events():
            events.append(e)

    collector = asyncio.create_task(collect())
    await pipeline.start()
    pcm, reference = librivox[1]  # "he was not an ill disposed young man"
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    due = time.monotonic()

    async def silence_until_turn(n: int) -> None:
        nonlocal due
        deadline = time.monotonic() + 30
        while not any(isinstance(e, TurnCompleted) and e.turn == n for e in events):
            assert time.monotonic() < deadline, f"turn {n} did not complete within 30 s"
            due = await _feed_real_time(pipeline, silence, due)

    await silence_until_turn(0)  # let the greeting play out
    due = await _feed_real_time(pipeline, pcm, due)
    await silence_until_turn(1)
    await pipeline.aclose()
    await collector

    greeting, turn = (e for e in events if isinstance(e, TurnCompleted))
    assert greeting.turn == 0 and greeting.agent_text == GREETING
    (final,) = (e for e in events if isinstance(e, UserTranscript) and e.final)
    assert wer([reference], [final.text]) <= 0.3
    assert turn.user_text == final.text
    assert turn.agent_text and not turn.interrupted
    t = turn.timings
    stages = [
        t.speech_start, t.speech_end, t.turn_decided, t.asr_final, t.llm_first_token,
        t.first_clause_ready, t.tts_first_audio, t.first_audio_out,
    ]
    assert None not in stages
    assert stages == sorted(stages)  # type: ignore[type-var]
    print(f"user: {final.text!r}\nagent: {turn.agent_text!r}\ntimings: {t.as_dict()}")

    # The agent's audio is real speech saying the reply: transcribe it back.
    frames = [e.pcm for e in events if isinstance(e, AgentAudio)]
    audio = np.concatenate(frames)
    greeting_audio = await piper.synthesize(GREETING)
    reply_audio = audio[int(greeting_audio.duration_s * 16000) :]
    heard = (await asr.transcribe(reply_audio)).text
    assert wer([turn.agent_text], [heard]) <= 0.35, (turn.agent_text, heard)
