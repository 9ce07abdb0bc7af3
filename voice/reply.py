"""One agent reply on its way to the caller: made, released, paused or cut, and heard.

``Reply`` is the bookkeeping, with no I/O of its own: the audio queue (20 ms frames),
the frames released but maybe not yet played, what the caller heard, the turn's
timings. ``produce`` makes a reply's audio: responder text ─► ClauseChunker ─► TTS ─►
frames, each piece synthesized while the LLM goes on writing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.aio import aclose_iterator
from models.audio import HOUSE_RATE, PCM, resample
from models.tts.base import TTS
from voice.audio import Framer
from voice.chunker import ChunkerConfig, ClauseChunker
from voice.clock import Clock
from voice.events import (
    AgentInfo,
    AgentText,
    PipelineError,
    PipelineEvent,
    TurnCompleted,
    TurnTimings,
)
from voice.playout import PlayoutTracker
from voice.responder import Responder


@dataclass(slots=True)
class Reply:
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

    @property
    def speaking(self) -> bool:
        """The caller hears the agent talking: heard, and not yet all made and played."""
        return self.audible and (self.producing or not self.tracker.done)

    @property
    def finished(self) -> bool:
        """Made, decided about and fully played."""
        return not self.producing and not self.settling and self.tracker.done

    def add_audio(self, text: str | None, pcm: PCM, rate: int) -> None:
        """Queue TTS audio as 20 ms frames: a new piece (``text``) or more of the last."""
        pcm = resample(pcm, rate, HOUSE_RATE)
        if text is not None:
            self.tracker.add(text, len(pcm))
        else:
            self.tracker.extend(len(pcm))
        self.frames.extend(self.framer.push(pcm))

    def end_audio(self) -> None:
        """The audio is complete: queue the last, zero-padded frame."""
        if (last := self.framer.flush()) is not None:
            self.frames.append(last)
        self.producing = False

    def release(self, keep: int) -> PCM:
        """The next frame for the caller, counted as played; the last ``keep`` frames
        released stay in ``recent`` (the caller's side may not have played them yet)."""
        frame = self.frames.popleft()
        self.tracker.advance(len(frame))
        self.recent.append(frame)
        if len(self.recent) > keep:
            self.recent.popleft()
        return frame

    def stop_audio(self, now: float) -> None:
        """Release nothing more: the frames released but maybe not played go back to
        the front of the queue, no longer counted as played (to resume from)."""
        self.paused_at = now
        unplayed = list(self.recent)
        self.recent.clear()
        self.frames.extendleft(reversed(unplayed))
        self.tracker.rewind(sum(len(f) for f in unplayed))

    def cut(self, now: float) -> None:
        """Barge-in: the audio stops at the next frame and no more is made; what was
        heard is settled from the last playback position the caller's side confirmed."""
        if self.paused_at is None:
            self.stop_audio(now)
        if self.heard is not None:
            # Confirmed playback, plus what played since then until the audio stopped.
            # (An echo that arrives after the audio stopped still confirms its position.)
            position, at = self.heard
            stopped = self.paused_at if self.paused_at is not None else now
            self.tracker.heard_to(position + round(max(0.0, stopped - at) * HOUSE_RATE))
        self.frames.clear()  # nothing more is released: audio stops at the next frame
        self.producing = False
        if self.task is not None:
            self.task.cancel()

    def completed(self, *, interrupted: bool) -> TurnCompleted:
        """The finished exchange; the caller heard all of it unless ``interrupted``."""
        played = self.tracker.played_text() if interrupted else self.tracker.full_text()
        return TurnCompleted(
            self.turn,
            self.user_text,
            played,
            self.tracker.full_text(),
            interrupted,
            self.timings,
            dict(self.info),
        )


async def produce(
    reply: Reply,
    responder: Responder,
    tts: TTS,
    *,
    chunking: ChunkerConfig,
    clock: Clock,
    emit: Callable[[PipelineEvent], None],
    wake: asyncio.Event,
) -> None:
    """Stream the reply text into TTS piece by piece while the LLM goes on.

    ``chunking`` says where the text is cut for TTS; pieces and notes are reported
    through ``emit``; ``wake`` is set whenever there is new audio to play or the reply
    may be complete. ``responder.settle`` decides about the turn while its last pieces
    are spoken.
    """
    t = reply.timings
    chunker = ClauseChunker(chunking)
    pieces: asyncio.Queue[str | None] = asyncio.Queue()

    async def speak() -> None:
        while (text := await pieces.get()) is not None:
            first = True
            async for chunk in tts.stream(text):
                if t.tts_first_audio is None:
                    t.tts_first_audio = clock.now()
                piece = text if first else None
                reply.add_audio(piece, chunk.pcm, chunk.sample_rate)
                wake.set()
                first = False

    def piece_ready(text: str) -> None:
        if t.first_clause_ready is None:
            t.first_clause_ready = clock.now()
        emit(AgentText(reply.turn, text))
        pieces.put_nowait(text)

    speaker = asyncio.create_task(speak())
    try:
        gen = responder.reply(reply.user_text)
        try:
            async for piece in gen:
                if not isinstance(piece, str):
                    reply.info.update(piece)
                    emit(AgentInfo(reply.turn, piece))
                    continue
                if t.llm_first_token is None and piece.strip():
                    t.llm_first_token = clock.now()
                for text in chunker.push(piece):
                    piece_ready(text)
        finally:
            await aclose_iterator(gen)
        if (rest := chunker.flush()) is not None:
            piece_ready(rest)
        pieces.put_nowait(None)
        # Decisions about the turn run while its last pieces are spoken.
        settle = asyncio.create_task(responder.settle(reply.user_text))
        try:
            await speaker
            reply.settling = True
            reply.end_audio()
            wake.set()
            try:
                note = await settle
            except Exception as exc:  # the reply was said; only its decisions failed
                emit(PipelineError(reply.turn, f"settle: {type(exc).__name__}: {exc}"))
                note = {}
        finally:
            reply.settling = False
            if not settle.done():
                settle.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await settle
        if note:
            reply.info.update(note)
            emit(AgentInfo(reply.turn, note))
        wake.set()  # the turn can complete once its audio has played
    finally:
        if not speaker.done():
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speaker
