"""Streaming resampling: every frame out at once, and frames join without clicks."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import StreamResampler, to_house


def tone(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


def best_rms_error(y: np.ndarray, rate: int) -> float:
    t = np.arange(len(y)) / rate
    return min(
        float(
            np.sqrt(
                np.mean(
                    (y[400:-400] - 8000 * np.sin(2 * np.pi * 440 * (t[400:-400] - d / rate))) ** 2
                )
            )
        )
        for d in range(48)
    )


@pytest.mark.parametrize("src", [8000, 24000, 32000, 44100, 48000])
def test_each_20ms_frame_gives_a_20ms_frame_at_once(src: int) -> None:
    r = StreamResampler(src, 16000)
    x = tone(src)
    n = src // 50
    sizes = [len(r.push(x[i : i + n])) for i in range(0, len(x), n)]
    assert all(abs(s - 320) <= 4 for s in sizes)
    assert abs(sum(sizes) - 16000) <= 4


def test_streamed_frames_join_cleanly_where_per_frame_resampling_clicks() -> None:
    x = tone(8000)
    r = StreamResampler(8000, 16000)
    streamed = np.concatenate([r.push(x[i : i + 160]) for i in range(0, len(x), 160)])
    per_frame = np.concatenate([to_house(x[i : i + 160], 8000) for i in range(0, len(x), 160)])
    assert best_rms_error(streamed, 16000) < 40
    assert best_rms_error(per_frame, 16000) > 3 * best_rms_error(streamed, 16000)


def test_same_rate_passes_audio_through() -> None:
    x = tone(16000, 0.02)
    assert StreamResampler(16000, 16000).push(x) is x
