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
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.dialogue import CallerProfile
from models.audio import HOUSE_RATE, PCM
from models.llm.audio_input import listening_asr
from server.arms import Placement
from server.hub import Hub
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
        self._recording: dict[str, list[PCM]] | None = (
            {"caller": [], "agent": []} if hub.settings.server.record_audio else None
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
        if self._recording is not None:
            self._recording["caller"].append(pcm)
        self.pipeline.push_audio(pcm)

    def heard(self, turn: int, position: int) -> None:
        """The caller's side confirmed playback of the agent's audio up to here."""
        self.pipeline.heard(turn, position)

    def finish(self, reason: str) -> None:
        """Ask the call to end (first reason wins)."""
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
        caller_wav, agent_wav = self._write_audio()
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
            except Exception:  # a vanished peer must not stop the records
                log.debug("outbound send failed on call %s", self.call_id, exc_info=True)
                self.finish("hung_up")

    async def _dispatch(self, event: object) -> None:
        if isinstance(event, AgentAudio):
            if self._recording is not None:
                self._recording["agent"].append(event.pcm)
            await self.out.audio(event.pcm)
        elif isinstance(event, UserTranscript):
            await self.out.transcript(event.text, event.final)
        elif isinstance(event, AgentText):
            await self.out.agent_text(event.turn, event.text)
        elif isinstance(event, AgentInfo):
            await self.out.agent_info(event.turn, dict(event.data))
        elif isinstance(event, PlayoutMark):
            await self.out.mark(event.turn, event.position)
        elif isinstance(event, AgentPaused):
            await self.out.pause(event.turn)
        elif isinstance(event, Interrupted):
            await self.out.interrupt(event.turn, event.played_text)
        elif isinstance(event, PipelineError):
            self.hub.metrics.errors.labels(code="pipeline").inc()
            await self.out.error(1011, event.message)
        elif isinstance(event, TurnCompleted):
            await self.hub.store.record_turn(self.call_id, event)  # persisted as it happens
            self.hub.metrics.observe_turn(event.timings, event.interrupted)
            await self.out.turn(event)
            if self.agent.ended:
                self.finish("agent")

    def _write_audio(self) -> tuple[str | None, str | None]:
        if self._recording is None:
            return None, None
        folder = self.hub.settings.data_dir / "recordings"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for side in ("caller", "agent"):
            path = folder / f"{self.call_id}-{side}.wav"
            chunks = self._recording[side]
            _write_wav(path, np.concatenate(chunks) if chunks else np.zeros(0, np.int16))
            paths.append(str(path))
        return paths[0], paths[1]


def _write_wav(path: Path, pcm: PCM) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(HOUSE_RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
