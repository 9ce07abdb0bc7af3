"""Coqui XTTS v2 (extra ``[gpu]``): multilingual neural TTS with voice cloning, 24 kHz."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import numpy as np

from models.audio import AudioChunk, float_to_pcm
from models.config import XTTSSettings
from models.errors import MissingExtraError, ModelNotFoundError
from models.tts.base import TTS, TTSCapabilities

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class XTTS(TTS):
    name = "xtts"
    capabilities: ClassVar[TTSCapabilities] = TTSCapabilities(streaming=True)
    sample_rate = 24000

    def __init__(self, settings: XTTSSettings) -> None:
        try:
            from TTS.api import TTS as CoquiTTS
        except ImportError as exc:
            raise MissingExtraError("xtts", "gpu", "TTS (coqui-tts)") from exc
        if settings.speaker_wav is None:
            raise ModelNotFoundError("xtts needs tts.xtts.speaker_wav: a reference voice WAV")
        self.settings = settings
        self._tts: Any = CoquiTTS(settings.model).to(settings.device)

    def _speak(self, sentence: str) -> Any:
        s = self.settings
        return self._tts.tts(text=sentence, speaker_wav=s.speaker_wav, language=s.language)

    async def stream(self, text: str) -> AsyncIterator[AudioChunk]:
        loop = asyncio.get_running_loop()
        for sentence in filter(None, (s.strip() for s in _SENTENCE.split(text))):
            wav = await loop.run_in_executor(None, self._speak, sentence)
            yield AudioChunk(float_to_pcm(np.asarray(wav, dtype=np.float32)), self.sample_rate)
