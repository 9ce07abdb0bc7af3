"""VoicePipeline with fakes on a virtual clock: exact, deterministic timing."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from models.asr import FakeASR
from models.audio import HOUSE_RATE, PCM
from models.llm import FakeLLM, FakeReply, LLMRequest
from models.tts import FakeTTS
from models.vad import FakeVAD
from voice.audio import FRAME_SAMPLES
from voice.bargein import BargeInConfig
from voice.clock import VirtualClock
from voice.events import (
    AgentAudio,
    AgentPaused,
    AgentResumed,
    AgentText,
    Backchannel,
    Interrupted,
    PipelineEvent,
    PlayoutMark,
    TurnCompleted,
    UserTranscript,
)
from voice.greeting import GreetingCache
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.responder import LLMResponder
from voice.turns import TurnConfig

FRAME_S = FRAME_SAMPLES / HOUSE_RATE
SPEECH = (np.sin(2 * np.pi * 220 * np.arange(FRAME_SAMPLES) / HOUSE_RATE) * 8000).astype(np.int16)
SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)


@dataclass
class Call:
    clock: VirtualClock
    pipeline: VoicePipeline
    llm: FakeLLM
    tts: FakeTTS
    responder: LLMResponder
    events: list[tuple[float, PipelineEvent]] = field(default_factory=list)
    collector: asyncio.Task[None] | None = None

    async def feed(self, frame: PCM, seconds: float) -> None:
        for _ in range(round(seconds / FRAME_S)):
            self.pipeline.push_audio(frame)
            await self.clock.advance(FRAME_S)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for _, e in self.events if isinstance(e, kind)]

    def index(self, kind: type) -> int:
        return next(i for i, (_, e) in enumerate(self.events) if isinstance(e, kind))

    async def close(self) -> None:
        await self.pipeline.aclose()
        assert self.collector is not None
        await self.collector


async def make_call(
    replies: Sequence[FakeReply | Exception],
    user_texts: Sequence[str],
    *,
    greeting: str = "",
    turn: TurnConfig | None = None,
    barge_in: BargeInConfig | None = None,
    asr_delay: float = 0.1,
    greetings: GreetingCache | None = None,
    completion: Callable[[str], float] | None = None,
) -> Call:
    clock = VirtualClock()
    script = list(replies)

    def respond(request: LLMRequest) -> FakeReply:
        # max_tokens=1 is the warm-up that caches the system prompt at call start.
        if request.max_tokens == 1:
            return FakeReply("")
        reply = script.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    llm = FakeLLM(respond, sleep=clock.sleep)
    tts = FakeTTS(sleep=clock.sleep, first_chunk_s=0.05, seconds_per_word=0.25, chunk_s=0.1)
    responder = LLMResponder(llm, "You sell insurance.", greeting, session="test")
    config = PipelineConfig(
        turn=turn or TurnConfig(hangover_s=0.5, early_hangover_s=0.5),
        barge_in=barge_in or BargeInConfig(),
    )
    pipeline = VoicePipeline(
        vad=FakeVAD(window_samples=FRAME_SAMPLES),
        asr=FakeASR(user_texts, final_delay_s=asr_delay, sleep=clock.sleep),
        tts=tts,
        responder=responder,
        config=config,
        clock=clock,
        greetings=greetings,
        completion=completion,
    )
    call = Call(clock, pipeline, llm, tts, responder)

    async def collect(events: AsyncIterator[PipelineEvent]) -> None:
        async for e in events:
            call.events.append((clock.now(), e))

    call.collector = asyncio.create_task(collect(pipeline.events()))
    start = asyncio.create_task(pipeline.start())
    while not start.done():  # synthesizing the greeting takes (virtual) time
        await clock.advance(FRAME_S)
    await start
    return call


async def test_turn_ends_exactly_one_hangover_after_speech_stops() -> None:
    call = await make_call([FakeReply("Sure.")], ["I want life insurance"])
    await call.feed(SPEECH, 1.0)
    await call.feed(SILENCE, 2.0)
    (done,) = call.of(TurnCompleted)
    t = done.timings
    assert t.turn_decided - t.speech_end == pytest.approx(0.5, abs=1e-6)
    assert t.end_reason == "hangover"
    await call.close()


@pytest.mark.parametrize(("probability", "reason", "hang"),
                         [(0.95, "early", 0.2), (0.02, "late", 1.0), (0.4, "hangover", 0.5)])
async def test_the_turn_completion_head_sets_the_hangover_of_the_pause(
    probability: float, reason: str, hang: float,
) -> None:
    asked: list[str] = []

    def completion(text: str) -> float:
        asked.append(text)
        return probability

    turn = TurnConfig(hangover_s=0.5, early_hangover_s=0.2, late_hangover_s=1.0)
    call = await make_call([FakeReply("Sure.")], ["I want life insurance"], turn=turn,
                           completion=completion)
    await call.feed(SPEECH, 1.0)
    await call.feed(SILENCE, 2.0)
    (done,) = call.of(TurnCompleted)
    t = done.timings
    assert t.end_reason == reason
    # The pause is judged once its decode is in; the ASR partial lags by a VAD window.
    assert t.turn_decided - t.speech_end == pytest.approx(hang, abs=0.05)
    assert asked and asked[-1] == "I want life"  # only partials that cover the pause
    await call.close()


async def test_voice_to_voice_latency_is_the_sum_of_the_stages() -> None:
    # hang-over 0.5 + ASR final 0.1 + LLM first token 0.3 + rest of the first clause
    # (6 more tokens at 20/s = 0.3: "Sure," is too short, and "that." is a boundary
    # once the next token shows it is not "3.5") + TTS first chunk 0.05 = 1.25 s
    reply = FakeReply("Sure, I can help with that. It is cheap.", ttft_s=0.3, tokens_per_s=20)
    call = await make_call([reply], ["I want life insurance"])
    await call.feed(SPEECH, 1.0)
    await call.feed(SILENCE, 4.0)
    (done,) = call.of(TurnCompleted)
    t = done.timings
    stages = [
        t.speech_end, t.turn_decided, t.asr_final, t.llm_first_token,
        t.first_clause_ready, t.tts_first_audio, t.first_audio_out,
    ]
    assert all(s is not None for s in stages)
    assert stages == sorted(stages)  # type: ignore[type-var]
    assert t.asr_final - t.turn_decided == pytest.approx(0.1, abs=1e-6)
    assert t.voice_to_voice_s == pytest.approx(1.25, abs=FRAME_S + 1e-6)
    assert done.agent_text == "Sure, I can help with that. It is cheap."
    assert not done.interrupted
    await call.close()


async def test_only_the_caller_text_and_played_reply_enter_history() -> None:
    call = await make_call([FakeReply("Happy to help.")], ["Tell me about cover"])
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 3.0)
    roles = [(m.role, m.content) for m in call.responder.history[1:]]
    assert roles == [("user", "Tell me about cover"), ("assistant", "Happy to help.")]
    finals = [e.text for e in call.of(UserTranscript) if e.final]
    assert finals == ["Tell me about cover"]
    await call.close()


LONG = (
    "Term life insurance pays your family a fixed sum if you die during the term. "
    "It is usually the cheapest kind of life cover. Premiums stay the same for the "
    "whole term, and you can choose ten, twenty or thirty years of cover."
)


async def test_barge_in_stops_playback_within_one_frame_and_truncates_history() -> None:
    call = await make_call(
        [FakeReply(LONG, ttft_s=0.2, tokens_per_s=50), FakeReply("Of course.")],
        ["What is term life", "wait wait I have a question", "ok"],
    )
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 2.5)  # the agent is talking by now
    assert call.of(AgentAudio)
    await call.feed(SPEECH, 1.0)  # caller talks over the agent
    (stop,) = call.of(Interrupted)
    i = call.index(Interrupted)
    t_stop = call.events[i][0]
    late = [t for t, e in call.events[i:] if isinstance(e, AgentAudio) and t <= t_stop + 0.5]
    assert late == []  # no agent frame after the decision (until a new reply)
    first = call.of(TurnCompleted)[0]
    assert first.interrupted
    assert first.agent_text == stop.played_text
    assert 0 < len(first.agent_text) < len(LONG)
    assert LONG.startswith(first.agent_text)
    assert call.responder.history[2].content == first.agent_text + " —"
    await call.feed(SILENCE, 3.0)  # the interruption is answered as a new turn
    second = call.of(TurnCompleted)[1]
    assert second.user_text == "wait wait I have a question"
    assert second.agent_text == "Of course."
    await call.close()


async def test_backchannel_does_not_interrupt_the_agent() -> None:
    call = await make_call(
        [FakeReply(LONG, ttft_s=0.2, tokens_per_s=50)],
        ["What is term life", "uh-huh"],
        barge_in=BargeInConfig(min_speech_s=0.2, backchannel_max_s=0.7),
    )
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 2.5)
    await call.feed(SPEECH, 0.4)  # "uh-huh"
    await call.feed(SILENCE, 20.0)
    assert call.of(Interrupted) == []
    assert [b.text for b in call.of(Backchannel)] == ["uh-huh"]
    (done,) = call.of(TurnCompleted)
    assert not done.interrupted and done.agent_text == LONG
    replies = [r for r in call.llm.requests if r.max_tokens > 1]
    assert len(replies) == 1  # no reply to the backchannel
    await call.close()


async def test_greeting_plays_first_and_is_synthesized_once_per_program() -> None:
    cache = GreetingCache()
    text = "Hello, this is Ava, an AI assistant from Acme Insurance."
    first = await make_call([], ["x"], greeting=text, greetings=cache)
    await first.feed(SILENCE, 5.0)
    (done,) = first.of(TurnCompleted)
    assert done.turn == 0 and done.agent_text == text
    assert first.responder.history[1].content == text
    calls_after_first = len(first.tts.texts)
    await first.close()
    second = await make_call([], ["x"], greeting=text, greetings=cache)
    await second.feed(SILENCE, 0.1)
    assert second.of(AgentAudio)  # speaking at once, from the cache
    assert second.tts.texts == [] and calls_after_first > 0
    await second.close()


async def test_caller_who_continues_before_the_reply_is_heard_gets_one_answer() -> None:
    call = await make_call(
        [FakeReply("Too early.", ttft_s=2.0), FakeReply("Got both.")],
        ["I am a nurse", "and I want cover for my kids"],
    )
    await call.feed(SPEECH, 0.6)
    await call.feed(SILENCE, 0.7)  # turn ends, reply is still being prepared
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 4.0)
    done = call.of(TurnCompleted)
    assert [d.agent_text for d in done] == ["Got both."]
    assert done[0].user_text == "I am a nurse and I want cover for my kids"
    assert call.llm.cancelled == 1
    await call.close()


async def test_system_prompt_is_warmed_into_the_cache_when_the_call_starts() -> None:
    call = await make_call([], ["x"])
    (warm,) = call.llm.requests
    assert warm.max_tokens == 1 and warm.session == "test"
    assert [m.role for m in warm.messages] == ["system"]
    await call.close()


async def test_empty_transcript_gets_no_reply() -> None:
    call = await make_call([], [""])
    await call.feed(SPEECH, 0.5)
    await call.feed(SILENCE, 2.0)
    assert call.of(TurnCompleted) == []
    assert [r.max_tokens for r in call.llm.requests] == [1]  # only the warm-up
    await call.close()


async def test_llm_failure_is_reported_and_the_call_goes_on() -> None:
    call = await make_call([RuntimeError("model crashed")], ["hello"])
    await call.feed(SPEECH, 0.5)
    await call.feed(SILENCE, 2.0)
    from voice.events import PipelineError

    (err,) = call.of(PipelineError)
    assert "model crashed" in err.message
    call.pipeline.push_audio(SILENCE)  # still accepts audio
    await call.close()


async def test_what_the_caller_said_so_far_is_evaluated_while_they_speak() -> None:
    call = await make_call([FakeReply("Sure.")], ["I want life insurance for my family"])
    await call.feed(SPEECH, 2.0)  # ~6 words revealed, still talking
    heard = [r.messages[-1].content for r in call.llm.requests
             if r.max_tokens == 1 and r.messages[-1].role == "user"]
    assert heard and heard[0] == "I"  # the first partial, while the caller speaks
    assert len(heard) >= 2 and all(len(a) < len(b) for a, b in itertools.pairwise(heard))
    await call.feed(SILENCE, 2.0)
    (done,) = call.of(TurnCompleted)
    assert done.agent_text == "Sure."
    await call.close()


async def test_nothing_is_evaluated_for_speech_over_the_agent() -> None:
    call = await make_call([], ["uh huh"], greeting="Hello, this is Sam from Acme Insurance, "
                           "calling about your cover today.")
    await call.feed(SPEECH, 0.4)  # the greeting is still playing
    assert not [r for r in call.llm.requests if r.messages[-1].role == "user"]
    await call.close()


async def test_agent_audio_pauses_within_two_vad_windows_of_caller_speech() -> None:
    call = await make_call(
        [FakeReply(LONG, ttft_s=0.2, tokens_per_s=50), FakeReply("Of course.")],
        ["What is term life", "wait wait I have a question", "ok"],
    )
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 2.5)  # the agent is talking by now
    onset = call.clock.now()
    await call.feed(SPEECH, 1.0)
    (paused,) = call.of(AgentPaused)
    assert paused.at - onset <= 2 * FRAME_S + 1e-9
    # Words, not a backchannel: the pause became a barge-in, with no agent audio between.
    i, j = call.index(AgentPaused), call.index(Interrupted)
    assert i < j and not [e for _, e in call.events[i:j] if isinstance(e, AgentAudio)]
    assert call.of(AgentResumed) == []
    await call.close()


async def test_a_backchannel_pauses_the_agent_which_then_goes_on_and_nothing_is_lost() -> None:
    call = await make_call(
        [FakeReply(LONG, ttft_s=0.2, tokens_per_s=50)],
        ["What is term life", "uh-huh"],
        barge_in=BargeInConfig(min_speech_s=0.2, backchannel_max_s=0.7),
    )
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 2.5)
    await call.feed(SPEECH, 0.4)  # "uh-huh"
    await call.feed(SILENCE, 20.0)
    (paused,), (resumed,) = call.of(AgentPaused), call.of(AgentResumed)
    assert 0.3 - 1e-6 <= resumed.at - paused.at <= 0.4 + 0.3 + 2 * FRAME_S
    # No agent audio between the pause and the resume.
    between = [t for t, e in call.events if isinstance(e, AgentAudio)
               and paused.at < t < resumed.at]
    assert between == []
    (done,) = call.of(TurnCompleted)
    assert not done.interrupted and done.agent_text == LONG
    # The frames flushed downstream at the pause are sent again: every sample of the
    # reply reaches the caller once it resumes.
    last = [m for m in call.of(PlayoutMark) if m.turn == 1][-1]
    sent = sum(len(e.pcm) for e in call.of(AgentAudio))  # no greeting in this call
    assert sent - last.position >= FRAME_SAMPLES  # the flushed frames, sent again
    await call.close()


async def test_a_playout_mark_follows_the_audio_of_each_piece() -> None:
    call = await make_call([FakeReply("Sure, I can help with that. It is cheap.")],
                           ["I want life insurance"])
    await call.feed(SPEECH, 1.0)
    await call.feed(SILENCE, 4.0)
    marks = [(i, e) for i, (_, e) in enumerate(call.events) if isinstance(e, PlayoutMark)]
    assert [e.turn for _, e in marks] == [1] * len(marks) and len(marks) >= 2
    positions = [e.position for _, e in marks]
    assert positions == sorted(positions)
    sent = sum(len(e.pcm) for e in call.of(AgentAudio))
    assert 0 <= sent - positions[-1] < FRAME_SAMPLES  # the end of the reply (last frame padded)
    last_audio = max(i for i, (_, e) in enumerate(call.events) if isinstance(e, AgentAudio))
    assert marks[-1][0] > last_audio
    await call.close()


async def test_an_interrupted_reply_records_what_the_caller_side_confirmed_hearing() -> None:
    call = await make_call(
        [FakeReply(LONG, ttft_s=0.2, tokens_per_s=50), FakeReply("Of course.")],
        ["What is term life", "wait wait I have a question", "ok"],
    )
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 2.5)
    # The caller's side confirms only the first piece, 0.1 s ago (a slow line): what
    # was heard ends there (plus 0.1 s), not at what the server has sent.
    first = next(m for m in call.of(PlayoutMark) if m.turn == 1)
    call.pipeline.heard(1, first.position)
    await call.feed(SILENCE, 0.1)
    await call.feed(SPEECH, 1.0)
    (stop,) = call.of(Interrupted)
    first_text = next(e.text for e in call.of(AgentText) if e.turn == 1)
    assert stop.played_text.startswith(first_text)
    assert len(stop.played_text.split()) <= len(first_text.split()) + 3
    await call.close()


async def test_a_caller_who_hangs_up_mid_reply_leaves_the_exchange_recorded_as_heard() -> None:
    call = await make_call([FakeReply(LONG, ttft_s=0.2, tokens_per_s=50)],
                           ["What is term life"])
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 2.5)  # the agent is talking by now
    await call.close()
    (done,) = call.of(TurnCompleted)
    assert done.user_text == "What is term life" and done.interrupted
    assert done.agent_text and LONG.startswith(done.agent_text) and done.agent_text != LONG


async def test_a_hang_up_while_the_reply_is_still_written_stops_the_llm() -> None:
    # Nobody is left to hear the rest: the reply's LLM stream and synthesis stop at the
    # hang-up instead of running on (on a loaded server they held the CPU other calls
    # needed).
    call = await make_call([FakeReply(LONG, ttft_s=0.2, tokens_per_s=4)],
                           ["What is term life"])
    await call.feed(SPEECH, 0.8)
    await call.feed(SILENCE, 2.5)  # the first words play; the LLM is still writing
    assert call.of(AgentAudio)
    await call.close()
    (done,) = call.of(TurnCompleted)
    assert done.interrupted and done.agent_text != LONG
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not left, left


async def test_a_line_spoken_while_the_agent_settles_its_last_turn_is_answered() -> None:
    # The regression for a caller's line that got no answer: after the agent's audio had
    # played, its slow decisions about the turn (settle) still ran, the pipeline took the
    # agent for still talking, and the line was dropped as a backchannel.
    call = await make_call([FakeReply("Sure."), FakeReply("Of course.")],
                           ["I want life insurance", "How much is it per month"])
    clock = call.clock

    async def slow_settle(user_text: str) -> dict[str, str]:
        await clock.sleep(6.0)
        return {"outcome": "thinking"}

    call.responder.settle = slow_settle  # type: ignore[method-assign]
    await call.feed(SPEECH, 1.0)
    await call.feed(SILENCE, 2.0)  # "Sure." has played; settling goes on
    await call.feed(SPEECH, 1.5)  # the caller's next line
    await call.feed(SILENCE, 3.0)
    assert call.of(Backchannel) == []
    assert [e.text for e in call.of(UserTranscript) if e.final] == [
        "I want life insurance", "How much is it per month"]
    replies = [r for r in call.llm.requests if r.max_tokens > 1]
    assert len(replies) == 2 and replies[1].messages[-1].content == "How much is it per month"
    await call.feed(SILENCE, 8.0)
    assert [t.agent_text for t in call.of(TurnCompleted)] == ["Sure.", "Of course."]
    await call.close()


async def test_a_hang_up_does_not_wait_for_a_task_slow_to_stop() -> None:
    # A reply's LLM request still queued for a llama.cpp slot keeps its worker thread until
    # a slot frees, minutes on a loaded server: the hang-up tells it to stop and goes on
    # (before, the socket stayed open and the call kept its place under the cap).
    call = await make_call([], [])
    told = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            told.set()
            await asyncio.sleep(30)  # a worker thread waiting for its slot

    call.pipeline._spawn(slow_to_stop())
    (straggler,) = call.pipeline._background
    await asyncio.sleep(0)
    started = time.monotonic()
    await call.close()
    assert told.is_set()
    assert time.monotonic() - started < 5
    straggler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await straggler
