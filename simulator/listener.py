"""The caller's ear, sans-I/O: what a synthetic caller has heard of the server so far.

Agent audio is played out on the caller's clock (a ``flush`` drops the unplayed tail),
Twilio marks fall due once the audio before them has played, and the server's texts,
turns and outcome are collected per ``Segment``. Events and times in, state out; the
async adapter is ``simulator.caller_line.CallerLine``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.audio import HOUSE_RATE, PCM
from simulator.wire import (
    AgentAudio,
    AgentInfo,
    AgentText,
    Ended,
    Flush,
    Mark,
    Protocol,
    Ready,
    ServerError,
    ServerEvent,
    Transcript,
    TurnDone,
)

NORMAL_CLOSES = frozenset({1000, 1001})
"""Close codes that end a Twilio stream on purpose (it has no ``end`` message)."""


@dataclass(slots=True)
class Segment:
    """Everything heard between two ``Listener.take`` calls."""

    audio: list[PCM] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    finals: list[str] = field(default_factory=list)
    turns: list[TurnDone] = field(default_factory=list)
    first_audio_at: float | None = None

    @property
    def pcm(self) -> PCM:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, dtype=np.int16)

    @property
    def agent_text(self) -> str | None:
        """What the server says the agent said (None: the protocol does not tell)."""
        if self.turns:
            return " ".join(t.agent_text for t in self.turns if t.agent_text).strip()
        return " ".join(self.texts).strip() if self.texts else None


class Listener:
    """The caller's ear: agent audio played out on the caller's clock, the server's
    texts, turns and outcome, and Twilio marks due back."""

    def __init__(self) -> None:
        self.ready: Ready | None = None
        self.ended: Ended | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = False
        self.outcome: str | None = None
        self.end_expected = False
        self.errors: list[ServerError] = []
        self.segment = Segment()
        self.playout_end = 0.0
        self.last_event_at = 0.0
        self.last_audio_at: float | None = None
        self.last_turn_at: float | None = None
        """A ``turn`` (or a failed turn's ``error``) that answers every final before it."""
        self._marks: deque[tuple[float, str]] = deque()

    def on_event(self, event: ServerEvent, now: float) -> None:
        self.last_event_at = now
        seg = self.segment
        if isinstance(event, AgentAudio):
            if seg.first_audio_at is None:
                seg.first_audio_at = now
            seg.audio.append(event.pcm)
            self.playout_end = max(self.playout_end, now) + len(event.pcm) / HOUSE_RATE
            self.last_audio_at = now
        elif isinstance(event, AgentText):
            seg.texts.append(event.text)
        elif isinstance(event, Mark):
            self._marks.append((self.playout_end, event.name))
        elif isinstance(event, Transcript):
            if event.final:
                seg.finals.append(event.text)
                self.last_turn_at = None  # this line is not answered yet
        elif isinstance(event, TurnDone):
            seg.turns.append(event)
            self.last_turn_at = now
        elif isinstance(event, AgentInfo):
            seg.info.update(event.data)
            if "outcome" in event.data:
                self.outcome = event.data["outcome"]
            self.end_expected |= bool(event.data.get("end_call"))
        elif isinstance(event, Flush):
            self._flush(now)
        elif isinstance(event, Ended):
            self.ended = event
            self.outcome = event.outcome or self.outcome
        elif isinstance(event, ServerError):
            self.errors.append(event)
            self.last_turn_at = now
        else:
            self.ready = event

    def _flush(self, now: float) -> None:
        unplayed = int(max(0.0, self.playout_end - now) * HOUSE_RATE)
        while unplayed > 0 and self.segment.audio:
            last = self.segment.audio.pop()
            if len(last) > unplayed:
                self.segment.audio.append(last[: len(last) - unplayed])
            unplayed -= len(last)
        self.playout_end = min(self.playout_end, now)
        self._marks = deque((now, name) for _, name in self._marks)  # cleared: all due

    def on_closed(self, code: int | None, reason: str) -> None:
        self.closed, self.close_code, self.close_reason = True, code, reason

    @property
    def finished(self) -> bool:
        """The call is over (ended, or the socket closed)."""
        return self.ended is not None or self.closed

    def dropped(self, protocol: Protocol) -> bool:
        """Closed without the server ending the call on purpose."""
        if not self.closed:
            return False
        if protocol == "twilio":
            return self.close_code not in NORMAL_CLOSES
        return self.ended is None or self.ended.reason == "error"

    def playing(self, now: float) -> bool:
        return now < self.playout_end

    def due_marks(self, now: float) -> list[str]:
        due = []
        while self._marks and self._marks[0][0] <= now:
            due.append(self._marks.popleft()[1])
        return due

    def reply_over(self, now: float, since: float, *, turns: bool, quiet_s: float,
                   settle_s: float) -> bool:
        """The agent's turn that began after ``since`` has been heard to its end: by the
        server's ``turn`` message when the protocol has one, else by ``quiet_s`` of
        silence after its audio."""
        if self.finished:
            return True
        if self.playing(now):
            return False
        if turns:
            answered = self.last_turn_at is not None and self.last_turn_at >= since
            return answered and now - self.last_event_at >= settle_s
        heard = self.last_audio_at is not None and self.last_audio_at >= since
        return heard and now - max(self.playout_end, self.last_event_at) >= quiet_s

    def take(self) -> Segment:
        seg, self.segment = self.segment, Segment()
        return seg
