"""FakeTTS: a real TTS subclass producing tones of scripted length and timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ClassVar

import numpy as np

from models.audio import HOUSE_RATE, AudioChunk
from models.tts.base import TTS, TTSCapabilities

Sleep = Callable[[float], Awaitable[None]]


class FakeTTS(TTS):
    """Each word becomes ``seconds_per_word`` of a 440 Hz tone, delivered in chunks of
    ``chunk_s`` after ``first_chunk_s``; ``texts`` records every request."""

    name = "fake"
    capabilities: ClassVar[TTSCapabilities] = TTSCapabilities(streaming=True)

    def __init__(
        self,
        *,
        sample_rate: int = HOUSE_RATE,
        seconds_per_word: float = 0.3,
        first_chunk_s: float = 0.0,
        chunk_s: float = 0.2,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sample_rate = sample_rate
        self.seconds_per_word = seconds_per_word
        self.first_chunk_s = first_chunk_s
        self.chunk_s = chunk_s
        self._sleep = sleep
        self.texts: list[str] = []

    async def stream(self, text: str) -> AsyncIterator[AudioChunk]:
        self.texts.append(text)
        n = int(len(text.split()) * self.seconds_per_word * self.sample_rate)
        t = np.arange(n) / self.sample_rate
        pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        step = max(1, int(self.chunk_s * self.sample_rate))
        await self._sleep(self.first_chunk_s)
        for i in range(0, n, step):
            yield AudioChunk(pcm[i : i + step], self.sample_rate)
