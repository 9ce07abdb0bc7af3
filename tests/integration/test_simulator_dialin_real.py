"""Dial-in against the live server: a programmatic caller speaks with espeak-ng over the
browser protocol and Twilio Media Streams, hears the agent (Qwen, piper) through
whisper, and the server's call store holds the same call."""

from __future__ import annotations

import json
import time

import pytest

from agent.domain import load_domain
from models.asr import ASR
from models.tts.cli_engines import EspeakTTS
from server.hub import Hub
from server.settings import Settings
from simulator.audio import LineSettings
from simulator.dialin import DialIn
from simulator.persona import PersonaSampler, load_spec
from simulator.runner import run_dialogue
from simulator.users import ProgrammaticUser, load_world
from tests.integration.conftest import TOKEN
from tests.integration.server_harness import wait_idle
from voice.wer import line_wer

pytestmark = pytest.mark.real
SPOKEN = load_world().model_copy(update={"asr_error_rate": 0.0})
"""Callers over a real line: the recognizer makes the errors (as the batch does in audio)."""


async def test_browser_dial_in_hears_the_live_agent_and_the_server_records_the_call(
    server: tuple[str, Hub], asr: ASR, settings: Settings
) -> None:
    address, hub = server
    await wait_idle(hub)
    persona = PersonaSampler(load_spec(), 0).one(0)
    user = ProgrammaticUser(persona, SPOKEN, load_domain("insurance"), seed=0)
    started = time.monotonic()
    async with DialIn(f"ws://{address}/ws/call", protocol="browser",
                      caller=persona.caller_profile(), user_tts=EspeakTTS(settings.tts.espeak_ng),
                      asr=asr, token=TOKEN, seed=0) as call:
        dialogue = await run_dialogue(call, user, max_utterances=5)
    elapsed = time.monotonic() - started
    crossings = dialogue.metadata["channel"]
    print(f"\nbrowser dial-in: {elapsed:.1f} s\n{json.dumps(crossings, indent=1)}")
    greeting = crossings[0]
    assert greeting["speaker"] == "agent" and greeting["heard"].strip()
    assert greeting["wer"] <= 0.3  # piper heard by whisper, over the wire
    users = [c for c in crossings if c["speaker"] == "user"]
    assert len(users) >= 2
    assert all(c["heard"] for c in users)  # the server's final transcript of each line
    assert sum(c["wer"] for c in users) / len(users) <= 0.5  # espeak heard by whisper
    replies = [c for c in crossings[1:] if c["speaker"] == "agent"]
    assert len(replies) == len(users) and all(c["heard"].strip() for c in replies)
    assert all(c["voice_to_voice_s"] and c["voice_to_voice_s"] > 0 for c in replies)
    assert [t.speaker for t in dialogue.turns][:3] == ["agent", "user", "agent"]

    call_id = dialogue.metadata["call_id"]
    assert call_id and dialogue.metadata["protocol"] == "browser"
    assert dialogue.metadata["end_reason"] in ("caller", "agent")
    record = await hub.store.get_call(call_id)
    assert record is not None and record.transport == "browser"
    assert record.caller.occupation == persona.occupation
    assert record.end_reason == dialogue.metadata["end_reason"]
    stored = [t for t in record.turns if t.user_text]
    assert len(stored) >= len(users) - 1 >= 1  # a line split by a pause may merge
    assert record.turns[0].agent_text == greeting["said"]
    said = " ".join(c["said"] for c in users)
    assert line_wer(said, " ".join(t.user_text for t in stored)) <= 0.5


async def test_twilio_dial_in_hears_the_live_agent_over_mulaw(
    server: tuple[str, Hub], asr: ASR, settings: Settings
) -> None:
    address, hub = server
    await wait_idle(hub)
    before = {c.id for c in await hub.store.list_calls(limit=100)}
    persona = PersonaSampler(load_spec(), 0).one(1)
    user = ProgrammaticUser(persona, SPOKEN, load_domain("insurance"), seed=0)
    started = time.monotonic()
    async with DialIn(f"ws://{address}/twilio/stream", protocol="twilio",
                      caller=persona.caller_profile(), user_tts=EspeakTTS(settings.tts.espeak_ng),
                      asr=asr, line=LineSettings(snr_db=30), seed=0) as call:
        dialogue = await run_dialogue(call, user, max_utterances=3)
    elapsed = time.monotonic() - started
    crossings = dialogue.metadata["channel"]
    print(f"\ntwilio dial-in: {elapsed:.1f} s\n{json.dumps(crossings, indent=1)}")
    assert [c["speaker"] for c in crossings] == ["agent", "user", "agent"]
    greeting, _, reply = crossings
    assert greeting["heard"].strip() and reply["heard"].strip()
    assert reply["reply_gap_s"] > 0
    assert dialogue.metadata["protocol"] == "twilio"
    assert dialogue.metadata["close_code"] == 1000
    (new,) = [c for c in await hub.store.list_calls(limit=100) if c.id not in before]
    record = await hub.store.get_call(new.id)
    assert record is not None and record.transport == "twilio"
    assert record.caller.occupation == persona.occupation
    assert record.end_reason == "caller" and len(record.turns) >= 2
    # Greeting over μ-law at 8 kHz, heard by whisper: close to what the agent said.
    assert line_wer(record.turns[0].agent_text, greeting["heard"]) <= 0.35
