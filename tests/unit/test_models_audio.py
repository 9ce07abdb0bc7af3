"""Audio chunks and resampling."""

from __future__ import annotations

import numpy as np

from models.audio import AudioChunk, float_to_pcm, pcm_to_float, resample


def tone(freq: float, rate: int, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude).astype(np.int16)


def peak_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


def test_resample_22050_to_16000_keeps_duration_and_tone_frequency() -> None:
    src = tone(440, 22050, 1.0)
    out = resample(src, 22050, 16000)
    assert out.dtype == np.int16
    assert len(out) == 16000
    assert abs(peak_hz(out, 16000) - 440) <= 1.0
    # Amplitude is preserved away from the edges.
    assert 7000 < np.abs(out[1000:-1000]).max() <= 8200


def test_resample_to_same_rate_or_of_empty_audio_is_identity() -> None:
    src = tone(440, 16000, 0.1)
    assert resample(src, 16000, 16000) is src
    empty = np.zeros(0, dtype=np.int16)
    assert resample(empty, 22050, 16000) is empty


def test_resample_clips_overshoot_to_int16_instead_of_wrapping() -> None:
    # A full-scale square wave rings past full scale when filtered (Gibbs).
    square = np.where(np.arange(2205) % 50 < 25, 32767, -32768).astype(np.int16)
    out = resample(square, 22050, 16000)
    assert out.max() == 32767
    assert out.min() == -32768
    # No wrap-around: the middle of each positive half-period stays positive.
    centres = (np.arange(5, 30) * 50 + 12) * 16000 // 22050
    assert (out[centres] > 0).all()


def test_float_to_pcm_clips_out_of_range_samples() -> None:
    pcm = float_to_pcm(np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0]))
    assert pcm.tolist() == [-32768, -32767, 0, 16384, 32767, 32767]
    assert pcm.dtype == np.int16


def test_pcm_to_float_maps_int16_into_unit_range() -> None:
    f = pcm_to_float(np.array([-32768, 0, 16384, 32767], dtype=np.int16))
    assert f.dtype == np.float32
    assert f.tolist() == [-1.0, 0.0, 0.5, 32767 / 32768]


def test_audio_chunk_to_its_own_rate_is_the_same_object() -> None:
    chunk = AudioChunk(tone(440, 16000, 0.1), 16000)
    assert chunk.to_rate(16000) is chunk


def test_audio_chunk_to_another_rate_resamples_and_keeps_duration() -> None:
    chunk = AudioChunk(tone(440, 22050, 0.5), 22050)
    out = chunk.to_rate(16000)
    assert out.sample_rate == 16000
    assert abs(out.duration_s - chunk.duration_s) < 1e-3


def test_audio_chunk_bytes_are_little_endian_int16() -> None:
    chunk = AudioChunk(np.array([1, -2], dtype=np.int16), 16000)
    assert chunk.to_bytes() == b"\x01\x00\xfe\xff"
    assert chunk.duration_s == 2 / 16000
