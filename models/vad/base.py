"""The VAD interface: speech probability per fixed window of 16 kHz audio."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from models.audio import HOUSE_RATE, PCM


class VADStream(ABC):
    """Stateful per-call detector: push any number of samples, get one probability per
    complete window (left-over samples wait for the next push)."""

    window_samples: int
    sample_rate: int = HOUSE_RATE

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)

    @property
    def window_s(self) -> float:
        return self.window_samples / self.sample_rate

    def push(self, pcm: PCM) -> list[float]:
        buf = np.concatenate([self._pending, np.asarray(pcm, dtype=np.int16)])
        n = len(buf) // self.window_samples
        probs = [
            self._window(buf[i * self.window_samples : (i + 1) * self.window_samples])
            for i in range(n)
        ]
        self._pending = buf[n * self.window_samples :]
        return probs

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)
        self._reset_state()

    @abstractmethod
    def _window(self, window: PCM) -> float:
        """Speech probability of exactly one window."""

    @abstractmethod
    def _reset_state(self) -> None:
        """Forget recurrent state."""


class VAD(ABC):
    name: ClassVar[str]

    @abstractmethod
    def stream(self) -> VADStream:
        """A fresh detector with its own state (one per call)."""
