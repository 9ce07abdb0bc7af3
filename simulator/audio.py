"""Audio mode: lines cross a synthetic phone call.

The user's line is spoken by a TTS voice different from the agent's, optionally passed
through a telephone line (8 kHz, 300-3400 Hz band, μ-law, noise at a given SNR), and
transcribed by the ASR the agent would use; the agent's line is spoken by the agent's
voice, crosses the same line, and is transcribed for the user model. Each crossing
records what was said, what was heard, and its word error rate.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pydantic import Field
from scipy.signal import butter, sosfilt

from models.asr.base import ASR
from models.audio import HOUSE_RATE, PCM, pcm_to_float, resample
from models.config import StrictModel
from models.tts.base import TTS
from simulator.runner import Heard
from voice.audio import ulaw_decode, ulaw_encode
from voice.wer import line_wer

TELEPHONE_RATE = 8000


class LineSettings(StrictModel):
    """The telephone line between the synthetic caller and the agent."""

    telephone: bool = True
    """Band-limit to 300-3400 Hz at 8 kHz with μ-law, as a phone network does."""
    snr_db: float | None = Field(30.0, ge=-10, le=80)
    """White noise at this signal-to-noise ratio; None for none."""


class TelephoneLine:
    """Deterministic (seeded) line degradation of 16 kHz PCM."""

    def __init__(self, settings: LineSettings, seed: int | str = 0) -> None:
        self.settings = settings
        self._rng = np.random.default_rng(zlib.crc32(str(seed).encode()))
        self._band = butter(4, [300, 3400], btype="bandpass", fs=TELEPHONE_RATE, output="sos")

    def carry(self, pcm: PCM) -> PCM:
        if len(pcm) == 0:
            return pcm
        out = pcm
        if self.settings.telephone:
            narrow = resample(out, HOUSE_RATE, TELEPHONE_RATE).astype(np.float64)
            narrow = np.clip(sosfilt(self._band, narrow), -32768, 32767).astype(np.int16)
            out = resample(ulaw_decode(ulaw_encode(narrow)), TELEPHONE_RATE, HOUSE_RATE)
        if self.settings.snr_db is not None:
            x = pcm_to_float(out).astype(np.float64)
            power = float(np.mean(x**2)) or 1e-12
            noise = self._rng.normal(0, np.sqrt(power / 10 ** (self.settings.snr_db / 10)), len(x))
            out = np.clip(np.rint((x + noise) * 32767), -32768, 32767).astype(np.int16)
        return out


def kept_audio_dir(store: Path) -> Path:
    """Where ``[audio] keep`` writes a batch's caller audio: beside its store."""
    return store.parent / f"{store.stem}.audio"


def audio_folder(dialogue_id: str) -> str:
    """A dialogue's folder name: its id made file-safe, plus a hash so two ids never meet."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", dialogue_id).strip("._") or "dialogue"
    return f"{safe}-{hashlib.sha1(dialogue_id.encode()).hexdigest()[:8]}"


class AudioKeeper:
    """Writes each caller line as the ASR heard it (after the line) as a 16 kHz WAV."""

    def __init__(self, root: Path, dialogue_id: str) -> None:
        self.root = root
        self.folder = audio_folder(dialogue_id)
        self._lines = 0

    def keep(self, pcm: PCM) -> str:
        """Write one line; its path relative to ``root``."""
        folder = self.root / self.folder
        if self._lines == 0:  # a rerun of a failed dialogue: drop the old attempt's lines
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        self._lines += 1
        name = f"{self.folder}/u{self._lines:02d}.wav"
        sf.write(self.root / name, pcm, HOUSE_RATE, subtype="PCM_16", format="WAV")
        return name


async def speak(tts: TTS, text: str) -> PCM:
    """The whole line as 16 kHz PCM."""
    chunk = await tts.synthesize(text)
    return resample(chunk.pcm, chunk.sample_rate, HOUSE_RATE)


class AudioChannel:
    """User text → user voice → line → ASR → agent; agent text → agent voice → line →
    ASR → user."""

    name = "audio"

    def __init__(self, *, user_tts: TTS, agent_tts: TTS, asr: ASR,
                 line: LineSettings | None = None, seed: int | str = 0,
                 keep: AudioKeeper | None = None) -> None:
        self._user_tts = user_tts
        self._keep = keep
        self._agent_tts = agent_tts
        self._asr = asr
        self._line = TelephoneLine(line or LineSettings(), seed)

    async def to_agent(self, text: str) -> Heard:
        return await self._cross(self._user_tts, text, self._keep)

    async def to_user(self, text: str) -> Heard:
        return await self._cross(self._agent_tts, text, None)

    async def _cross(self, tts: TTS, text: str, keep: AudioKeeper | None) -> Heard:
        if not text.strip():
            return Heard(text, "", {"wer": 0.0, "audio_s": 0.0})
        t0 = time.monotonic()
        pcm = await speak(tts, text)
        t1 = time.monotonic()
        carried = self._line.carry(pcm)
        heard = (await self._asr.transcribe(carried)).text.strip()
        info: dict[str, Any] = {
            "wer": round(line_wer(text, heard), 4),
            "audio_s": round(len(pcm) / HOUSE_RATE, 3),
            "tts_s": round(t1 - t0, 3),
            "asr_s": round(time.monotonic() - t1, 3),
        }
        if keep is not None:
            info["audio"] = keep.keep(carried)
        return Heard(text, heard, info)
