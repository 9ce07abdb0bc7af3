"""Audio at the edges of the house: 20 ms frames, G.711 μ-law, resampling.

Inside the house audio is 16 kHz mono int16 in 20 ms frames (320 samples). Telephony
(8 kHz μ-law) and browser rates are converted here, at the edge.
"""

from __future__ import annotations

from math import gcd
from typing import Any

import numpy as np
import soxr
from numpy.typing import NDArray
from scipy.signal import firwin, lfilter

from models.audio import HOUSE_RATE, PCM, float_to_pcm, resample

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


class StreamResampler:
    """Resamples a stream piece by piece with the filter state carried across pieces, so
    20 ms frames join without clicks (resampling each frame alone buzzes at 50 Hz).

    Small rational ratios (8, 16, 24, 32, 48 kHz ↔ 16 kHz) use a causal windowed-sinc
    FIR at the upsampled rate: about 1 ms of delay and no buffering, so every frame in
    gives its frame out. Other ratios (44.1 kHz) use soxr's quick mode, which also
    returns every frame at once; its better modes hold audio back by up to 100 ms.
    """

    _MAX_UP = 4
    _TAPS_PER_PHASE = 16

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = src_rate, dst_rate
        g = gcd(src_rate, dst_rate)
        self._up, self._down = dst_rate // g, src_rate // g
        self._soxr: Any = None
        self._phase = 0  # index, at the upsampled rate, of the next output sample
        if src_rate == dst_rate:
            return
        if self._up > self._MAX_UP:
            self._soxr = soxr.ResampleStream(src_rate, dst_rate, 1, dtype="int16", quality="QQ")
            return
        n = self._TAPS_PER_PHASE * max(self._up, self._down) + 1
        self._fir = firwin(n, 1.0 / max(self._up, self._down)) * self._up
        self._zi = np.zeros(n - 1)

    def push(self, pcm: PCM) -> PCM:
        if self.src_rate == self.dst_rate or len(pcm) == 0:
            return pcm
        if self._soxr is not None:
            out: PCM = np.asarray(
                self._soxr.resample_chunk(np.ascontiguousarray(pcm, dtype=np.int16)), np.int16
            )
            return out
        x = np.zeros(len(pcm) * self._up)
        x[:: self._up] = pcm
        y, self._zi = lfilter(self._fir, 1.0, x, zi=self._zi)
        picked = y[self._phase :: self._down]
        self._phase = (self._phase - len(x)) % self._down
        return float_to_pcm(picked / 32767.0)


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
