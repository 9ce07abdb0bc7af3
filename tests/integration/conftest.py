"""Real embedded models, loaded once per test session."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.asr import ASR
from models.audio import PCM
from models.llm import LLM
from models.registry import build_asr, build_llm, build_tts, build_vad
from models.tts import TTS
from models.vad import VAD
from server.settings import Settings, load

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load(None)


@pytest.fixture(scope="session")
def librivox() -> list[tuple[PCM, str]]:
    """Real human speech (LibriVox, Debian pocketsphinx-testdata) with transcripts."""
    if not LIBRIVOX.is_dir():
        pytest.fail(f"{LIBRIVOX} missing: apt-get install pocketsphinx-testdata (make setup)")
    clips = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        assert m, line
        pcm, rate = sf.read(LIBRIVOX / f"{m.group(2)}.wav", dtype="int16")
        assert rate == 16000
        clips.append((np.asarray(pcm, dtype=np.int16), m.group(1).strip()))
    return clips


@pytest.fixture(scope="session")
def asr(settings: Settings) -> Iterator[ASR]:
    model = build_asr(settings.asr, settings.cache_dir)
    yield model
    asyncio.run(model.aclose())


@pytest.fixture(scope="session")
def piper(settings: Settings) -> TTS:
    return build_tts(settings.tts, settings.cache_dir)


@pytest.fixture(scope="session")
def vad(settings: Settings) -> VAD:
    return build_vad(settings.vad, settings.cache_dir)


@pytest.fixture(scope="session")
def qwen(settings: Settings) -> Iterator[LLM]:
    """The default embedded LLM (Qwen2.5-Coder-1.5B-Instruct Q4_K_M)."""
    model = build_llm(settings.llm, settings.cache_dir)
    yield model
    asyncio.run(model.aclose())
