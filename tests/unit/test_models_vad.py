"""The VAD windowing contract, exercised through FakeVAD."""

from __future__ import annotations

import numpy as np

from models.vad import FakeVAD


def samples(n: int, amplitude: int = 0) -> np.ndarray:
    return np.full(n, amplitude, dtype=np.int16)


def test_window_is_emitted_only_when_complete() -> None:
    stream = FakeVAD(window_samples=320).stream()
    assert stream.push(samples(319)) == []
    assert len(stream.push(samples(1))) == 1


def test_leftover_samples_carry_over_between_pushes() -> None:
    stream = FakeVAD(window_samples=320, script=[0.1, 0.2, 0.3, 0.4]).stream()
    assert stream.push(samples(500)) == [0.1]  # 180 left over
    assert stream.push(samples(140)) == [0.2]  # 180 + 140 = 320
    assert stream.push(samples(960)) == [0.3, 0.4, 0.0]  # script exhausted: silence


def test_reset_drops_pending_samples_and_restarts_the_script() -> None:
    stream = FakeVAD(window_samples=320, script=[0.9, 0.8]).stream()
    assert stream.push(samples(400)) == [0.9]
    stream.reset()
    assert stream.push(samples(300)) == []  # the 80 pending samples were dropped
    assert stream.push(samples(20)) == [0.9]


def test_window_duration_follows_window_samples() -> None:
    stream = FakeVAD(window_samples=512).stream()
    assert stream.window_s == 512 / 16000


def test_energy_mode_detects_a_loud_tone_and_not_silence() -> None:
    t = np.arange(1600) / 16000
    loud = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    stream = FakeVAD(window_samples=320).stream()
    assert stream.push(samples(1600)) == [0.0] * 5
    assert stream.push(loud) == [1.0] * 5
    assert stream.push(samples(1600, amplitude=100)) == [0.0] * 5


def test_each_stream_has_its_own_state() -> None:
    vad = FakeVAD(window_samples=320, script=[0.5])
    a, b = vad.stream(), vad.stream()
    a.push(samples(100))
    assert a.push(samples(220)) == [0.5]
    assert b.push(samples(320)) == [0.5]
