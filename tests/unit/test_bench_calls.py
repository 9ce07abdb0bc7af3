"""``bench calls``: the pure core on hand-made call timelines (what the caller saw →
latencies), and the async caller against a scripted server over both protocols."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from models.audio import PCM
from models.errors import SalesvoiceError
from server.bench_calls import (
    SALES_LINES,
    CallMetrics,
    CallsBench,
    CallTimeline,
    Memory,
    PlannedLine,
    SpokenTurn,
    bursts,
    measure,
    percentile,
    plan_call,
    spread,
    summarize,
    voiced_frames,
)
from server.bench_calls_run import BenchCall
from server.protocol.browser import BrowserCodec
from server.protocol.browser import End as BrowserEnd
from server.protocol.twilio import Mark as TwilioMark
from server.protocol.twilio import Media, Stop, TwilioCodec
from server.protocol.twilio import Start as TwilioStart
from simulator.wire import Protocol


def frames(start: float, seconds: float) -> list[float]:
    """Agent audio arriving at playback pace: one 20 ms frame every 20 ms."""
    return [round(start + 0.02 * i, 3) for i in range(round(seconds / 0.02))]


def turn(n: int, start: float, end: float, barge_in: bool = False) -> SpokenTurn:
    return SpokenTurn(n, f"line {n}", "tts", barge_in, start, end)


def timeline(**fields: object) -> CallTimeline:
    tl = CallTimeline("browser", 1, 0, 0)
    for k, v in fields.items():
        setattr(tl, k, v)
    return tl


def test_voice_to_voice_runs_from_the_last_voiced_frame_to_the_first_agent_frame_after_it(
) -> None:
    tl = timeline(connected=0.0,
                  turns=[turn(1, 5.0, 6.5), turn(2, 12.0, 14.0)],
                  agent_frames=frames(0.4, 3.0) + frames(7.7, 2.0) + frames(15.1, 1.0))
    m = measure(tl)
    assert m.greeting_s == pytest.approx(0.4)
    assert [t.voice_to_voice_s for t in m.turns] == pytest.approx([1.2, 1.1])
    assert not any(t.unanswered or t.overlap for t in m.turns)
    assert m.barge_ins == ()


def test_greeting_is_none_when_no_agent_audio_came_before_the_first_caller_line() -> None:
    tl = timeline(connected=1.0, turns=[turn(1, 3.0, 4.0)], agent_frames=frames(5.0, 1.0))
    m = measure(tl)
    assert m.greeting_s is None
    assert m.turns[0].voice_to_voice_s == pytest.approx(1.0)


def test_a_line_without_agent_audio_within_the_timeout_is_unanswered() -> None:
    tl = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0)], agent_frames=frames(0.3, 1.0)
                  + frames(20.0, 1.0))
    m = measure(tl, reply_timeout_s=15.0)
    assert m.turns[0].unanswered and m.turns[0].voice_to_voice_s is None
    assert not measure(tl, reply_timeout_s=30.0).turns[0].unanswered


def test_audio_that_only_comes_after_the_next_line_started_does_not_answer_the_line() -> None:
    tl = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0), turn(2, 10.0, 11.0)],
                  agent_frames=frames(0.3, 1.0) + frames(11.5, 1.0))
    m = measure(tl, reply_timeout_s=60.0)
    assert m.turns[0].unanswered
    assert m.turns[1].voice_to_voice_s == pytest.approx(0.5)


def test_barge_in_stop_is_the_last_agent_frame_while_the_caller_speaks() -> None:
    # The answer to line 1 starts at 4.0; the caller talks over it at 5.0 until 7.0;
    # agent audio stops arriving at 5.36, the interrupt at 5.3; the reply at 7.9.
    answer = frames(4.0, 1.38)
    tl = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0), turn(2, 5.0, 7.0, barge_in=True)],
                  agent_frames=frames(0.3, 1.0) + answer + frames(7.9, 1.0), flushes=[5.3])
    m = measure(tl)
    (b,) = m.barge_ins
    assert not b.missed and b.stopped
    assert b.stop_s == pytest.approx(answer[-1] - 5.0)
    assert b.flush_s == pytest.approx(0.3)
    second = m.turns[1]
    assert second.barge_in and second.overlap
    assert second.voice_to_voice_s == pytest.approx(0.9)  # the reply, not the cut answer


def test_a_barge_in_the_agent_talks_through_is_not_stopped_and_its_reply_comes_after() -> None:
    tl = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0), turn(2, 5.0, 6.0, barge_in=True)],
                  agent_frames=frames(0.3, 1.0) + frames(4.0, 3.0) + frames(7.6, 1.0))
    (b,) = measure(tl).barge_ins
    assert not b.missed and not b.stopped and b.flush_s is None
    assert b.stop_s == pytest.approx(1.98)  # 5.0 → 6.98, past the caller's end
    assert measure(tl).turns[1].voice_to_voice_s == pytest.approx(1.6)  # 6.0 → 7.6


def test_a_barge_in_on_a_silent_agent_is_missed() -> None:
    tl = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0), turn(2, 6.0, 7.0, barge_in=True)],
                  agent_frames=frames(0.3, 1.0) + frames(4.0, 1.0) + frames(8.0, 1.0))
    (b,) = measure(tl).barge_ins
    assert b.missed and b.stop_s is None


def test_agent_audio_over_an_ordinary_line_is_flagged_and_not_taken_for_its_reply() -> None:
    tl = timeline(connected=0.0, turns=[turn(1, 2.0, 5.0)],
                  agent_frames=frames(0.3, 1.0) + frames(3.0, 0.5) + frames(6.0, 1.0))
    (t,) = measure(tl).turns
    assert t.overlap and t.voice_to_voice_s == pytest.approx(1.0)


def test_bursts_split_at_gaps_longer_than_the_gap() -> None:
    assert bursts([0.0, 0.02, 0.04, 0.5, 0.52, 0.9], 0.3) == [(0.0, 0.04), (0.5, 0.52),
                                                               (0.9, 0.9)]
    assert bursts([], 0.3) == []


def test_percentiles_interpolate_and_are_none_without_values() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)
    assert percentile([], 50) is None
    assert spread([]) == {"n": 0, "p50": None, "p95": None, "max": None}


def _call(caller: int, v2v: list[float | None], greeting: float = 0.5,
          error: str | None = None, concurrency: int = 2) -> CallMetrics:
    turns = []
    for i, v in enumerate(v2v, 1):
        start = 10.0 * i
        frames_after = [] if v is None else frames(start + 1.0 + v, 1.0)
        turns.append((turn(i, start, start + 1.0), frames_after))
    tl = CallTimeline("twilio", concurrency, caller, 0, connected=0.0,
                      turns=[t for t, _ in turns],
                      agent_frames=frames(greeting, 1.0) + [f for _, fs in turns for f in fs],
                      error=error)
    return measure(tl)


def test_summary_splits_first_and_later_turns_and_counts_unanswered_and_failures() -> None:
    calls = [_call(0, [1.0, 2.0, 3.0]), _call(1, [1.5, None, 4.0], greeting=0.7,
                                              error="DialInError: dropped")]
    s = summarize(calls, Memory(idle_mib=1000.0, peak_mib=1100.0))
    assert (s["protocol"], s["concurrency"], s["calls"], s["failed_calls"]) == ("twilio", 2, 2, 1)
    assert (s["turns"], s["unanswered"]) == (6, 1)
    assert s["voice_to_voice_first_turn_s"]["p50"] == pytest.approx(1.25)
    assert s["voice_to_voice_later_turns_s"]["n"] == 3
    assert s["voice_to_voice_later_turns_s"]["p50"] == pytest.approx(3.0)
    assert s["voice_to_voice_s"]["p95"] == pytest.approx(np.percentile([1, 2, 3, 1.5, 4], 95))
    assert s["greeting_s"]["p50"] == pytest.approx(0.6)
    assert s["rss"] == {"idle_mib": 1000.0, "peak_mib": 1100.0, "per_call_mib": 50.0}


def test_summary_counts_missed_and_unstopped_barge_ins() -> None:
    stopped = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0), turn(2, 5.0, 7.0, True)],
                       agent_frames=frames(0.3, 1.0) + frames(4.0, 1.5) + frames(8.0, 1.0))
    through = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0), turn(2, 5.0, 6.0, True)],
                       agent_frames=frames(0.3, 1.0) + frames(4.0, 3.0))
    missed = timeline(connected=0.0, turns=[turn(1, 2.0, 3.0), turn(2, 6.0, 7.0, True)],
                      agent_frames=frames(0.3, 1.0) + frames(4.0, 1.0) + frames(8.0, 1.0))
    s = summarize([measure(t) for t in (stopped, through, missed)])
    assert (s["barge_ins"], s["barge_ins_missed"], s["barge_ins_not_stopped"]) == (3, 1, 1)
    assert s["barge_in_stop_s"]["n"] == 2
    assert s["barge_in_stop_s"]["p50"] == pytest.approx((0.48 + 1.98) / 2)
    assert s["rss"] is None


def test_summary_refuses_to_mix_levels() -> None:
    with pytest.raises(ValueError, match="one protocol at one concurrency"):
        summarize([_call(0, [1.0], concurrency=1), _call(1, [1.0], concurrency=2)])


def test_voiced_frames_skip_room_noise_before_and_after_speech_and_digital_silence() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.normal(0, 100, 320 * 5)).astype(np.int16)  # about -50 dBFS
    t = np.arange(320 * 10) / 16000
    speech = (np.sin(2 * np.pi * 200 * t) * 8000).astype(np.int16)  # about -15 dBFS
    pcm = np.concatenate([noise, speech, noise, np.zeros(320 * 2, dtype=np.int16)])
    assert voiced_frames(pcm) == [False] * 5 + [True] * 10 + [False] * 7
    assert voiced_frames(np.zeros(700, dtype=np.int16)) == [False, False, False]


def test_plan_opens_with_the_opener_alternates_real_and_synthesized_and_barges_every_third(
) -> None:
    plan = plan_call(6, seed=0, real=["ten of clubs", "five five"], barge_in_every=3)
    assert plan[0].text == SALES_LINES[0] and plan[0].source == "tts"
    assert [p.source for p in plan] == ["tts", "real", "tts", "real", "tts", "real"]
    assert [p.barge_in for p in plan] == [False, False, True, False, False, True]
    assert [p.clip for p in plan if p.clip is not None] == [0, 1, 0]
    assert plan[1].text == "ten of clubs"
    other = plan_call(6, seed=1, real=["ten of clubs", "five five"], barge_in_every=3)
    assert [p.text for p in other] != [p.text for p in plan]
    assert not any(p.barge_in for p in plan_call(6, 0, ["x"], barge_in_every=0))
    assert all(p.source == "tts" for p in plan_call(4, 0, [], barge_in_every=0))


def test_cli_lists_are_checked_with_clear_errors() -> None:
    bench = CallsBench.from_cli(protocols="twilio, browser", concurrency="1,4", calls=3)
    assert (bench.protocols, bench.concurrency, bench.calls) == (("twilio", "browser"), (1, 4), 3)
    with pytest.raises(SalesvoiceError, match="--protocols"):
        CallsBench.from_cli(protocols="sip", concurrency="1")
    with pytest.raises(SalesvoiceError, match="--concurrency"):
        CallsBench.from_cli(protocols="browser", concurrency="1,two")
    with pytest.raises(SalesvoiceError, match="--concurrency"):
        CallsBench.from_cli(protocols="browser", concurrency="0")
    with pytest.raises(SalesvoiceError, match="calls"):
        CallsBench.from_cli(protocols="browser", concurrency="1", calls=0)


# -- the async caller against a scripted server (no models) -------------------------------

SPEED = 5.0
REPLY_DELAY_S = 0.4
"""The scripted agent answers this long after it hears the end of a line (plus 0.1 s)."""


class FastClock:
    """Real time run ``SPEED`` times faster."""

    def now(self) -> float:
        return time.monotonic() * SPEED

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SPEED)


def tone(seconds: float) -> PCM:
    t = np.arange(int(seconds * 16000)) / 16000
    return (np.sin(2 * np.pi * 300 * t) * 6000).astype(np.int16)


@dataclass
class ScriptedAgent:
    """The server's end of either protocol, decoded with the real server codecs: a
    greeting, then a paced reply after each caller line; it stops and flushes when the
    caller talks over it for 0.2 s."""

    protocol: Protocol
    marks_echoed: list[str] = field(default_factory=list)
    hung_up: bool = False

    async def handler(self, ws: ServerConnection) -> None:
        b, t = BrowserCodec(), TwilioCodec()
        if self.protocol == "browser":
            b.receive_text(str(await ws.recv()))
            await ws.send(b.ready("call-1", None, "p-test"))
        else:
            while not isinstance(t.receive(str(await ws.recv())), TwilioStart):
                pass
        speaking = asyncio.create_task(self._speak(ws, b, t, 0, 0.5, 0.0))
        loud = quiet = over = line = 0
        try:
            async for m in ws:
                if self.protocol == "browser":
                    if isinstance(m, str):
                        assert isinstance(b.receive_text(m), BrowserEnd)
                        self.hung_up = True
                        await ws.send(b.end("caller", None))
                        return
                    pcm = b.receive_bytes(m).pcm16k
                else:
                    event = t.receive(str(m))
                    if isinstance(event, TwilioMark):
                        self.marks_echoed.append(event.name)
                    if isinstance(event, Stop):
                        self.hung_up = True
                        return
                    if not isinstance(event, Media):
                        continue
                    pcm = event.pcm16k
                if np.abs(pcm).max() > 1000:
                    loud, quiet = loud + 1, 0
                    over = over + 1 if not speaking.done() else 0
                    if over == 10:  # talked over for 0.2 s: barge-in
                        speaking.cancel()
                        await ws.send(b.interrupt(line, "") if self.protocol == "browser"
                                      else t.clear())
                elif loud:
                    quiet += 1
                if loud >= 10 and quiet >= 5:
                    loud = quiet = over = 0
                    line += 1
                    await asyncio.wait({speaking})
                    speaking = asyncio.create_task(
                        self._speak(ws, b, t, line, 1.5, REPLY_DELAY_S))
        finally:
            speaking.cancel()
            await asyncio.wait({speaking})

    async def _speak(self, ws: ServerConnection, b: BrowserCodec, t: TwilioCodec, turn: int,
                     seconds: float, delay_s: float) -> None:
        await asyncio.sleep(delay_s / SPEED)
        if self.protocol == "twilio":
            await ws.send(t.mark(f"turn{turn}"))
        pcm = tone(seconds)
        for i in range(0, len(pcm), 320):
            frame = pcm[i : i + 320]
            await ws.send(b.audio(frame) if self.protocol == "browser" else t.media(frame))
            await asyncio.sleep(0.02 / SPEED)
        if self.protocol == "browser":
            await ws.send(b.turn(turn, "", "reply", False, {"voice_to_voice_s": 0.5}))


@pytest.mark.parametrize("protocol", ["browser", "twilio"])
async def test_the_caller_records_greeting_replies_and_a_barge_in_over_either_protocol(
    protocol: Protocol,
) -> None:
    agent = ScriptedAgent(protocol)
    line = np.concatenate([np.zeros(1600, dtype=np.int16), tone(0.6)])  # 0.1 s of silence
    plan = [PlannedLine(1, "one", None, False), PlannedLine(2, "two", None, False),
            PlannedLine(3, "three", None, True)]
    tl = CallTimeline(protocol, 1, 0, 0)
    async with serve(agent.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        call = BenchCall(f"ws://127.0.0.1:{port}", protocol, [(p, line) for p in plan], tl,
                         CallsBench(), token="t", clock=FastClock())
        async with asyncio.timeout(30):
            await call.run()
    assert tl.error is None and agent.hung_up
    assert [(s.turn, s.barge_in) for s in tl.turns] == [(1, False), (2, False), (3, True)]
    assert all(s.end - s.start == pytest.approx(0.58, abs=0.1) for s in tl.turns)
    m = measure(tl)
    assert m.greeting_s is not None and m.greeting_s < 0.3
    assert not any(t.unanswered for t in m.turns)
    for t in m.turns:  # end of line → 5 quiet frames heard → REPLY_DELAY_S → first frame
        assert t.voice_to_voice_s == pytest.approx(0.1 + REPLY_DELAY_S, abs=0.35)
    assert not m.turns[1].overlap and m.turns[2].overlap
    (b,) = m.barge_ins
    assert not b.missed and b.stopped
    assert b.stop_s is not None and 0.1 < b.stop_s < 0.6
    assert b.flush_s is not None and 0.1 < b.flush_s < 0.6
    if protocol == "browser":
        assert tl.ended == "caller" and tl.server_v2v == [0.5, 0.5]  # the cut turn sent none
    else:
        assert {"turn0", "turn1", "turn2", "turn3"} >= set(agent.marks_echoed) >= {"turn0"}
