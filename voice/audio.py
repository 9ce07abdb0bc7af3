"""Audio at the edges of the house: 20 ms frames, G.711 μ-law, resampling.

Inside the house audio is 16 kHz mono int16 in 20 ms frames (320 samples). Telephony
(8 kHz μ-law) and browser rates are converted here, at the edge.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from models.audio import HOUSE_RATE, PCM, resample

FRAME_MS = 20
FRAME_SAMPLES = HOUSE_RATE * FRAME_MS // 1000
"""320 samples: one 20 ms frame at 16 kHz."""

_BIAS = 0x84
_CLIP = 32635


def ulaw_encode(pcm: PCM) -> bytes:
    """G.711 μ-law encode int16 PCM (one byte per sample)."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    byte = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return bytes(byte.astype(np.uint8))


def _ulaw_table() -> NDArray[np.int16]:
    b = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = b & 0x80
    exponent = (b >> 4) & 0x07
    mantissa = b & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    out: NDArray[np.int16] = np.where(sign != 0, -mag, mag).astype(np.int16)
    return out


_ULAW_DECODE = _ulaw_table()


def ulaw_decode(data: bytes) -> PCM:
    """G.711 μ-law bytes → int16 PCM."""
    out: PCM = _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
    return out


def pcm16_from_bytes(data: bytes) -> PCM:
    """Little-endian int16 bytes → PCM; an odd trailing byte is an error."""
    if len(data) % 2:
        raise ValueError(f"PCM16 payload has an odd number of bytes ({len(data)})")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def to_house(pcm: PCM, rate: int) -> PCM:
    """Any-rate mono PCM → 16 kHz."""
    return resample(pcm, rate, HOUSE_RATE)


def from_house(pcm: PCM, rate: int) -> PCM:
    """16 kHz PCM → ``rate``."""
    return resample(pcm, HOUSE_RATE, rate)


class Framer:
    """Cuts a stream of arbitrary-length PCM pieces into fixed frames, keeping the rest."""

    def __init__(self, frame_samples: int = FRAME_SAMPLES) -> None:
        self.frame_samples = frame_samples
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, pcm: PCM) -> list[PCM]:
        buf = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        n = len(buf) // self.frame_samples
        frames = [buf[i * self.frame_samples : (i + 1) * self.frame_samples] for i in range(n)]
        self._pending = buf[n * self.frame_samples :]
        return frames

    def flush(self) -> PCM | None:
        """The partial last frame, zero-padded to full length (None when empty)."""
        if not len(self._pending):
            return None
        out = np.zeros(self.frame_samples, dtype=np.int16)
        out[: len(self._pending)] = self._pending
        self._pending = np.zeros(0, dtype=np.int16)
        return out
