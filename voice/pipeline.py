"""VoicePipeline: caller audio in, agent audio and events out, for one call.

    push_audio ─► VAD ─► TurnDetector ──► streaming ASR session ─► finalize
                    └──► BargeInPolicy          (decodes while the caller talks)
    turn task:  responder.reply ─► ClauseChunker ─► TTS ─► 20 ms frames ─► pacer ─► events

The transport calls ``push_audio`` with caller audio as it arrives and forwards the
events of ``events()``. Agent audio is released at playback pace (a small lead ahead),
so on barge-in it stops within one frame and the tracker knows what was heard.

The caller's utterance under way is a ``voice.utterance.Utterance``; the agent's reply,
made by ``voice.reply.produce``, is a ``voice.reply.Reply``. This class wires them to the
turn detector, the barge-in policy and the pacer.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from pydantic import Field

from models.asr.base import ASR, ASRSession
from models.audio import HOUSE_RATE, PCM
from models.config import StrictModel
from models.tts.base import TTS
from models.vad.base import VAD
from voice.audio import FRAME_SAMPLES, Framer
from voice.bargein import BargeInConfig, BargeInPolicy
from voice.chunker import ChunkerConfig
from voice.clock import Clock, RealClock
from voice.events import (
    AgentAudio,
    AgentPaused,
    AgentResumed,
    AgentText,
    Backchannel,
    Interrupted,
    PipelineError,
    PipelineEvent,
    PlayoutMark,
    TurnCompleted,
    TurnTimings,
    UserSpeechStarted,
    UserTranscript,
)
from voice.greeting import GreetingCache
from voice.reply import Reply, produce
from voice.responder import Responder
from voice.turns import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnConfig,
    TurnDetector,
    TurnEnded,
)
from voice.utterance import Utterance

FRAME_S = FRAME_SAMPLES / HOUSE_RATE
_RECORDS = (TurnCompleted, Interrupted, PipelineError)
_CLOSE_WAIT_S = 1.0
"""How long a hang-up waits for the call's cancelled tasks. An LLM stream stops at its
next token, but a request still queued for a llama.cpp slot holds its worker thread until
the slot frees: on a loaded server that took minutes, and the socket stayed open and the
call counted as live (the 100-minute soak of 2026-12-07). Tasks past the wait finish on
their own (they were told to stop)."""
"""Events never dropped from a full queue: what the call's record is made of. They come
at most a few per turn, and turns only as fast as the caller's (rate-limited) audio."""


class PipelineConfig(StrictModel):
    """The ``[voice]`` settings section."""

    turn: TurnConfig = TurnConfig()
    barge_in: BargeInConfig = BargeInConfig()
    chunker: ChunkerConfig = ChunkerConfig()
    preroll_s: float = 0.3
    """Audio from before the detected onset that the ASR also hears."""
    output_lead_s: float = 0.06
    """Agent audio is released this far ahead of real time (jitter buffer downstream)."""
    listen: bool = True
    """Evaluate the caller's partial transcripts into the LLM while they speak (the turn
    end then pays only for the last words; on a CPU shared with the ASR it competes)."""
    turn_head: bool = False
    """Choose each pause's hang-over with the turn-completion head (``voice.endpoint``)
    instead of the punctuation rule: short when the words are finished, long when not."""
    max_queued_events: int = Field(1500, ge=16)
    """Events waiting for the transport at most (1500: 30 s of agent audio frames). Past
    it the transport has stopped taking them (a peer that does not read): new events are
    dropped, except the records (completed turns, interruptions, errors), which are kept."""


class VoicePipeline:
    def __init__(
        self,
        *,
        vad: VAD,
        asr: ASR,
        tts: TTS,
        responder: Responder,
        config: PipelineConfig | None = None,
        clock: Clock | None = None,
        greetings: GreetingCache | None = None,
        completion: Callable[[str], float] | None = None,
    ) -> None:
        """``completion``: the probability that a partial transcript is a finished turn
        (the turn-completion head), asked once per pause; None: the punctuation rule."""
        self.config = config or PipelineConfig()
        self._completion = completion
        self._vad = vad.stream()
        self._asr = asr
        self._tts = tts
        self._responder = responder
        self._clock: Clock = clock or RealClock()
        self._greetings = greetings or GreetingCache()
        self._turns = TurnDetector(self.config.turn)
        self._barge = BargeInPolicy(self.config.barge_in)
        self._framer = Framer()
        self._events: asyncio.Queue[PipelineEvent | None] = asyncio.Queue()
        self.dropped_events = 0
        """Events dropped because the transport stopped taking them (``_emit``)."""
        self._preroll: deque[PCM] = deque(maxlen=max(1, int(self.config.preroll_s / FRAME_S)))
        self._utterance: Utterance | None = None  # the caller's, under way
        self._prepared_pause: float | None = None  # the pause a user line was prepared for
        self._listening = False  # a partial user line is being evaluated
        self._carry = ""  # caller text whose reply was dropped before it was heard
        self._reply: Reply | None = None
        self._turn_index = 0
        self._wake = asyncio.Event()
        self._pacer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False
        # Frames released ahead of real time sit in the caller's buffer, unplayed.
        self._unplayed_frames = max(1, math.ceil(self.config.output_lead_s / FRAME_S))

    # -- public API ------------------------------------------------------------------
    async def start(self) -> None:
        """Start playback and speak the greeting (synthesized once per agent program)."""
        self._pacer = asyncio.create_task(self._pace())
        self._spawn(self._warm())
        text = self._responder.greeting
        if not text:
            return
        reply = Reply(0, "", TurnTimings())
        self._reply = reply
        pieces = await self._greetings.get(self._responder.cache_key, text, self._tts)
        for piece_text, pcm in pieces:
            reply.add_audio(piece_text, pcm, HOUSE_RATE)
            self._wake.set()
            self._emit(AgentText(0, piece_text))
        self._end_audio(reply)

    def push_audio(self, pcm: PCM) -> None:
        """Caller audio, 16 kHz mono int16, any length; call as it arrives."""
        if self._closed:
            return
        for frame in self._framer.push(np.asarray(pcm, dtype=np.int16)):
            self._on_frame(frame)

    def heard(self, turn: int, position: int) -> None:
        """The caller's side played reply ``turn`` up to ``position`` (an echoed
        ``PlayoutMark``): what the caller heard is known, not estimated."""
        reply = self._reply
        if reply is not None and reply.turn == turn:
            reply.heard = (position, self._clock.now())

    async def events(self) -> AsyncIterator[PipelineEvent]:
        """Everything the transport and the recorder need, in order, until ``aclose``."""
        while (event := await self._events.get()) is not None:
            yield event

    async def aclose(self) -> None:
        """Stop everything; completed turns were already reported as events."""
        if self._closed:
            return
        self._closed = True
        reply, self._reply = self._reply, None
        if reply is not None and (reply.user_text or reply.audible):
            # The caller hung up during a reply: the exchange is recorded as far as heard.
            reply.stop_audio(self._clock.now())
            self._record(reply, interrupted=True)
        # A reply still being written is stopped too (LLM stream, synthesis): nobody is
        # left to hear it, and on a loaded server it holds the CPU other calls need.
        tasks = [t for t in (self._pacer, *self._background,
                             reply.task if reply is not None else None) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_WAIT_S)
        for t in tasks:
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: a task that failed as it stopped is no news
        if self._utterance is not None:
            await self._utterance.session.aclose()
            self._utterance = None
        self._events.put_nowait(None)

    # -- caller side -----------------------------------------------------------------
    def _on_frame(self, frame: PCM) -> None:
        now = self._clock.now()
        self._preroll.append(frame)
        if (utterance := self._utterance) is not None:
            utterance.push(frame)
            self._poll_partial(utterance)
        for prob in self._vad.push(frame):
            self._on_vad(prob, now)

    def _on_vad(self, prob: float, now: float) -> None:
        window_s = self._vad.window_s
        if self._speaking_agent():
            reply = self._reply
            assert reply is not None
            if prob >= self.config.turn.start_threshold:
                interrupt = self._barge.on_speech(window_s, now)
                if interrupt is not None:
                    self._interrupt(now)
                elif reply.paused_at is None and self._barge.should_pause():
                    self._pause(reply, now)
            elif prob < self.config.turn.end_threshold:
                self._barge.caller_silent(window_s)
                if reply.paused_at is not None and self._barge.should_resume():
                    self._resume(reply, now)
        for event in self._turns.on_vad(prob, now, window_s):
            if isinstance(event, SpeechStarted):
                self._on_speech_started(event.at)
            elif isinstance(event, SpeechPaused):
                if self._utterance is not None:
                    self._utterance.pause(event.at)
            elif isinstance(event, SpeechResumed):
                if self._utterance is not None:
                    self._utterance.resume()
            elif isinstance(event, TurnEnded):
                self._on_turn_ended(event)

    def _on_speech_started(self, at: float) -> None:
        over_agent = self._speaking_agent()
        session = self._asr.session()
        started = self._clock.now() - len(self._preroll) * FRAME_S
        self._utterance = Utterance(session, self._preroll, started=started,
                                    over_agent=over_agent)
        self._emit(UserSpeechStarted(at))
        reply = self._reply
        if reply is not None and reply.turn > 0 and not reply.audible and reply.task is not None:
            # The caller went on talking before the reply was heard: drop it and answer
            # both utterances together.
            self._carry = (self._carry + " " + reply.user_text).strip()
            reply.task.cancel()
            self._reply = None

    def _poll_partial(self, utterance: Utterance) -> None:
        if (partial := utterance.new_partial()) is None:
            return
        text, covers = partial
        pause = utterance.paused_at
        line = (self._carry + " " + text).strip()
        covers_pause = pause is not None and covers >= pause - 0.05
        if covers_pause and pause != self._prepared_pause:
            # The decode started at the pause is in: likely the whole user line.
            self._prepared_pause = pause
            self._spawn(self._warm(line))
        elif (self.config.listen and pause is None and not self._listening
              and self._reply is None):
            # The caller is mid-sentence and the agent is quiet: evaluate what they said
            # so far, so the end of the turn only pays for its last words.
            self._listening = True
            self._spawn(self._listen(line))
        complete = (self._completion(line)
                    if self._completion is not None and covers_pause else None)
        self._turns.on_partial(text, covers, complete)
        self._barge.on_partial(text)
        self._emit(UserTranscript(text, final=False))

    def _on_turn_ended(self, event: TurnEnded) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            return
        session = utterance.session
        if self._speaking_agent():
            # Caller speech during agent speech that did not interrupt: a backchannel.
            self._barge.caller_silent()
            self._spawn(self._drop_backchannel(session))
            return
        self._turn_index += 1
        timings = TurnTimings(
            speech_start=event.speech_start,
            speech_end=event.speech_end,
            turn_decided=event.decided_at,
            end_reason=event.reason,
        )
        previous = self._reply
        if previous is not None:
            if previous.audible:  # fully played (else the agent would still be speaking)
                self._finish(previous, interrupted=False)
            else:
                self._carry = (self._carry + " " + previous.user_text).strip()
            if previous.task is not None:
                previous.task.cancel()
        reply = Reply(self._turn_index, "", timings)
        self._reply = reply
        reply.task = asyncio.create_task(self._run_turn(reply, session, utterance.over_agent))

    async def _warm(self, user_text: str | None = None) -> None:
        try:
            if user_text is None:
                await self._responder.warm()
            else:
                await self._responder.prepare(user_text)
        except Exception as exc:  # a failed warm-up only costs latency later
            self._emit(PipelineError(0, f"warm-up failed: {type(exc).__name__}: {exc}"))

    async def _listen(self, partial_text: str) -> None:
        try:
            await self._responder.listen(partial_text)
        except Exception as exc:  # a failed warm-up only costs latency later
            self._emit(PipelineError(0, f"warm-up failed: {type(exc).__name__}: {exc}"))
        finally:
            self._listening = False

    async def _drop_backchannel(self, session: ASRSession) -> None:
        text = (await session.finalize()).text
        await session.aclose()
        self._emit(Backchannel(text))

    # -- agent side ------------------------------------------------------------------
    def _speaking_agent(self) -> bool:
        return self._reply is not None and self._reply.speaking

    async def _run_turn(self, reply: Reply, session: ASRSession, over_agent: bool) -> None:
        t = reply.timings
        try:
            final = await session.finalize()
            await session.aclose()
            t.asr_final = self._clock.now()
            if over_agent and self._barge.is_backchannel(final.text):
                # Began as a backchannel over the agent and outlasted its speech.
                self._emit(Backchannel(final.text))
                final_text = ""
            else:
                final_text = final.text
            user_text = (self._carry + " " + final_text).strip()
            self._carry = ""
            if not user_text:
                reply.producing = False
                if self._reply is reply:
                    self._reply = None
                return
            reply.user_text = user_text
            self._emit(UserTranscript(final.text, final=True))
            await produce(reply, self._responder, self._tts, chunking=self.config.chunker,
                          clock=self._clock, emit=self._emit, wake=self._wake)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad turn must not end the call
            self._emit(PipelineError(reply.turn, f"{type(exc).__name__}: {exc}"))
            reply.frames.clear()
            if self._reply is reply:
                self._reply = None
        finally:
            self._end_audio(reply)

    def _end_audio(self, reply: Reply) -> None:
        """The reply's audio is complete: release the last, zero-padded frame."""
        reply.end_audio()
        self._wake.set()

    def _pause(self, reply: Reply, now: float) -> None:
        """Stop the agent's audio at once: the frames the caller has not played yet are
        flushed downstream and kept here, to resume from if this was not a barge-in."""
        reply.stop_audio(now)
        self._emit(AgentPaused(reply.turn, now))

    def _resume(self, reply: Reply, now: float) -> None:
        reply.paused_at = None
        self._emit(AgentResumed(reply.turn, now))
        self._wake.set()

    def _interrupt(self, now: float) -> None:
        reply = self._reply
        assert reply is not None
        reply.cut(now)
        self._reply = None
        self._barge.agent_stopped()
        played = reply.tracker.played_text()
        self._emit(Interrupted(reply.turn, now, played))
        self._finish(reply, interrupted=True)

    def _finish(self, reply: Reply, *, interrupted: bool) -> None:
        self._record(reply, interrupted=interrupted)
        self._spawn(self._warm())

    def _record(self, reply: Reply, *, interrupted: bool) -> None:
        completed = reply.completed(interrupted=interrupted)
        self._responder.commit(reply.user_text, completed.agent_text, interrupted)
        self._emit(completed)

    async def _pace(self) -> None:
        """Release agent frames at playback pace; finish replies once fully played."""
        lead = self.config.output_lead_s
        due = self._clock.now()
        while True:
            reply = self._reply
            if reply is None or not reply.frames or reply.paused_at is not None:
                if reply is not None and reply.finished:
                    self._reply = None
                    self._barge.agent_stopped()
                    if reply.tracker.queued:
                        self._finish(reply, interrupted=False)
                    continue
                self._wake.clear()
                await self._wake.wait()
                due = self._clock.now() - lead
                continue
            if not reply.audible:
                reply.timings.first_audio_out = self._clock.now()
                self._barge.agent_started()
            frame = reply.release(keep=self._unplayed_frames)
            self._emit(AgentAudio(frame))
            if reply.tracker.at_piece_end:
                self._emit(PlayoutMark(reply.turn, reply.tracker.played))
            due += FRAME_S
            delay = due - self._clock.now()
            if delay > 0:
                await self._clock.sleep(delay)

    # -- helpers ---------------------------------------------------------------------
    def _emit(self, event: PipelineEvent) -> None:
        if (self._events.qsize() >= self.config.max_queued_events
                and not isinstance(event, _RECORDS)):
            self.dropped_events += 1  # nobody is taking them; the records still go through
            return
        self._events.put_nowait(event)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

