"""Browser protocol, version 1 (docs/protocol.md), as a sans-I/O codec.

Frames in (``receive_text`` / ``receive_bytes``), typed events out; server messages are
encoded by the ``ready`` ... ``end`` and ``audio`` methods. Nothing here touches a socket
or a clock: the websocket adapter feeds frames and closes with ``ProtocolError.code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict, Field

from agent.dialogue import CallerProfile
from models.audio import HOUSE_RATE, PCM, AudioChunk
from models.config import StrictModel
from server.protocol.errors import CloseCode, ProtocolError
from server.protocol.wire import dump, load_object, validate
from voice.audio import StreamResampler, pcm16_from_bytes

VERSION = 1
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000
DEFAULT_MAX_FRAME_BYTES = 64 * 1024
"""Same default as ``server.max_frame_bytes``."""

EndReason = Literal["caller", "agent", "max_duration", "server_shutdown", "error"]
PingId = str | int | None


# -- Events (client → server) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The call opens: who is calling, at which rate their audio comes."""

    version: int
    token: str | None = field(repr=False)  # a secret: keep it out of logs
    sample_rate: int
    caller: CallerProfile
    variant: str | None
    """An arm of the running A/B experiment the client forces (QA; recorded as forced)."""


@dataclass(frozen=True, slots=True, eq=False)  # eq on arrays is ambiguous
class Audio:
    """Caller audio, already at 16 kHz."""

    pcm16k: PCM


@dataclass(frozen=True, slots=True)
class End:
    """The caller hung up."""


@dataclass(frozen=True, slots=True)
class Ping:
    id: PingId = None


@dataclass(frozen=True, slots=True)
class Played:
    """The page played agent audio up to a ``mark`` the server sent (its echo)."""

    turn: int
    position: int


BrowserEvent = Start | Audio | End | Ping | Played


# -- Wire shapes of the text messages (validated, then turned into events) ------------


class _Message(StrictModel):
    # StrictModel rejects unknown fields (typos); strict: "16000" or true is not a rate.
    model_config = ConfigDict(strict=True)


class _StartMessage(_Message):
    type: Literal["start"]
    version: int
    token: str | None = None
    sample_rate: int = Field(HOUSE_RATE, ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE)
    caller: CallerProfile = Field(default_factory=CallerProfile)
    variant: str | None = None


class _EndMessage(_Message):
    type: Literal["end"]


class _PingMessage(_Message):
    type: Literal["ping"]
    id: PingId = None


class _PlayedMessage(_Message):
    type: Literal["played"]
    turn: int = Field(ge=0)
    position: int = Field(ge=0)


class BrowserCodec:
    """One browser call's protocol state: before ``start``, live, ended."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._start: Start | None = None
        self._ended = False
        self._resampler: StreamResampler | None = None  # per call: filter state persists

    @property
    def start(self) -> Start | None:
        """The accepted ``start`` message (None until then)."""
        return self._start

    @property
    def ended(self) -> bool:
        """The caller sent ``end``; any further message is out of order."""
        return self._ended

    # -- Receiving ------------------------------------------------------------------

    def receive_text(self, text: str) -> Start | End | Ping | Played:
        """One text frame → its event; ``ProtocolError`` when it breaks the protocol."""
        self._check_size(len(text.encode("utf-8")))
        kind, obj = load_object(text, "type")
        if kind not in ("start", "end", "ping", "played"):
            raise ProtocolError(CloseCode.MALFORMED, f"unknown message type {kind!r}")
        if self._ended:
            raise ProtocolError(CloseCode.MALFORMED, f"{kind!r} after 'end'")
        if self._start is None and kind != "start":
            raise ProtocolError(CloseCode.MALFORMED, f"first message must be 'start', got {kind!r}")
        if kind == "start":
            return self._receive_start(obj)
        if kind == "end":
            validate(_EndMessage, obj, "end message")
            self._ended = True
            return End()
        if kind == "played":
            played = validate(_PlayedMessage, obj, "played message")
            return Played(played.turn, played.position)
        return Ping(validate(_PingMessage, obj, "ping message").id)

    def receive_bytes(self, data: bytes) -> Audio:
        """One binary frame of caller PCM → 16 kHz audio."""
        if self._start is None:
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, "binary frame before 'start'")
        if self._ended:
            raise ProtocolError(CloseCode.MALFORMED, "audio after 'end'")
        self._check_size(len(data))
        try:
            pcm = pcm16_from_bytes(data)
        except ValueError as exc:
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, str(exc)) from None
        assert self._resampler is not None
        return Audio(self._resampler.push(pcm))

    def _receive_start(self, obj: dict[str, Any]) -> Start:
        if self._start is not None:
            raise ProtocolError(CloseCode.MALFORMED, "'start' sent twice")
        msg = validate(_StartMessage, obj, "start message")
        if msg.version != VERSION:
            raise ProtocolError(
                CloseCode.MALFORMED,
                f"unsupported protocol version {msg.version}; this server speaks {VERSION}",
            )
        self._start = Start(msg.version, msg.token, msg.sample_rate, msg.caller, msg.variant)
        self._resampler = StreamResampler(msg.sample_rate, HOUSE_RATE)
        return self._start

    def _check_size(self, size: int) -> None:
        if size > self.max_frame_bytes:
            raise ProtocolError(
                CloseCode.MESSAGE_TOO_BIG,
                f"frame of {size} bytes exceeds max_frame_bytes={self.max_frame_bytes}",
            )

    # -- Sending --------------------------------------------------------------------

    def ready(self, call_id: str, variant: str | None, program_version: str) -> str:
        return dump(
            {
                "type": "ready",
                "version": VERSION,
                "call_id": call_id,
                "sample_rate": HOUSE_RATE,
                "variant": variant,
                "program_version": program_version,
            }
        )

    def transcript(self, text: str, final: bool) -> str:
        return dump({"type": "transcript", "text": text, "final": final})

    def agent_text(self, turn: int, text: str) -> str:
        return dump({"type": "agent_text", "turn": turn, "text": text})

    def agent_info(self, turn: int, data: Mapping[str, Any]) -> str:
        """Operator-panel data; ``data`` must be JSON-serialisable."""
        return dump({"type": "agent_info", "turn": turn, "data": dict(data)})

    def interrupt(self, turn: int, played_text: str) -> str:
        return dump({"type": "interrupt", "turn": turn, "played_text": played_text})

    def clear(self, turn: int) -> str:
        """Caller speech over the agent: drop queued agent audio now (it may resume)."""
        return dump({"type": "clear", "turn": turn})

    def mark(self, turn: int, position: int) -> str:
        """Sent after a piece of agent audio; the page echoes it (``played``) once its
        playback reaches this point."""
        return dump({"type": "mark", "turn": turn, "position": position})

    def turn(
        self,
        turn: int,
        user_text: str,
        agent_text: str,
        interrupted: bool,
        timings: Mapping[str, Any],
    ) -> str:
        """A completed exchange; ``timings`` in seconds (e.g. ``TurnTimings.as_dict()``)."""
        return dump(
            {
                "type": "turn",
                "turn": turn,
                "user_text": user_text,
                "agent_text": agent_text,
                "interrupted": interrupted,
                "timings": dict(timings),
            }
        )

    def error(self, code: int, message: str) -> str:
        return dump({"type": "error", "code": int(code), "message": message})

    def pong(self, id: PingId) -> str:
        return dump({"type": "pong", "id": id})

    def end(self, reason: EndReason, outcome: str | None) -> str:
        return dump({"type": "end", "reason": reason, "outcome": outcome})

    def audio(self, pcm16k: PCM) -> bytes:
        """Agent audio (16 kHz) → a binary frame of little-endian int16."""
        return AudioChunk(pcm16k, HOUSE_RATE).to_bytes()
