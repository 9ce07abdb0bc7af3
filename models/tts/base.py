"""The TTS interface: text in, an async stream of audio chunks out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from models.audio import AudioChunk


@dataclass(frozen=True, slots=True)
class TTSCapabilities:
    streaming: bool
    """Audio arrives in several chunks per request (not only once it is all done)."""


class TTS(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[TTSCapabilities]
    sample_rate: int

    @abstractmethod
    def stream(self, text: str) -> AsyncIterator[AudioChunk]:
        """Synthesize ``text``; closing the iterator early stops synthesis (barge-in)."""

    async def synthesize(self, text: str) -> AudioChunk:
        """All audio of ``text`` as one chunk."""
        chunks = [c async for c in self.stream(text)]
        if not chunks:
            return AudioChunk(np.zeros(0, dtype=np.int16), self.sample_rate)
        rate = chunks[0].sample_rate
        return AudioChunk(np.concatenate([c.to_rate(rate).pcm for c in chunks]), rate)

    async def aclose(self) -> None:
        """Release the model."""
        return None
