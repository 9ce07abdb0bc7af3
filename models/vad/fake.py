"""FakeVAD: speech probability from frame energy, or from a scripted sequence."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from models.audio import PCM
from models.vad.base import VAD, VADStream


class FakeVADStream(VADStream):
    def __init__(self, window_samples: int, script: list[float] | None, rms_threshold: float):
        super().__init__()
        self.window_samples = window_samples
        self._script = script
        self._rms_threshold = rms_threshold
        self._i = 0

    def _window(self, window: PCM) -> float:
        if self._script is not None:
            p = self._script[self._i] if self._i < len(self._script) else 0.0
            self._i += 1
            return p
        rms = float(np.sqrt(np.mean(window.astype(np.float64) ** 2)))
        return 1.0 if rms >= self._rms_threshold else 0.0

    def _reset_state(self) -> None:
        self._i = 0


class FakeVAD(VAD):
    """Energy VAD (loud = speech) unless ``script`` gives the probability per window."""

    name = "fake"

    def __init__(
        self,
        *,
        window_samples: int = 320,
        script: Iterable[float] | None = None,
        rms_threshold: float = 500.0,
    ) -> None:
        self.window_samples = window_samples
        self._script = None if script is None else list(script)
        self._rms_threshold = rms_threshold

    def stream(self) -> FakeVADStream:
        return FakeVADStream(self.window_samples, self._script, self._rms_threshold)
