"""One live call: the agent, its voice pipeline, the record, and an outbound adapter.

Transports (browser websocket, Twilio Media Streams) decode caller audio into
``push_audio`` and implement ``Outbound`` to send what the pipeline produces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import wave
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.dialogue import CallerProfile
from models.audio import HOUSE_RATE, PCM
from models.llm.audio_input import listening_asr
from server.arms import Placement
from server.hub import Hub
from server.limits import AudioRate
from voice.events import (
    AgentAudio,
    AgentInfo,
    AgentPaused,
    AgentText,
    Interrupted,
    PipelineError,
    PlayoutMark,
    TurnCompleted,
    UserTranscript,
)
from voice.pipeline import VoicePipeline

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 10.0
"""A peer that takes nothing for this long is not reading: the call ends ("stalled")."""


class Outbound(Protocol):
    async def audio(self, pcm: PCM) -> None: ...

    async def transcript(self, text: str, final: bool) -> None: ...

    async def agent_text(self, turn: int, text: str) -> None: ...

    async def agent_info(self, turn: int, data: dict[str, Any]) -> None: ...

    async def interrupt(self, turn: int, played_text: str) -> None: ...

    async def pause(self, turn: int) -> None:
        """Drop agent audio buffered downstream now (caller speech over the agent)."""
        ...

    async def mark(self, turn: int, position: int) -> None:
        """A point in the agent's audio to have echoed once the caller has heard it."""
        ...

    async def turn(self, event: TurnCompleted) -> None: ...

    async def error(self, code: int, message: str) -> None: ...


class Call:
    def __init__(
        self,
        hub: Hub,
        call_id: str,
        caller: CallerProfile,
        placement: Placement,
        transport: str,
        out: Outbound,
    ) -> None:
        self.hub = hub
        self.call_id = call_id
        self.caller = caller
        self.placement = placement
        self.transport = transport
        self.out = out
        self.agent = hub.new_agent(caller, call_id, placement)
        kit = placement.kit
        self.pipeline = VoicePipeline(
            # An audio-input LLM hears each utterance itself (llm.openai.audio_input).
            vad=hub.vad, asr=listening_asr(hub.asr, kit.llm, call_id), tts=kit.tts,
            responder=self.agent,
            config=hub.settings.voice, greetings=kit.greetings, completion=hub.completion,
        )
        self.done = asyncio.Event()
        self.closed = asyncio.Event()
        self.end_reason = "caller"
        self._pump: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._closed = False
        self._peer_gone = False
        self._sending: asyncio.Future[None] | None = None
        srv = hub.settings.server
        self._rate = AudioRate(srv.max_audio_rate, srv.audio_burst_s, time.monotonic())
        self._recording: Recording | None = (
            Recording(hub.settings.data_dir / "recordings", call_id) if srv.record_audio
            else None
        )

    @property
    def program_version(self) -> str:
        return self.agent.program.version

    @property
    def variant(self) -> str | None:
        """The call's A/B arm (None outside an experiment): ``calls.variant``, ``ready``."""
        return self.placement.arm

    async def start(self) -> None:
        await self.hub.store.start_call(
            self.call_id, "live", self.caller, self.program_version, self.variant, self.transport
        )
        p = self.placement
        if p.assignment is not None and p.experiment is not None:
            a = p.assignment
            await self.hub.experiments.assign(
                self.call_id, p.experiment, a.arm, a.how, a.unit_key, p.epoch)
        self.hub.calls[self.call_id] = self
        self.hub.metrics.active_calls.inc()
        self._pump = asyncio.create_task(self._run_events())
        await self.pipeline.start()

    def push_audio(self, pcm: PCM) -> None:
        """Caller audio (16 kHz) as it arrives; ``ProtocolError`` 4429 when it arrives
        faster than ``server.max_audio_rate`` allows."""
        self._rate.take(len(pcm) / HOUSE_RATE, time.monotonic())
        if self._recording is not None:
            self._recording.write("caller", pcm)
        self.pipeline.push_audio(pcm)

    def heard(self, turn: int, position: int) -> None:
        """The caller's side confirmed playback of the agent's audio up to here."""
        self.pipeline.heard(turn, position)

    def finish(self, reason: str) -> None:
        """Ask the call to end (first reason wins)."""
        if reason == "hung_up":  # nobody to send to: stop a send waiting on the socket
            self._peer_gone = True
            if self._sending is not None:
                self._sending.cancel()
        if not self.done.is_set():
            self.end_reason = reason
            self.done.set()

    async def close(self) -> None:
        """Stop the pipeline and write the end of the record; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.pipeline.aclose()
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        caller_wav, agent_wav = (self._recording.close() if self._recording is not None
                                 else (None, None))
        await self.hub.store.finish_call(
            self.call_id, self.agent.outcome, self.agent.dialogue.outcome_intent,
            self.end_reason, caller_wav=caller_wav, agent_wav=agent_wav,
        )
        self.hub.calls.pop(self.call_id, None)
        self.hub.metrics.active_calls.dec()
        self.hub.metrics.calls.labels(transport=self.transport, reason=self.end_reason).inc()
        self.closed.set()

    async def _run_events(self) -> None:
        async for event in self.pipeline.events():
            try:
                await self._dispatch(event)
            except TimeoutError:
                log.info("call %s: the peer took nothing for %g s; ending the call",
                         self.call_id, SEND_TIMEOUT_S)
                self._peer_gone = True
                self.finish("stalled")
            except Exception:  # a vanished peer must not stop the records
                log.debug("outbound send failed on call %s", self.call_id, exc_info=True)
                self.finish("hung_up")

    async def _dispatch(self, event: object) -> None:
        if isinstance(event, AgentAudio):
            if self._recording is not None:
                self._recording.write("agent", event.pcm)
            await self._send(self.out.audio(event.pcm))
        elif isinstance(event, UserTranscript):
            await self._send(self.out.transcript(event.text, event.final))
        elif isinstance(event, AgentText):
            await self._send(self.out.agent_text(event.turn, event.text))
        elif isinstance(event, AgentInfo):
            await self._send(self.out.agent_info(event.turn, dict(event.data)))
        elif isinstance(event, PlayoutMark):
            await self._send(self.out.mark(event.turn, event.position))
        elif isinstance(event, AgentPaused):
            await self._send(self.out.pause(event.turn))
        elif isinstance(event, Interrupted):
            await self._send(self.out.interrupt(event.turn, event.played_text))
        elif isinstance(event, PipelineError):
            self.hub.metrics.errors.labels(code="pipeline").inc()
            await self._send(self.out.error(1011, event.message))
        elif isinstance(event, TurnCompleted):
            await self.hub.store.record_turn(self.call_id, event)  # persisted as it happens
            self.hub.metrics.observe_turn(event.timings, event.interrupted)
            await self._send(self.out.turn(event))
            if self.agent.ended:
                self.finish("agent")
    async def _send(self, sending: Coroutine[Any, Any, None]) -> None:
        """One message to the peer; TimeoutError when the peer has taken nothing for
        ``SEND_TIMEOUT_S`` (then nothing more is sent; the record goes on)."""
        if self._peer_gone:
            sending.close()
            return
        self._sending = task = asyncio.ensure_future(sending)
        try:
            done, _ = await asyncio.wait({task}, timeout=SEND_TIMEOUT_S)
        finally:
            self._sending = None
        if not done:
            task.cancel()
            raise TimeoutError
        if not task.cancelled():  # cancelled: the caller hung up meanwhile
            task.result()


class Recording:
    """Both sides of a call as WAV files, written as the audio comes (not held in RAM)."""

    def __init__(self, folder: Path, call_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = {side: folder / f"{call_id}-{side}.wav" for side in ("caller", "agent")}
        self._files: dict[str, wave.Wave_write] = {}
        for side, path in self.paths.items():
            w = wave.open(str(path), "wb")  # closed by close(), at the call's end
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(HOUSE_RATE)
            self._files[side] = w

    def write(self, side: str, pcm: PCM) -> None:
        if (w := self._files.get(side)) is not None:
            w.writeframesraw(np.asarray(pcm, dtype="<i2").tobytes())

    def close(self) -> tuple[str, str]:
        """Finish both files (their headers get the lengths); (caller, agent) paths."""
        for w in self._files.values():
            w.close()
        self._files.clear()
        return str(self.paths["caller"]), str(self.paths["agent"])
