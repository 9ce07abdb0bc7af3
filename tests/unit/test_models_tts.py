"""TTS: WAV parsing for command-line engines, FakeTTS, and the real espeak-ng program."""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from models.config import TTSSettings
from models.errors import ModelRuntimeError
from models.registry import build_tts
from models.tts import FakeTTS
from models.tts.cli_engines import EspeakTTS, parse_wav


def wav_bytes(pcm: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


PCM = np.array([0, 1000, -1000, 32767, -32768], dtype=np.int16)


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# --- parse_wav -------------------------------------------------------------------------


def test_parse_wav_reads_16_bit_mono_samples_and_rate() -> None:
    chunk = parse_wav(wav_bytes(PCM, 22050))
    assert chunk.sample_rate == 22050
    assert chunk.pcm.dtype == np.int16
    assert chunk.pcm.tolist() == PCM.tolist()


def test_parse_wav_tolerates_unknown_sizes_of_piped_output() -> None:
    # espeak-ng --stdout cannot seek back, so RIFF and data sizes stay 0xFFFFFFFF.
    data = bytearray(wav_bytes(PCM, 22050))
    data[4:8] = b"\xff\xff\xff\xff"
    data_pos = data.index(b"data")
    data[data_pos + 4 : data_pos + 8] = b"\xff\xff\xff\xff"
    chunk = parse_wav(bytes(data))
    assert chunk.sample_rate == 22050
    assert chunk.pcm.tolist() == PCM.tolist()


def test_parse_wav_drops_a_trailing_odd_byte() -> None:
    data = bytearray(wav_bytes(PCM, 16000))
    data_pos = data.index(b"data")
    data[data_pos + 4 : data_pos + 8] = b"\xff\xff\xff\xff"
    chunk = parse_wav(bytes(data) + b"\x01")
    assert chunk.pcm.tolist() == PCM.tolist()


def test_parse_wav_skips_extra_chunks_before_data() -> None:
    plain = wav_bytes(PCM, 16000)
    fmt_end = 12 + 8 + struct.unpack("<I", plain[16:20])[0]
    extra = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # odd size: padded
    chunk = parse_wav(plain[:fmt_end] + extra + plain[fmt_end:])
    assert chunk.sample_rate == 16000
    assert chunk.pcm.tolist() == PCM.tolist()


def test_parse_wav_rejects_bytes_that_are_not_wav() -> None:
    with pytest.raises(ModelRuntimeError, match="not a WAV stream"):
        parse_wav(b"ID3" + b"\x00" * 100)
    with pytest.raises(ModelRuntimeError, match="not a WAV stream"):
        parse_wav(b"RIFF")


def test_parse_wav_rejects_stereo() -> None:
    stereo = np.repeat(PCM, 2)
    with pytest.raises(ModelRuntimeError, match="2 ch 16 bit"):
        parse_wav(wav_bytes(stereo, 16000, channels=2))


def test_parse_wav_rejects_8_bit_audio() -> None:
    with pytest.raises(ModelRuntimeError, match="1 ch 8 bit"):
        parse_wav(wav_bytes(np.zeros(10, dtype=np.uint8), 8000, width=1))


def test_parse_wav_without_data_chunk_is_an_error() -> None:
    plain = wav_bytes(PCM, 16000)
    fmt_end = 12 + 8 + struct.unpack("<I", plain[16:20])[0]
    padding = b"JUNK" + struct.pack("<I", 16) + b"\x00" * 16
    with pytest.raises(ModelRuntimeError, match="no data chunk"):
        parse_wav(plain[:fmt_end] + padding)


# --- FakeTTS ---------------------------------------------------------------------------


async def test_fake_tts_chunks_follow_chunk_s_and_total_follows_word_count() -> None:
    sleep = RecordingSleep()
    tts = FakeTTS(seconds_per_word=0.3, chunk_s=0.2, first_chunk_s=0.15, sleep=sleep)
    chunks = [c async for c in tts.stream("hello there")]
    assert [len(c.pcm) for c in chunks] == [3200, 3200, 3200]
    assert all(c.sample_rate == 16000 for c in chunks)
    assert sum(c.duration_s for c in chunks) == pytest.approx(0.6)
    assert sleep.calls == [0.15]
    assert tts.texts == ["hello there"]


async def test_fake_tts_last_chunk_holds_the_remainder() -> None:
    tts = FakeTTS(seconds_per_word=0.3, chunk_s=0.2, sleep=RecordingSleep())
    chunks = [c async for c in tts.stream("hi")]
    assert [len(c.pcm) for c in chunks] == [3200, 1600]


async def test_fake_tts_synthesize_returns_one_chunk_at_its_rate() -> None:
    tts = FakeTTS(sample_rate=22050, seconds_per_word=0.5, sleep=RecordingSleep())
    audio = await tts.synthesize("one two three four")
    assert audio.sample_rate == 22050
    assert audio.duration_s == pytest.approx(2.0)
    assert np.abs(audio.pcm).max() > 7000


async def test_fake_tts_of_empty_text_is_silence_of_zero_length() -> None:
    tts = FakeTTS(sleep=RecordingSleep())
    audio = await tts.synthesize("   ")
    assert len(audio.pcm) == 0


# --- espeak-ng (a tiny real program) ---------------------------------------------------


async def test_espeak_backend_synthesizes_short_text_at_22050_hz(tmp_path: Path) -> None:
    tts = build_tts(TTSSettings(backend="espeak-ng"), tmp_path)
    assert isinstance(tts, EspeakTTS)
    chunks = [c async for c in tts.stream("Hello there.")]
    assert len(chunks) == 1
    assert chunks[0].sample_rate == 22050
    audio = await tts.synthesize("Hello there.")
    assert audio.sample_rate == 22050
    assert 0.3 < audio.duration_s < 5.0
    assert np.abs(audio.pcm).max() > 1000  # not silence
    await tts.aclose()


async def test_espeak_backend_yields_nothing_for_blank_text(tmp_path: Path) -> None:
    tts = build_tts(TTSSettings(backend="espeak-ng"), tmp_path)
    assert [c async for c in tts.stream("  ")] == []
