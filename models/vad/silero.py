"""Silero VAD run with onnxruntime (no torch): 512-sample windows at 16 kHz.

Each window is fed with the last 64 samples of the previous one as context, and the
recurrent state is carried across windows, as the model expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.audio import PCM
from models.errors import MissingExtraError, ModelNotFoundError
from models.vad.base import VAD, VADStream

_WINDOW = 512
_CONTEXT = 64


class SileroStream(VADStream):
    window_samples = _WINDOW

    def __init__(self, session: Any) -> None:
        super().__init__()
        self._session = session
        self._sr = np.array(self.sample_rate, dtype=np.int64)
        self._reset_state()

    def _reset_state(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)

    def _window(self, window: PCM) -> float:
        x = (window.astype(np.float32) / 32768.0)[None, :]
        x = np.concatenate([self._context, x], axis=1)
        out, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": self._sr}
        )
        self._context = x[:, -_CONTEXT:]
        return float(out[0, 0])


class SileroVAD(VAD):
    name = "silero"
    window_samples: ClassVar[int] = _WINDOW

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingExtraError("silero", "embedded", "onnxruntime") from exc
        if not model_path.is_file():
            raise ModelNotFoundError(f"Silero VAD ONNX file not found at {model_path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def stream(self) -> SileroStream:
        # One ONNX session is shared: state lives in each stream, run() is thread-safe.
        return SileroStream(self._session)
