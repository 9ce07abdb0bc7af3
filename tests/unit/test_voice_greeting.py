"""GreetingCache: a greeting is synthesized once per program, voice and text."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from models.audio import HOUSE_RATE
from models.tts.fake import FakeTTS
from voice.greeting import GreetingCache

GREETING = "Hi, this is Sam from Acme Insurance. How are you today?"


async def test_greeting_is_cut_into_chunker_pieces() -> None:
    tts = FakeTTS()
    pieces = await GreetingCache().get("program-a", GREETING, tts)
    assert [text for text, _ in pieces] == [
        "Hi, this is Sam from Acme Insurance.",
        "How are you today?",
    ]
    assert tts.texts == ["Hi, this is Sam from Acme Insurance.", "How are you today?"]


async def test_second_get_with_the_same_key_does_not_call_tts_again() -> None:
    tts = FakeTTS()
    cache = GreetingCache()
    first = await cache.get("program-a", GREETING, tts)
    calls = list(tts.texts)
    second = await cache.get("program-a", GREETING, tts)
    assert tts.texts == calls
    assert second is first


async def test_warm_fills_the_cache_for_a_later_get() -> None:
    tts = FakeTTS()
    cache = GreetingCache()
    await cache.warm("program-a", GREETING, tts)
    calls = len(tts.texts)
    assert calls == 2
    await cache.get("program-a", GREETING, tts)
    assert len(tts.texts) == calls


async def test_a_different_program_key_synthesizes_again() -> None:
    tts = FakeTTS()
    cache = GreetingCache()
    await cache.get("program-a", GREETING, tts)
    await cache.get("program-b", GREETING, tts)
    assert len(tts.texts) == 4


async def test_a_different_text_synthesizes_again() -> None:
    tts = FakeTTS()
    cache = GreetingCache()
    await cache.get("program-a", GREETING, tts)
    await cache.get("program-a", "Hello, this is Sam again.", tts)
    assert tts.texts[2:] == ["Hello, this is Sam again."]


async def test_pieces_are_resampled_to_16_khz_pcm() -> None:
    tts = FakeTTS(sample_rate=22050, seconds_per_word=0.3)
    pieces = await GreetingCache().get("program-a", GREETING, tts)
    for text, pcm in pieces:
        assert pcm.dtype == np.int16
        duration = len(text.split()) * 0.3
        assert len(pcm) == pytest.approx(duration * HOUSE_RATE, abs=2)
        assert np.abs(pcm).max() > 1000  # real audio, not silence


async def test_a_single_short_greeting_is_one_piece() -> None:
    tts = FakeTTS()
    pieces = await GreetingCache().get("program-a", "Hello there.", tts)
    assert [text for text, _ in pieces] == ["Hello there."]
    assert len(pieces[0][1]) == pytest.approx(2 * 0.3 * HOUSE_RATE, abs=1)


async def test_concurrent_gets_for_one_key_synthesize_once() -> None:
    tts = FakeTTS()
    cache = GreetingCache()
    results = await asyncio.gather(*(cache.get("program-a", GREETING, tts) for _ in range(3)))
    assert len(tts.texts) == 2
    assert all(r is results[0] for r in results)
