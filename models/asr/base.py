"""The ASR interface: a streaming session fed 16 kHz PCM, with partials and a final.

A session decodes in the background while audio is still arriving, so that by the time
the caller stops talking most of the work is done and ``finalize`` returns quickly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar

import numpy as np

from models.audio import HOUSE_RATE, PCM


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    words: tuple[Word, ...]
    is_final: bool
    audio_s: float
    """How much audio (from the session start) this hypothesis covers."""
    decode_s: float
    """Wall time of the decode that produced it."""


@dataclass(frozen=True, slots=True)
class ASRCapabilities:
    partials: bool
    word_timings: bool


class ASRSession(ABC):
    """One utterance (or one call side): push frames, read partials, finalize once."""

    sample_rate: ClassVar[int] = HOUSE_RATE

    @abstractmethod
    def push(self, pcm: PCM) -> None:
        """Append 16 kHz mono int16 audio; never blocks on decoding."""

    @abstractmethod
    def partial(self) -> Transcript | None:
        """The latest hypothesis decoded so far (None before the first decode)."""

    def prefetch(self) -> None:
        """The speaker paused: decode what has arrived now, so ``finalize`` can reuse it."""
        return None

    @abstractmethod
    async def finalize(self) -> Transcript:
        """Final transcript of everything pushed; the session accepts no more audio."""

    async def aclose(self) -> None:
        """Stop background decoding; idempotent."""
        return None

    async def __aenter__(self) -> ASRSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class ASR(ABC):
    """A speech recogniser. ``session()`` for streaming, ``transcribe`` for whole clips."""

    name: ClassVar[str]
    capabilities: ClassVar[ASRCapabilities]

    @abstractmethod
    def session(self) -> ASRSession:
        """Start a streaming session (call inside a running event loop)."""

    async def transcribe(self, pcm: PCM) -> Transcript:
        """Transcribe a whole 16 kHz clip."""
        async with self.session() as s:
            s.push(np.asarray(pcm, dtype=np.int16))
            return await s.finalize()

    async def aclose(self) -> None:
        """Release the model."""
        return None
