"""Formant synthesisers run as Debian command-line programs: espeak-ng and flite.

Near-zero latency and no weights; for tests and as a fallback voice.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import ClassVar

import numpy as np

from models.audio import AudioChunk
from models.config import EspeakSettings, FliteSettings
from models.errors import ModelNotFoundError, ModelRuntimeError
from models.tts.base import TTS, TTSCapabilities


def parse_wav(data: bytes) -> AudioChunk:
    """16-bit mono RIFF/WAVE bytes → chunk. Tolerates the unknown sizes of piped output."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ModelRuntimeError(f"not a WAV stream ({len(data)} bytes)")
    pos = 12
    rate = 0
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if tag == b"fmt ":
            channels, rate, _, _, bits = struct.unpack("<HIIHH", data[pos + 10 : pos + 24])
            if channels != 1 or bits != 16:
                raise ModelRuntimeError(f"expected 16-bit mono WAV, got {channels} ch {bits} bit")
        elif tag == b"data":
            if not rate:
                raise ModelRuntimeError("WAV stream has its data before its format chunk")
            body = data[pos + 8 :]
            body = body[: len(body) - len(body) % 2]
            return AudioChunk(np.frombuffer(body, dtype="<i2").astype(np.int16), rate)
        pos += 8 + size + (size & 1)
    raise ModelRuntimeError("WAV stream has no data chunk")


class _CommandTTS(TTS):
    capabilities: ClassVar[TTSCapabilities] = TTSCapabilities(streaming=False)
    binary: ClassVar[str]
    package: ClassVar[str]

    def __init__(self) -> None:
        path = shutil.which(self.binary)
        if path is None:
            raise ModelNotFoundError(
                f"{self.binary} not found on PATH; install it: apt-get install {self.package}"
            )
        self._path = path

    @abstractmethod
    def _args(self, text: str) -> list[str]:
        """Command-line arguments that write a WAV of ``text`` to stdout."""

    async def stream(self, text: str) -> AsyncIterator[AudioChunk]:
        if not text.strip():
            return
        proc = await asyncio.create_subprocess_exec(
            self._path,
            *self._args(text),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise ModelRuntimeError(f"{self.binary} exited {proc.returncode}: {err.decode()[:200]}")
        yield parse_wav(out)


class EspeakTTS(_CommandTTS):
    name = "espeak-ng"
    binary = "espeak-ng"
    package = "espeak-ng"
    sample_rate = 22050

    def __init__(self, settings: EspeakSettings) -> None:
        super().__init__()
        self.settings = settings

    def _args(self, text: str) -> list[str]:
        s = self.settings
        return ["-v", s.voice, "-s", str(s.words_per_minute), "--stdout", "--", text]


class FliteTTS(_CommandTTS):
    name = "flite"
    binary = "flite"
    package = "flite"
    sample_rate = 16000

    def __init__(self, settings: FliteSettings) -> None:
        super().__init__()
        self.settings = settings

    def _args(self, text: str) -> list[str]:
        return ["-voice", self.settings.voice, "-t", text, "-o", "/dev/stdout"]
