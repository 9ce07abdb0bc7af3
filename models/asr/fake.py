"""FakeASR: a real ASR subclass returning scripted transcripts with scripted delays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import ClassVar

from models.asr.base import ASR, ASRCapabilities, ASRSession, Transcript
from models.audio import PCM

Sleep = Callable[[float], Awaitable[None]]


class FakeASRSession(ASRSession):
    def __init__(self, text: str, final_delay_s: float, sleep: Sleep) -> None:
        self._text = text
        self._delay = final_delay_s
        self._sleep = sleep
        self.samples = 0
        self.finalized = False

    def push(self, pcm: PCM) -> None:
        self.samples += len(pcm)

    def partial(self) -> Transcript | None:
        if not self.samples:
            return None
        # Reveal words in proportion to audio heard so far (about 3 words per second).
        words = self._text.split()
        n = min(len(words), int(self.samples / self.sample_rate * 3))
        return Transcript(" ".join(words[:n]), (), False, self.samples / self.sample_rate, 0.0)

    async def finalize(self) -> Transcript:
        self.finalized = True
        await self._sleep(self._delay)
        return Transcript(self._text, (), True, self.samples / self.sample_rate, self._delay)


class FakeASR(ASR):
    """Each new session transcribes to the next scripted text (last one repeats)."""

    name = "fake"
    capabilities: ClassVar[ASRCapabilities] = ASRCapabilities(partials=True, word_timings=False)

    def __init__(
        self, texts: Iterable[str], *, final_delay_s: float = 0.0, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._texts = list(texts) or [""]
        self._delay = final_delay_s
        self._sleep = sleep
        self.sessions: list[FakeASRSession] = []

    def session(self) -> FakeASRSession:
        i = min(len(self.sessions), len(self._texts) - 1)
        s = FakeASRSession(self._texts[i], self._delay, self._sleep)
        self.sessions.append(s)
        return s
