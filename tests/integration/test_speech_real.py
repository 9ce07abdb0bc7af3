"""Real speech models: piper, faster-whisper (tiny.en), silero VAD."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from models.asr import ASR
from models.audio import HOUSE_RATE, PCM
from models.tts import TTS
from models.vad import VAD
from voice.wer import wer

pytestmark = pytest.mark.real

SALES_SENTENCES = [
    "Good morning, I am calling about affordable term life insurance for your family.",
    "This plan pays a lump sum if you are diagnosed with a critical illness.",
    "Would you like me to explain what the policy covers?",
    "The monthly premium depends on your age and your health.",
    "There is a waiting period before the cover starts.",
    "Pre-existing conditions are not covered in the first year.",
    "Income protection replaces part of your salary if you cannot work.",
    "Travel insurance covers medical costs and cancelled flights.",
    "Thank you for your time, and have a wonderful day.",
    "Can I send you a written quote by email?",
]


async def test_piper_to_whisper_round_trip_wer_is_at_most_ten_percent(piper: TTS, asr: ASR) -> None:
    hyps = []
    for sentence in SALES_SENTENCES:
        audio = (await piper.synthesize(sentence)).to_rate(HOUSE_RATE)
        assert audio.duration_s > 1.0
        hyps.append((await asr.transcribe(audio.pcm)).text)
    score = wer(SALES_SENTENCES, hyps)
    print(f"piper->whisper WER {score:.3f}: {hyps}")
    assert score <= 0.10


async def test_whisper_on_real_human_speech_wer_is_at_most_fifteen_percent(
    asr: ASR, librivox: list[tuple[PCM, str]]
) -> None:
    hyps = [(await asr.transcribe(pcm)).text for pcm, _ in librivox]
    score = wer([ref for _, ref in librivox], hyps)
    print(f"librivox WER {score:.3f}: {hyps}")
    assert score <= 0.15


async def test_whisper_gives_word_timings_inside_the_clip(
    asr: ASR, librivox: list[tuple[PCM, str]]
) -> None:
    pcm, _ = librivox[1]
    tr = await asr.transcribe(pcm)
    assert tr.is_final and tr.words
    duration = len(pcm) / HOUSE_RATE
    assert all(0 <= w.start_s <= w.end_s <= duration + 0.1 for w in tr.words)
    assert [w.start_s for w in tr.words] == sorted(w.start_s for w in tr.words)


async def test_streaming_session_decodes_while_audio_is_still_arriving(
    asr: ASR, librivox: list[tuple[PCM, str]]
) -> None:
    pcm, ref = librivox[0]  # 7.1 s
    frame = HOUSE_RATE // 50
    partials = []
    async with asr.session() as session:
        for i in range(0, len(pcm), frame):
            session.push(pcm[i : i + frame])
            await asyncio.sleep(0.02)  # real-time pace, as a caller speaks
            p = session.partial()
            if p is not None and (not partials or p.text != partials[-1]):
                partials.append(p.text)
        final = await session.finalize()
    assert len(partials) >= 3, partials  # several hypotheses before the end of speech
    assert partials[0] != final.text
    assert final.is_final
    assert wer([ref], [final.text]) <= 0.15


async def test_push_after_finalize_is_an_error(asr: ASR) -> None:
    from models.errors import ModelRuntimeError

    async with asr.session() as session:
        session.push(np.zeros(1600, dtype=np.int16))
        await session.finalize()
        with pytest.raises(ModelRuntimeError, match="after finalize"):
            session.push(np.zeros(1600, dtype=np.int16))


def _speech_share(vad: VAD, pcm: PCM) -> float:
    probs = np.array(vad.stream().push(pcm))
    return float((probs >= 0.5).mean())


def test_silero_separates_speech_from_silence_and_noise(
    vad: VAD, librivox: list[tuple[PCM, str]]
) -> None:
    rng = np.random.default_rng(7)
    silence = np.zeros(2 * HOUSE_RATE, dtype=np.int16)
    white = rng.normal(0, 3000, 3 * HOUSE_RATE).astype(np.int16)
    brown = np.cumsum(rng.normal(0, 1, 3 * HOUSE_RATE))
    brown = ((brown - brown.mean()) / np.abs(brown - brown.mean()).max() * 8000).astype(np.int16)
    hum = (np.sin(2 * np.pi * 50 * np.arange(3 * HOUSE_RATE) / HOUSE_RATE) * 6000).astype(np.int16)
    assert _speech_share(vad, silence) == 0.0
    for noise in (white, brown, hum):
        assert _speech_share(vad, noise) < 0.05
    for pcm, _ in librivox:
        assert _speech_share(vad, pcm) > 0.6


def test_silero_finds_where_speech_starts_after_silence(
    vad: VAD, librivox: list[tuple[PCM, str]]
) -> None:
    pcm, _ = librivox[1]
    stream = vad.stream()
    lead = np.zeros(HOUSE_RATE, dtype=np.int16)
    probs = stream.push(np.concatenate([lead, pcm]))
    first = next(i for i, p in enumerate(probs) if p >= 0.5)
    onset_s = first * stream.window_s
    assert 0.9 <= onset_s <= 1.6

