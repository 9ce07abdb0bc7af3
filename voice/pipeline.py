"""VoicePipeline: caller audio in, agent audio and events out, for one call.

    push_audio ─► VAD ─► TurnDetector ──► streaming ASR session ─► finalize
                    └──► BargeInPolicy          (decodes while the caller talks)
    turn task:  responder.reply ─► ClauseChunker ─► TTS ─► 20 ms frames ─► pacer ─► events

The transport calls ``push_audio`` with caller audio as it arrives and forwards the
events of ``events()``. Agent audio is released at playback pace (a small lead ahead),
so on barge-in it stops within one frame and the tracker knows what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.asr.base import ASR, ASRSession
from models.audio import HOUSE_RATE, PCM, resample
from models.config import StrictModel
from models.tts.base import TTS
from models.vad.base import VAD
from voice.audio import FRAME_SAMPLES, Framer
from voice.bargein import BargeInConfig, BargeInPolicy
from voice.chunker import ChunkerConfig, ClauseChunker
from voice.clock import Clock, RealClock
from voice.events import (
    AgentAudio,
    AgentInfo,
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
from voice.playout import PlayoutTracker
from voice.responder import Responder
from voice.turns import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnConfig,
    TurnDetector,
    TurnEnded,
)

FRAME_S = FRAME_SAMPLES / HOUSE_RATE


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


@dataclass(slots=True)
class _Reply:
    """The agent's current reply: its audio queue, what was heard, its timings."""

    turn: int
    user_text: str
    timings: TurnTimings
    tracker: PlayoutTracker = field(default_factory=PlayoutTracker)
    frames: deque[PCM] = field(default_factory=deque)
    framer: Framer = field(default_factory=Framer)
    info: dict[str, Any] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    producing: bool = True
    """Its audio is still being made (LLM and TTS); the caller hears an agent talking
    until it is made and played."""
    settling: bool = False
    """Its audio is complete; decisions about the turn (``Responder.settle``) still run.
    The agent is not talking: a caller who speaks now starts a new turn."""
    paused_at: float | None = None
    """Caller speech over the reply stopped its audio (it may resume)."""
    recent: deque[PCM] = field(default_factory=deque)
    """The last frames released: still in the caller's buffer, flushed on a pause."""
    heard: tuple[int, float] | None = None
    """The last playback position the caller's side confirmed, and when."""

    @property
    def audible(self) -> bool:
        return self.tracker.played > 0


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
    ) -> None:
        self.config = config or PipelineConfig()
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
        self._preroll: deque[PCM] = deque(maxlen=max(1, int(self.config.preroll_s / FRAME_S)))
        self._session: ASRSession | None = None
        self._session_started = 0.0
        self._held: list[PCM] = []  # caller audio during a pause, pushed if speech resumes
        self._pause_at: float | None = None
        self._prepared_pause: float | None = None  # the pause a user line was prepared for
        self._listening = False  # a partial user line is being evaluated
        self._during_agent = False  # the caller's current utterance began over the agent
        self._last_partial = ""
        self._speech_start = 0.0
        self._carry = ""  # caller text whose reply was dropped before it was heard
        self._reply: _Reply | None = None
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
        reply = _Reply(0, "", TurnTimings())
        self._reply = reply
        pieces = await self._greetings.get(self._responder.cache_key, text, self._tts)
        for piece_text, pcm in pieces:
            self._enqueue_audio(reply, piece_text, pcm, HOUSE_RATE)
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
        reply = self._reply
        if reply is not None and (reply.user_text or reply.audible):
            # The caller hung up during a reply: the exchange is recorded as far as heard.
            self._reply = None
            self._stop_audio(reply, self._clock.now())
            self._record(reply, interrupted=True)
        tasks = [t for t in (self._pacer, *self._background) if t is not None]
        if self._reply is not None and self._reply.task is not None:
            tasks.append(self._reply.task)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._session is not None:
            await self._session.aclose()
            self._session = None
        self._events.put_nowait(None)

    # -- caller side -----------------------------------------------------------------
    def _on_frame(self, frame: PCM) -> None:
        now = self._clock.now()
        self._preroll.append(frame)
        if self._session is not None:
            # During a pause the ASR hears nothing more, so the decode started at the
            # pause stays complete; if the caller resumes, the held audio follows.
            if self._pause_at is None:
                self._session.push(frame)
            else:
                self._held.append(frame)
            self._poll_partial()
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
                self._pause_at = event.at
                if self._session is not None:
                    self._session.prefetch()
            elif isinstance(event, SpeechResumed):
                self._pause_at = None
                if self._session is not None:
                    for held in self._held:
                        self._session.push(held)
                self._held = []
            elif isinstance(event, TurnEnded):
                self._on_turn_ended(event)

    def _on_speech_started(self, at: float) -> None:
        self._speech_start = at
        self._pause_at = None
        self._held = []
        self._last_partial = ""
        self._during_agent = self._speaking_agent()
        self._session = self._asr.session()
        self._session_started = self._clock.now() - len(self._preroll) * FRAME_S
        for frame in self._preroll:
            self._session.push(frame)
        self._emit(UserSpeechStarted(at))
        reply = self._reply
        if reply is not None and reply.turn > 0 and not reply.audible and reply.task is not None:
            # The caller went on talking before the reply was heard: drop it and answer
            # both utterances together.
            self._carry = (self._carry + " " + reply.user_text).strip()
            reply.task.cancel()
            self._reply = None

    def _poll_partial(self) -> None:
        assert self._session is not None
        partial = self._session.partial()
        if partial is None or partial.text == self._last_partial:
            return
        self._last_partial = partial.text
        covers = self._session_started + partial.audio_s
        pause = self._pause_at
        if pause is not None and pause != self._prepared_pause and covers >= pause - 0.05:
            # The decode started at the pause is in: likely the whole user line.
            self._prepared_pause = pause
            self._spawn(self._warm((self._carry + " " + partial.text).strip()))
        elif (self.config.listen and pause is None and not self._listening
              and self._reply is None):
            # The caller is mid-sentence and the agent is quiet: evaluate what they said
            # so far, so the end of the turn only pays for its last words.
            self._listening = True
            self._spawn(self._listen((self._carry + " " + partial.text).strip()))
        self._turns.on_partial(partial.text, covers)
        self._barge.on_partial(partial.text)
        self._emit(UserTranscript(partial.text, final=False))

    def _on_turn_ended(self, event: TurnEnded) -> None:
        session, self._session = self._session, None
        self._held, self._pause_at = [], None
        if session is None:
            return
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
        reply = _Reply(self._turn_index, "", timings)
        self._reply = reply
        reply.task = asyncio.create_task(self._run_turn(reply, session, self._during_agent))

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
        r = self._reply
        return r is not None and r.audible and (r.producing or not r.tracker.done)

    async def _run_turn(self, reply: _Reply, session: ASRSession, over_agent: bool) -> None:
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
            await self._produce(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad turn must not end the call
            self._emit(PipelineError(reply.turn, f"{type(exc).__name__}: {exc}"))
            reply.frames.clear()
            if self._reply is reply:
                self._reply = None
        finally:
            self._end_audio(reply)

    async def _produce(self, reply: _Reply) -> None:
        """Stream the reply text into TTS piece by piece while the LLM goes on."""
        t = reply.timings
        chunker = ClauseChunker(self.config.chunker)
        pieces: asyncio.Queue[str | None] = asyncio.Queue()

        async def speak() -> None:
            while (text := await pieces.get()) is not None:
                first = True
                async for chunk in self._tts.stream(text):
                    if t.tts_first_audio is None:
                        t.tts_first_audio = self._clock.now()
                    piece = text if first else None
                    self._enqueue_audio(reply, piece, chunk.pcm, chunk.sample_rate)
                    first = False

        def piece_ready(text: str) -> None:
            if t.first_clause_ready is None:
                t.first_clause_ready = self._clock.now()
            self._emit(AgentText(reply.turn, text))
            pieces.put_nowait(text)

        speaker = asyncio.create_task(speak())
        try:
            gen = self._responder.reply(reply.user_text)
            try:
                async for piece in gen:
                    if not isinstance(piece, str):
                        reply.info.update(piece)
                        self._emit(AgentInfo(reply.turn, piece))
                        continue
                    if t.llm_first_token is None and piece.strip():
                        t.llm_first_token = self._clock.now()
                    for text in chunker.push(piece):
                        piece_ready(text)
            finally:
                await _aclose(gen)
            if (rest := chunker.flush()) is not None:
                piece_ready(rest)
            pieces.put_nowait(None)
            # Decisions about the turn run while its last pieces are spoken.
            settle = asyncio.create_task(self._responder.settle(reply.user_text))
            try:
                await speaker
                reply.settling = True
                self._end_audio(reply)
                try:
                    note = await settle
                except Exception as exc:  # the reply was said; only its decisions failed
                    self._emit(PipelineError(reply.turn, f"settle: {type(exc).__name__}: {exc}"))
                    note = {}
            finally:
                reply.settling = False
                if not settle.done():
                    settle.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await settle
            if note:
                reply.info.update(note)
                self._emit(AgentInfo(reply.turn, note))
            self._wake.set()  # the turn can complete once its audio has played
        finally:
            if not speaker.done():
                speaker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaker

    def _enqueue_audio(self, reply: _Reply, text: str | None, pcm: PCM, rate: int) -> None:
        """Queue TTS audio as 20 ms frames: a new piece (``text``) or more of the last."""
        pcm = resample(pcm, rate, HOUSE_RATE)
        if text is not None:
            reply.tracker.add(text, len(pcm))
        else:
            reply.tracker.extend(len(pcm))
        reply.frames.extend(reply.framer.push(pcm))
        self._wake.set()

    def _end_audio(self, reply: _Reply) -> None:
        """The reply's audio is complete: release the last, zero-padded frame."""
        if (last := reply.framer.flush()) is not None:
            reply.frames.append(last)
        reply.producing = False
        self._wake.set()

    def _pause(self, reply: _Reply, now: float) -> None:
        """Stop the agent's audio at once: the frames the caller has not played yet are
        flushed downstream and kept here, to resume from if this was not a barge-in."""
        self._stop_audio(reply, now)
        self._emit(AgentPaused(reply.turn, now))

    @staticmethod
    def _stop_audio(reply: _Reply, now: float) -> None:
        reply.paused_at = now
        unplayed = list(reply.recent)
        reply.recent.clear()
        reply.frames.extendleft(reversed(unplayed))
        reply.tracker.rewind(sum(len(f) for f in unplayed))

    def _resume(self, reply: _Reply, now: float) -> None:
        reply.paused_at = None
        self._emit(AgentResumed(reply.turn, now))
        self._wake.set()

    def _interrupt(self, now: float) -> None:
        reply = self._reply
        assert reply is not None
        if reply.paused_at is None:
            self._stop_audio(reply, now)
        if reply.heard is not None:
            # Confirmed playback, plus what played since then until the audio stopped.
            # (An echo that arrives after the audio stopped still confirms its position.)
            position, at = reply.heard
            stopped = reply.paused_at if reply.paused_at is not None else now
            reply.tracker.heard_to(position + round(max(0.0, stopped - at) * HOUSE_RATE))
        reply.frames.clear()  # nothing more is released: audio stops at the next frame
        reply.producing = False
        if reply.task is not None:
            reply.task.cancel()
        self._reply = None
        self._barge.agent_stopped()
        played = reply.tracker.played_text()
        self._emit(Interrupted(reply.turn, now, played))
        self._finish(reply, interrupted=True)

    def _finish(self, reply: _Reply, *, interrupted: bool) -> None:
        self._record(reply, interrupted=interrupted)
        self._spawn(self._warm())

    def _record(self, reply: _Reply, *, interrupted: bool) -> None:
        played = reply.tracker.played_text() if interrupted else reply.tracker.full_text()
        self._responder.commit(reply.user_text, played, interrupted)
        self._emit(
            TurnCompleted(
                reply.turn,
                reply.user_text,
                played,
                reply.tracker.full_text(),
                interrupted,
                reply.timings,
                dict(reply.info),
            )
        )

    async def _pace(self) -> None:
        """Release agent frames at playback pace; finish replies once fully played."""
        lead = self.config.output_lead_s
        due = self._clock.now()
        while True:
            reply = self._reply
            if reply is None or not reply.frames or reply.paused_at is not None:
                if (reply is not None and not reply.producing and not reply.settling
                        and reply.tracker.done):
                    self._reply = None
                    self._barge.agent_stopped()
                    if reply.tracker.queued:
                        self._finish(reply, interrupted=False)
                    continue
                self._wake.clear()
                await self._wake.wait()
                due = self._clock.now() - lead
                continue
            frame = reply.frames.popleft()
            if not reply.audible:
                reply.timings.first_audio_out = self._clock.now()
                self._barge.agent_started()
            reply.tracker.advance(len(frame))
            reply.recent.append(frame)
            if len(reply.recent) > self._unplayed_frames:
                reply.recent.popleft()
            self._emit(AgentAudio(frame))
            if reply.tracker.at_piece_end:
                self._emit(PlayoutMark(reply.turn, reply.tracker.played))
            due += FRAME_S
            delay = due - self._clock.now()
            if delay > 0:
                await self._clock.sleep(delay)

    # -- helpers ---------------------------------------------------------------------
    def _emit(self, event: PipelineEvent) -> None:
        self._events.put_nowait(event)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _aclose(gen: AsyncIterator[Any]) -> None:
    aclose = getattr(gen, "aclose", None)
    if aclose is not None:
        await aclose()

