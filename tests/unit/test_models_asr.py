"""FakeASR: the scripted ASR used by unit tests and the latency harness."""

from __future__ import annotations

import numpy as np

from models.asr import FakeASR

SECOND = np.zeros(16000, dtype=np.int16)


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


async def test_partials_grow_with_the_audio_heard() -> None:
    asr = FakeASR(["I would like a quote for term life insurance"], sleep=RecordingSleep())
    async with asr.session() as s:
        assert s.partial() is None
        s.push(SECOND)
        first = s.partial()
        s.push(SECOND)
        second = s.partial()
        assert first is not None and second is not None
        assert first.text == "I would like"
        assert second.text == "I would like a quote for"
        assert not second.is_final
        assert second.audio_s == 2.0


async def test_finalize_returns_the_whole_text_after_the_scripted_delay() -> None:
    sleep = RecordingSleep()
    asr = FakeASR(["yes please"], final_delay_s=0.25, sleep=sleep)
    async with asr.session() as s:
        s.push(SECOND[:8000])
        final = await s.finalize()
    assert final.text == "yes please"
    assert final.is_final
    assert final.audio_s == 0.5
    assert final.decode_s == 0.25
    assert sleep.calls == [0.25]


async def test_sessions_follow_the_script_and_the_last_text_repeats() -> None:
    asr = FakeASR(["hello", "no thanks"], sleep=RecordingSleep())
    texts = [(await asr.transcribe(SECOND)).text for _ in range(3)]
    assert texts == ["hello", "no thanks", "no thanks"]
    assert all(s.finalized for s in asr.sessions)


async def test_empty_script_transcribes_to_empty_text() -> None:
    asr = FakeASR([], sleep=RecordingSleep())
    assert (await asr.transcribe(SECOND)).text == ""
