"""G.711 μ-law, PCM16 parsing, framing and edge resampling."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import (
    FRAME_SAMPLES,
    Framer,
    from_house,
    pcm16_from_bytes,
    to_house,
    ulaw_decode,
    ulaw_encode,
)


def pcm(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int16)


@pytest.mark.parametrize(
    ("sample", "code"),
    [
        (0, 0xFF),
        (1, 0xFF),
        (-1, 0x7F),
        (32767, 0x80),
        (-32768, 0x00),
    ],
)
def test_ulaw_encode_matches_g711_reference_codes(sample: int, code: int) -> None:
    assert ulaw_encode(pcm([sample])) == bytes([code])


@pytest.mark.parametrize(
    ("code", "sample"),
    [
        (0xFF, 0),
        (0x7F, 0),
        (0x00, -32124),
        (0x80, 32124),
    ],
)
def test_ulaw_decode_matches_g711_reference_values(code: int, sample: int) -> None:
    out = ulaw_decode(bytes([code]))
    assert out.dtype == np.int16
    assert out.tolist() == [sample]


def test_ulaw_encode_gives_one_byte_per_sample() -> None:
    assert len(ulaw_encode(np.zeros(160, dtype=np.int16))) == 160
    assert ulaw_encode(np.zeros(0, dtype=np.int16)) == b""


def test_ulaw_round_trip_relative_error_is_below_four_percent_above_1000() -> None:
    x = np.arange(-32768, 32768, dtype=np.int64)
    y = ulaw_decode(ulaw_encode(x.astype(np.int16))).astype(np.int64)
    loud = np.abs(x) > 1000
    rel = np.abs(y[loud] - x[loud]) / np.abs(x[loud])
    assert rel.max() < 0.04
    # Quiet samples keep their sign (or decode to silence).
    quiet = ~loud
    assert (np.sign(y[quiet]) * np.sign(x[quiet]) >= 0).all()


def test_ulaw_decode_is_monotonic_within_each_sign_half_of_the_code_space() -> None:
    table = ulaw_decode(bytes(range(256))).astype(np.int64)
    negative, positive = table[:128], table[128:]
    # Codes 0x00..0x7F run from the most negative value up to zero...
    assert (np.diff(negative) > 0).all()
    assert negative[0] == -32124 and negative[-1] == 0
    # ...and 0x80..0xFF from the most positive value down to zero (complemented codes).
    assert (np.diff(positive) < 0).all()
    assert positive[0] == 32124 and positive[-1] == 0
    # The two halves mirror each other.
    assert (negative == -positive).all()


def test_ulaw_decode_then_encode_returns_every_code_except_negative_zero() -> None:
    codes = bytes(range(256))
    again = ulaw_encode(ulaw_decode(codes))
    # 0x7F decodes to 0, which encodes as the canonical 0xFF.
    expected = bytes(0xFF if c == 0x7F else c for c in codes)
    assert again == expected


def test_pcm16_from_bytes_reads_little_endian_int16() -> None:
    out = pcm16_from_bytes(b"\x01\x00\xff\xff\x00\x80\xff\x7f")
    assert out.dtype == np.int16
    assert out.tolist() == [1, -1, -32768, 32767]


def test_pcm16_from_bytes_rejects_an_odd_number_of_bytes() -> None:
    with pytest.raises(ValueError, match="odd number of bytes"):
        pcm16_from_bytes(b"\x00\x01\x02")


def test_framer_cuts_arbitrary_pieces_into_320_sample_frames_keeping_leftovers() -> None:
    assert FRAME_SAMPLES == 320
    framer = Framer()
    data = (np.arange(857) % 30000).astype(np.int16)
    frames: list[np.ndarray] = []
    counts = []
    at = 0
    for size in (100, 250, 500, 7):
        out = framer.push(data[at : at + size])
        at += size
        counts.append(len(out))
        frames += out
    assert counts == [0, 1, 1, 0]
    assert all(len(f) == 320 for f in frames)
    assert np.array_equal(np.concatenate(frames), data[:640])
    rest = framer.flush()
    assert rest is not None
    assert len(rest) == 320
    assert np.array_equal(rest[:217], data[640:])
    assert not rest[217:].any()


def test_framer_returns_several_frames_from_one_large_piece() -> None:
    framer = Framer()
    data = np.arange(1000, dtype=np.int16)
    frames = framer.push(data)
    assert len(frames) == 3
    assert np.array_equal(np.concatenate(frames), data[:960])
    rest = framer.flush()
    assert rest is not None and np.array_equal(rest[:40], data[960:])


def test_framer_flush_is_none_when_nothing_is_pending() -> None:
    framer = Framer()
    assert framer.flush() is None
    assert len(framer.push(np.ones(640, dtype=np.int16))) == 2
    assert framer.flush() is None


def test_framer_flush_empties_the_buffer() -> None:
    framer = Framer()
    framer.push(np.ones(10, dtype=np.int16))
    assert framer.flush() is not None
    assert framer.flush() is None
    frames = framer.push(np.full(320, 7, dtype=np.int16))
    assert len(frames) == 1 and (frames[0] == 7).all()


def test_framer_honours_a_custom_frame_size() -> None:
    framer = Framer(frame_samples=160)
    assert [len(f) for f in framer.push(np.zeros(500, dtype=np.int16))] == [160, 160, 160]


@pytest.mark.parametrize(
    ("rate", "edge_samples", "house_samples"),
    [(8000, 160, 320), (48000, 960, 320), (16000, 320, 320)],
)
def test_to_house_and_from_house_scale_length_by_the_rate_ratio(
    rate: int, edge_samples: int, house_samples: int
) -> None:
    t = np.arange(edge_samples) / rate
    edge = (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)
    house = to_house(edge, rate)
    assert house.dtype == np.int16
    assert len(house) == house_samples
    back = from_house(house, rate)
    assert back.dtype == np.int16
    assert len(back) == edge_samples
