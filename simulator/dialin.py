"""Dial-in: the synthetic caller phones the real server.

The simulated user's lines are spoken (user TTS, optionally through a telephone line)
and streamed at real-time pace over the browser protocol (``/ws/call``) or Twilio Media
Streams (``/twilio/stream``), with silence between them as on any phone line. The
agent's audio is played out on a local clock and transcribed by the ASR for the user
model. Wire formats: docs/protocol.md.

``simulator/wire.py`` holds the client side of each protocol; ``Listener`` (what the
caller has heard) is sans-I/O too; ``DialIn`` is the thin async adapter that
implements ``simulator.runner.Conversation``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import websockets
from pydantic import Field, ValidationError
from websockets.asyncio.client import ClientConnection

from agent.dialogue import CallerProfile, Dialogue, SectorGuess, Thought, Turn
from models.asr.base import ASR
from models.audio import HOUSE_RATE, PCM
from models.config import StrictModel
from models.tts.base import TTS
from simulator.audio import LineSettings, TelephoneLine, speak
from simulator.runner import AgentReply, Heard
from simulator.wire import (
    AgentAudio,
    AgentInfo,
    AgentText,
    BrowserWire,
    DialInError,
    Ended,
    Flush,
    Mark,
    Protocol,
    Ready,
    ServerError,
    ServerEvent,
    Transcript,
    TurnDone,
    TwilioWire,
    endpoint,
    to_outcome,
)
from voice.audio import FRAME_MS, FRAME_SAMPLES, Framer
from voice.clock import Clock, RealClock
from voice.wer import line_wer

FRAME_S = FRAME_MS / 1000
NORMAL_CLOSES = frozenset({1000, 1001})
"""Close codes that end a Twilio stream on purpose (it has no ``end`` message)."""
_SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
_POLL_S = 0.1
"""Longest a wait sleeps without re-checking (real seconds); wake-ups come sooner."""



class CallDropped(DialInError):
    """The server closed the call without ending it (or refused it)."""

    def __init__(self, code: int | None, reason: str, detail: str = "") -> None:
        what = f"close code {code}" if code is not None else "no close code"
        text = f"the server dropped the call ({what}{': ' + reason if reason else ''})"
        super().__init__(text + (f"; {detail}" if detail else ""))
        self.code = code
        self.reason = reason


class NoReply(DialInError, TimeoutError):
    """The agent said nothing within the time limit."""


class DialInTimeouts(StrictModel):
    """Bounds on every wait of a dial-in call (seconds of the call's clock)."""

    connect_s: float = Field(10.0, gt=0)
    greeting_s: float = Field(30.0, gt=0)
    """Connect → greeting heard to its end."""
    reply_s: float = Field(60.0, gt=0)
    """End of the caller's line → agent reply heard to its end."""
    quiet_s: float = Field(1.0, gt=0)
    """Agent silence that ends its turn when the server does not say so (Twilio)."""
    settle_s: float = Field(0.3, ge=0)
    """After the server's ``turn`` message: room for a following ``end``."""
    close_s: float = Field(10.0, gt=0)


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


# -- The async adapter -------------------------------------------------------------------


class DialIn:
    """A ``Conversation`` with the real server: a synthetic caller on the wire.

    ``open`` dials and hears the greeting; ``say`` speaks a line and hears the reply;
    ``close`` hangs up and returns the call as the caller experienced it. An error in
    ``open`` or ``say`` tears the call down before it propagates; use ``async with``
    (or ``aclose``) to release the call when the dialogue is abandoned in between.
    """

    def __init__(
        self,
        url: str,
        *,
        protocol: Protocol = "browser",
        caller: CallerProfile | None = None,
        user_tts: TTS,
        asr: ASR,
        token: str | None = None,
        line: LineSettings | None = None,
        seed: int | str = 0,
        variant: str | None = None,
        timeouts: DialInTimeouts | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.url = endpoint(url, protocol)
        self.protocol: Protocol = protocol
        self.caller = caller or CallerProfile()
        self.timeouts = timeouts or DialInTimeouts()
        self.crossings: list[dict[str, Any]] = []
        self.turns: list[Turn] = []
        self._user_tts, self._asr = user_tts, asr
        self._token, self._variant = token, variant
        if line is not None and protocol == "twilio":
            line = line.model_copy(update={"telephone": False})  # the wire is the telephone
        self._line = TelephoneLine(line, seed) if line is not None else None
        self._clock: Clock = clock or RealClock()
        self._wire: BrowserWire | TwilioWire = BrowserWire() if protocol == "browser" else (
            TwilioWire())
        self._listener = Listener()
        self._ws: ClientConnection | None = None
        self._tx: asyncio.Task[None] | None = None
        self._rx: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._outbox: deque[PCM] = deque()
        self._speaking = False
        self._speech_end_at = 0.0
        self._wake = asyncio.Event()

    async def __aenter__(self) -> DialIn:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def call_id(self) -> str | None:
        """The server's id of the call (browser protocol; Twilio does not say)."""
        return self._listener.ready.call_id if self._listener.ready else None

    # -- Conversation ------------------------------------------------------------------

    async def open(self) -> Heard:
        if self._ws is not None:
            raise RuntimeError("DialIn.open() dials once; make a new DialIn per call")
        try:
            await self._connect()
            opened = self._clock.now()
            done = await self._until(lambda now: self._reply_over(now, opened),
                                     self.timeouts.greeting_s)
            seg = self._listener.take()
            if not done and not seg.audio:
                raise NoReply(f"no greeting from {self.url} within {self.timeouts.greeting_s} s")
            heard = await self._hear(seg, timed_out=not done)
            self.turns.append(self._agent_turn(seg, heard))
            return heard
        except BaseException:
            await self.aclose()
            raise

    async def say(self, text: str) -> AgentReply:
        if self._ws is None:
            raise RuntimeError("DialIn.say() before open()")
        try:
            return await self._say(text)
        except BaseException:
            await self.aclose()
            raise

    async def close(self) -> Dialogue:
        """Hang up (unless the server already ended the call) and return the call."""
        if self._ws is not None and not self._listener.finished and self._failure is None:
            await self._stop_sending()
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._ws.send(self._wire.hangup())
            assert self._rx is not None
            await asyncio.wait({self._rx}, timeout=self.timeouts.close_s)
        await self.aclose()
        return self.dialogue()

    async def aclose(self) -> None:
        """Release the call: stop the tasks, close the socket; idempotent."""
        await self._stop_sending()
        if self._rx is not None and not self._rx.done():
            self._rx.cancel()
            await asyncio.wait({self._rx})
        if self._ws is not None:
            await self._ws.close()  # bounded by close_timeout

    def dialogue(self) -> Dialogue:
        """The call as the caller experienced it so far."""
        ready, ended = self._listener.ready, self._listener.ended
        call_id = self.call_id
        metadata: dict[str, Any] = {
            "call_id": call_id, "protocol": self.protocol, "channel": list(self.crossings),
            "end_reason": ended.reason if ended else None,
            "close_code": self._listener.close_code,
        }
        if self._listener.errors:
            metadata["server_errors"] = [
                {"code": e.code, "message": e.message} for e in self._listener.errors]
        return Dialogue(
            id=call_id or (self._wire.call_sid if isinstance(self._wire, TwilioWire)
                           else f"dialin-{uuid.uuid4().hex[:12]}"),
            source="simulated", caller=self.caller,
            program_version=ready.program_version if ready else "unknown",
            variant=ready.variant if ready else self._variant,
            turns=list(self.turns), outcome=to_outcome(self._listener.outcome),
            metadata=metadata,
        )

    # -- one exchange ------------------------------------------------------------------

    async def _say(self, text: str) -> AgentReply:
        listen = self._listener
        if listen.finished:
            return AgentReply(Heard("", ""), to_outcome(listen.outcome), ended=True)
        t0 = self._clock.now()
        pcm = await speak(self._user_tts, text) if text.strip() else _SILENCE[:0]
        tts_s = self._clock.now() - t0
        if self._line is not None:
            pcm = self._line.carry(pcm)
        framer = Framer()
        frames = framer.push(pcm)
        if (last := framer.flush()) is not None:
            frames.append(last)
        if frames:
            self._speaking = True
            self._outbox.extend(frames)
        else:
            self._speech_end_at = self._clock.now()
        line_s = len(frames) * FRAME_S
        await self._until(lambda _: not self._speaking, line_s + self.timeouts.reply_s)
        spoken = self._speech_end_at
        done = await self._until(lambda now: self._reply_over(now, spoken),
                                 self.timeouts.reply_s)
        if listen.end_expected:  # the agent hangs up after this turn
            await self._until(lambda _: listen.finished, self.timeouts.close_s)
        seg = listen.take()
        if not done and not seg.audio:
            raise NoReply(f"no reply from the agent within {self.timeouts.reply_s} s of the "
                          f"caller's line {text!r}")
        finals = " ".join(seg.finals).strip() if self.protocol == "browser" else None
        self.crossings.append({
            "speaker": "user", "said": text, "heard": finals,
            "wer": round(line_wer(text, finals), 4) if finals is not None else None,
            "audio_s": round(len(pcm) / HOUSE_RATE, 3), "tts_s": round(tts_s, 3),
        })
        self.turns.append(Turn(speaker="user", text=text))
        heard = await self._hear(seg, timed_out=not done, spoken=spoken)
        self.turns.append(self._agent_turn(seg, heard))
        return AgentReply(heard, to_outcome(listen.outcome), ended=listen.finished)

    async def _hear(self, seg: Segment, *, timed_out: bool,
                    spoken: float | None = None) -> Heard:
        """ASR of the agent's audio; the crossing recorded."""
        pcm = seg.pcm
        t0 = self._clock.now()
        text = (await self._asr.transcribe(pcm)).text.strip() if len(pcm) else ""
        said = seg.agent_text
        timings = seg.turns[-1].timings if seg.turns else {}
        info: dict[str, Any] = {
            "wer": round(line_wer(said, text), 4) if said is not None else None,
            "audio_s": round(len(pcm) / HOUSE_RATE, 3),
            "asr_s": round(self._clock.now() - t0, 3),
            "voice_to_voice_s": timings.get("voice_to_voice_s"),
        }
        if spoken is not None and seg.first_audio_at is not None:
            info["reply_gap_s"] = round(seg.first_audio_at - spoken, 3)
        if timed_out:
            info["timed_out"] = True
        heard = Heard(text if said is None else said, text, info)
        self.crossings.append({"speaker": "agent", "said": heard.said, "heard": text, **info})
        return heard

    def _agent_turn(self, seg: Segment, heard: Heard) -> Turn:
        info = seg.info
        thought = _valid(Thought, info.get("thought"))
        sector = _valid(SectorGuess, info.get("sector"))
        strategy = info.get("strategy")
        return Turn(speaker="agent", text=heard.said, thought=thought, sector=sector,
                    strategy=strategy if isinstance(strategy, str) else None,
                    interrupted=any(t.interrupted for t in seg.turns),
                    timings=seg.turns[-1].timings if seg.turns else {})

    def _reply_over(self, now: float, since: float) -> bool:
        t = self.timeouts
        return self._listener.reply_over(now, since, turns=self.protocol == "browser",
                                         quiet_s=t.quiet_s, settle_s=t.settle_s)

    # -- the line ------------------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            self._ws = await websockets.connect(
                self.url, open_timeout=self.timeouts.connect_s,
                close_timeout=self.timeouts.close_s)
        except (OSError, TimeoutError, websockets.InvalidURI,
                websockets.InvalidHandshake) as exc:
            raise DialInError(f"cannot dial {self.url}: {exc}") from exc
        try:
            for message in self._wire.opening(self.caller, self._token, self._variant):
                await self._ws.send(message)
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            raise CallDropped(code, exc.rcvd.reason if exc.rcvd else "") from exc
        self._rx = asyncio.create_task(self._receive(self._ws))
        self._tx = asyncio.create_task(self._send(self._ws))

    async def _send(self, ws: ClientConnection) -> None:
        """One 20 ms frame per 20 ms, speech when queued, else silence; Twilio marks
        echoed once their audio has played."""
        due = self._clock.now()
        try:
            while True:
                frame = self._outbox.popleft() if self._outbox else _SILENCE
                await ws.send(self._wire.audio(frame))
                now = self._clock.now()
                if self._speaking and not self._outbox:
                    self._speaking, self._speech_end_at = False, now
                for name in self._listener.due_marks(now):
                    await ws.send(self._wire.mark_played(name))
                self._wake.set()
                due += FRAME_S
                await self._clock.sleep(max(0.0, due - now))
        except websockets.ConnectionClosed:
            pass  # the receiver records how the call closed
        except Exception as exc:
            self._failure = exc
        finally:
            self._wake.set()

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                for event in self._wire.receive(message):
                    self._listener.on_event(event, self._clock.now())
                self._wake.set()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:
            self._failure = exc
        finally:
            if ws.close_code is not None or self._failure is None:
                self._listener.on_closed(ws.close_code, ws.close_reason or "")
            self._wake.set()

    async def _stop_sending(self) -> None:
        if self._tx is not None and not self._tx.done():
            self._tx.cancel()
            await asyncio.wait({self._tx})

    async def _until(self, done: Callable[[float], bool], limit_s: float) -> bool:
        """Wait until ``done(now)`` or the limit (False); raise if the call broke."""
        deadline = self._clock.now() + limit_s
        while True:
            now = self._clock.now()
            if self._failure is not None:
                raise DialInError(f"dial-in call to {self.url} failed: {self._failure}") from (
                    self._failure)
            if self._listener.dropped(self.protocol):
                listen = self._listener
                detail = "; ".join(f"{e.code} {e.message}" for e in listen.errors)
                raise CallDropped(listen.close_code, listen.close_reason, detail)
            if done(now) or self._listener.finished:
                return True
            if now >= deadline:
                return False
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that lands as the event is set.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_POLL_S):
                    await self._wake.wait()


_M = TypeVar("_M", Thought, SectorGuess)


def _valid(model: type[_M], data: object) -> _M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
