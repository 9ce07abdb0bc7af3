"""Audio as data: mono int16 PCM with its sample rate, and resampling."""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

PCM = NDArray[np.int16]

HOUSE_RATE = 16_000
"""Sample rate used everywhere inside the house (VAD, ASR, pipeline)."""


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of mono int16 PCM audio."""

    pcm: PCM
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate

    def to_rate(self, rate: int) -> AudioChunk:
        """Return this chunk resampled to ``rate`` (self when already there)."""
        if rate == self.sample_rate:
            return self
        return AudioChunk(resample(self.pcm, self.sample_rate, rate), rate)

    def to_bytes(self) -> bytes:
        return self.pcm.astype("<i2", copy=False).tobytes()


def resample(pcm: PCM, src_rate: int, dst_rate: int) -> PCM:
    """Polyphase resampling of int16 PCM (anti-aliased), clipped back to int16."""
    if src_rate == dst_rate or len(pcm) == 0:
        return pcm
    g = gcd(src_rate, dst_rate)
    out = resample_poly(pcm.astype(np.float32), dst_rate // g, src_rate // g)
    return float_to_pcm(np.asarray(out, dtype=np.float32) / 32767.0)


def float_to_pcm(samples: NDArray[np.floating]) -> PCM:
    """Convert float samples in [-1, 1] to int16 PCM."""
    out: PCM = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16)
    return out


def pcm_to_float(pcm: PCM) -> NDArray[np.float32]:
    """Convert int16 PCM to float32 samples in [-1, 1)."""
    return pcm.astype(np.float32) / 32768.0
