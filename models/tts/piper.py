"""Piper neural TTS (piper-tts, GPL-3.0) with an ONNX voice; one chunk per sentence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.audio import AudioChunk
from models.config import PiperSettings
from models.errors import MissingExtraError, ModelNotFoundError
from models.tts.base import TTS, TTSCapabilities


class PiperTTS(TTS):
    name = "piper"
    capabilities: ClassVar[TTSCapabilities] = TTSCapabilities(streaming=True)

    def __init__(self, voice_path: Path, settings: PiperSettings) -> None:
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as exc:
            raise MissingExtraError("piper", "embedded", "piper") from exc
        config = Path(f"{voice_path}.json")
        for path in (voice_path, config):
            if not path.is_file():
                raise ModelNotFoundError(f"Piper voice file not found at {path}")
        self._voice: Any = PiperVoice.load(
            voice_path, config_path=config, use_cuda=settings.use_cuda
        )
        self._config: Any = SynthesisConfig(length_scale=settings.length_scale)
        self.sample_rate = int(self._voice.config.sample_rate)

    async def stream(self, text: str) -> AsyncIterator[AudioChunk]:
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        sentences = iter(self._voice.synthesize(text, self._config))
        # Each sentence is synthesised in a worker thread; closing this iterator between
        # sentences stops the rest (barge-in).
        while (chunk := await loop.run_in_executor(None, next, sentences, None)) is not None:
            pcm = np.asarray(chunk.audio_int16_array, dtype=np.int16)
            yield AudioChunk(pcm, int(chunk.sample_rate))
