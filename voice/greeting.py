"""Greetings synthesized once per agent program and voice, so a call speaks at once."""

from __future__ import annotations

import asyncio

import numpy as np

from models.audio import HOUSE_RATE, PCM
from models.tts.base import TTS
from voice.chunker import ChunkerConfig, ClauseChunker

Pieces = list[tuple[str, PCM]]

MAX_GREETING_S = 3.0
"""A greeting longer than this keeps the caller waiting to speak (a warning at start)."""


def greeting_seconds(pieces: Pieces) -> float:
    return sum(len(pcm) for _, pcm in pieces) / HOUSE_RATE


class GreetingCache:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], Pieces] = {}
        self._lock = asyncio.Lock()

    async def get(self, program_key: str, text: str, tts: TTS) -> Pieces:
        """The greeting as (text, 16 kHz PCM) pieces, synthesizing it on first use."""
        key = (program_key, type(tts).__name__ + ":" + tts.name, text)
        async with self._lock:
            if key not in self._cache:
                # Synthesized ahead of time: no short first piece needed, whole clauses
                # sound better.
                chunker = ClauseChunker(ChunkerConfig(first_max_words=40))
                texts = chunker.push(text + " ")
                if (rest := chunker.flush()) is not None:
                    texts.append(rest)
                pieces = []
                for piece in texts:
                    audio = await tts.synthesize(piece)
                    pieces.append((piece, audio.to_rate(HOUSE_RATE).pcm))
                if pieces:  # the caller may answer as soon as the words end
                    last_text, last_pcm = pieces[-1]
                    pieces[-1] = (last_text, _trim_tail(last_pcm))
                self._cache[key] = pieces
            return self._cache[key]

    async def warm(self, program_key: str, text: str, tts: TTS) -> float:
        """Synthesize ahead of the first call; returns the greeting's length in seconds."""
        return greeting_seconds(await self.get(program_key, text, tts))


def _trim_tail(pcm: PCM, keep_s: float = 0.08, floor: int = 300) -> PCM:
    """``pcm`` without the silence TTS leaves after the last word (``keep_s`` of it kept)."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > floor)
    if not len(loud):
        return pcm
    return pcm[: min(len(pcm), int(loud[-1]) + 1 + int(keep_s * HOUSE_RATE))]
