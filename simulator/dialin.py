"""Dial-in: the synthetic caller phones the real server.

The simulated user's lines are spoken (user TTS, optionally through a telephone line)
and streamed at real-time pace over the browser protocol (``/ws/call``) or Twilio Media
Streams (``/twilio/stream``), with silence between them as on any phone line. The
agent's audio is played out on a local clock and transcribed by the ASR for the user
model. Wire formats: docs/protocol.md.

``simulator/wire.py`` holds the client side of each protocol; ``simulator/listener.py``
(what the caller has heard) is sans-I/O too; ``simulator/caller_line.py`` dials, paces
and listens; ``DialIn`` turns that into ``simulator.runner.Conversation``: the user's
lines spoken, the agent's replies transcribed, the call recorded as a ``Dialogue``.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from agent.dialogue import CallerProfile, Dialogue, SectorGuess, Thought, Turn
from models.asr.base import ASR
from models.audio import HOUSE_RATE
from models.tts.base import TTS
from simulator.audio import LineSettings, TelephoneLine, speak
from simulator.caller_line import FRAME_S, CallerLine, DialInTimeouts
from simulator.listener import Segment
from simulator.runner import AgentReply, Heard
from simulator.wire import DialInError, Protocol, TwilioWire, to_outcome
from voice.audio import Framer
from voice.clock import Clock, RealClock
from voice.wer import line_wer


class NoReply(DialInError, TimeoutError):
    """The agent said nothing within the time limit."""


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
        self._call = CallerLine(url, protocol, timeouts=self.timeouts, clock=self._clock)
        self.url = self._call.url
        self._listener = self._call.listener
        self._speech_end_at = 0.0

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
        if self._call.dialed:
            raise RuntimeError("DialIn.open() dials once; make a new DialIn per call")
        try:
            await self._call.dial()
            await self._call.start(self.caller, self._token, self._variant)
            opened = self._clock.now()
            done = await self._call.until(lambda now: self._call.reply_over(now, opened),
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
        if not self._call.dialed:
            raise RuntimeError("DialIn.say() before open()")
        try:
            return await self._say(text)
        except BaseException:
            await self.aclose()
            raise

    async def close(self) -> Dialogue:
        """Hang up (unless the server already ended the call) and return the call."""
        call = self._call
        if call.dialed and not self._listener.finished and call.failure is None:
            await call.hang_up()
        await self.aclose()
        return self.dialogue()

    async def aclose(self) -> None:
        """Release the call: stop the tasks, close the socket; idempotent."""
        await self._call.aclose()

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
            id=call_id or (self._call.wire.call_sid if isinstance(self._call.wire, TwilioWire)
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
        pcm = await speak(self._user_tts, text) if text.strip() else np.zeros(0, np.int16)
        tts_s = self._clock.now() - t0
        if self._line is not None:
            pcm = self._line.carry(pcm)
        framer = Framer()
        frames = framer.push(pcm)
        if (last := framer.flush()) is not None:
            frames.append(last)
        if not frames:
            self._speech_end_at = self._clock.now()
        line_s = len(frames) * FRAME_S
        sent = await self._call.speak(frames, line_s + self.timeouts.reply_s)
        if frames and len(sent) == len(frames):
            self._speech_end_at = sent[-1]  # the end of the line: its last frame went out
        spoken = self._speech_end_at
        done = await self._call.until(lambda now: self._call.reply_over(now, spoken),
                                      self.timeouts.reply_s)
        if listen.end_expected:  # the agent hangs up after this turn
            await self._call.until(lambda _: listen.finished, self.timeouts.close_s)
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


_M = TypeVar("_M", Thought, SectorGuess)


def _valid(model: type[_M], data: object) -> _M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
