"""The dial-in caller's side of the two call protocols (sans-I/O): ``BrowserWire`` and
``TwilioWire`` turn the server's frames into events and the caller's audio into frames.
Wire formats: docs/protocol.md."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from agent.dialogue import CallerProfile, Outcome
from models.audio import HOUSE_RATE, PCM
from models.errors import SalesvoiceError
from voice.audio import FRAME_MS, StreamResampler, ulaw_decode, ulaw_encode

Protocol = Literal["browser", "twilio"]
PATHS: dict[str, str] = {"browser": "/ws/call", "twilio": "/twilio/stream"}


class DialInError(SalesvoiceError):
    """The dial-in call failed: unreachable server, bad server message, no reply."""



def to_outcome(value: object) -> Outcome | None:
    """A server's outcome string → ``Outcome`` (None when absent or unknown)."""
    try:
        return Outcome(str(value)) if value else None
    except ValueError:
        return None


def endpoint(url: str, protocol: Protocol) -> str:
    """``url`` with the protocol's default path when it names none."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return parts._replace(path=PATHS[protocol]).geturl()
    return url


# -- What the server says, as the caller's side sees it --------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    call_id: str
    variant: str | None
    program_version: str


@dataclass(frozen=True, slots=True, eq=False)  # eq on arrays is ambiguous
class AgentAudio:
    pcm: PCM
    """16 kHz."""


@dataclass(frozen=True, slots=True)
class AgentText:
    turn: int
    text: str


@dataclass(frozen=True, slots=True)
class AgentInfo:
    turn: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class TurnDone:
    turn: int
    user_text: str
    agent_text: str
    interrupted: bool
    timings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Flush:
    """Drop agent audio not yet played (browser ``interrupt``, Twilio ``clear``)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """Echo ``name`` back once the audio sent before it has played."""

    name: str


@dataclass(frozen=True, slots=True)
class Ended:
    reason: str
    outcome: str | None


@dataclass(frozen=True, slots=True)
class ServerError:
    code: int
    message: str


ServerEvent = (Ready | AgentAudio | AgentText | AgentInfo | Transcript | TurnDone | Flush
               | Mark | Ended | ServerError)


def _json(message: str) -> dict[str, Any]:
    try:
        obj = json.loads(message)
    except json.JSONDecodeError as exc:
        raise DialInError(f"server sent a text frame that is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DialInError(f"server sent JSON that is not an object: {message[:80]!r}")
    return obj


# -- The client side of each protocol (sans-I/O) ---------------------------------------


class BrowserWire:
    """Browser protocol v1, caller side: 16 kHz PCM binary frames, JSON control."""

    protocol: Protocol = "browser"

    def opening(self, caller: CallerProfile, token: str | None,
                variant: str | None) -> list[str]:
        start: dict[str, Any] = {"type": "start", "version": 1, "sample_rate": HOUSE_RATE,
                                 "caller": caller.model_dump(mode="json", exclude_none=True)}
        if token is not None:
            start["token"] = token
        if variant is not None:
            start["variant"] = variant
        return [json.dumps(start)]

    def audio(self, frame: PCM) -> bytes:
        return frame.astype("<i2").tobytes()

    def mark_played(self, name: str) -> str:
        turn, position = name.split(":")
        return json.dumps({"type": "played", "turn": int(turn), "position": int(position)})

    def hangup(self) -> str:
        return json.dumps({"type": "end"})

    def receive(self, message: str | bytes) -> list[ServerEvent]:
        if isinstance(message, bytes):
            if len(message) % 2:
                raise DialInError(f"agent audio frame has an odd length ({len(message)} bytes)")
            return [AgentAudio(np.frombuffer(message, dtype="<i2").astype(np.int16))]
        obj = _json(message)
        kind = obj.get("type")
        try:
            return _browser_event(kind, obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise DialInError(f"server sent a malformed {kind!r} message: {exc!r}") from None


def _browser_event(kind: object, m: dict[str, Any]) -> list[ServerEvent]:
    if kind == "ready":
        return [Ready(str(m["call_id"]), m.get("variant"), str(m.get("program_version", "")))]
    if kind == "agent_text":
        return [AgentText(int(m["turn"]), str(m["text"]))]
    if kind == "agent_info":
        return [AgentInfo(int(m["turn"]), dict(m["data"]))]
    if kind == "transcript":
        return [Transcript(str(m["text"]), bool(m["final"]))]
    if kind == "turn":
        return [TurnDone(int(m["turn"]), str(m["user_text"]), str(m["agent_text"]),
                         bool(m["interrupted"]), dict(m.get("timings") or {}))]
    if kind in ("interrupt", "clear"):
        return [Flush()]
    if kind == "mark":
        return [Mark(f"{int(m['turn'])}:{int(m['position'])}")]
    if kind == "end":
        return [Ended(str(m["reason"]), m.get("outcome"))]
    if kind == "error":
        return [ServerError(int(m["code"]), str(m["message"]))]
    return []  # pong, and anything newer than this client


class TwilioWire:
    """Twilio Media Streams, caller side (playing Twilio): 8 kHz μ-law in base64 JSON."""

    protocol: Protocol = "twilio"

    def __init__(self) -> None:
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = "CA" + uuid.uuid4().hex
        self.account_sid = "AC" + "0" * 32
        self._sequence = 0
        self._chunk = 0
        # One resampler per direction: filter state carries across 20 ms frames.
        self._down = StreamResampler(HOUSE_RATE, 8000)
        self._up = StreamResampler(8000, HOUSE_RATE)

    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def opening(self, caller: CallerProfile, token: str | None,
                variant: str | None) -> list[str]:
        # Twilio has no token: its requests are signed instead (not simulated here).
        params = parameters(caller)
        if variant is not None:
            params["variant"] = variant
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = {
            "event": "start", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
            "start": {"accountSid": self.account_sid, "streamSid": self.stream_sid,
                      "callSid": self.call_sid, "tracks": ["inbound"],
                      "customParameters": params,
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}},
        }
        return [json.dumps(connected), json.dumps(start)]

    def audio(self, frame: PCM) -> str:
        payload = base64.b64encode(ulaw_encode(self._down.push(frame))).decode("ascii")
        self._chunk += 1
        return json.dumps({
            "event": "media", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
            "media": {"track": "inbound", "chunk": str(self._chunk),
                      "timestamp": str((self._chunk - 1) * FRAME_MS), "payload": payload},
        })

    def mark_played(self, name: str) -> str:
        return json.dumps({"event": "mark", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid, "mark": {"name": name}})

    def hangup(self) -> str:
        return json.dumps({"event": "stop", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid,
                           "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})

    def receive(self, message: str | bytes) -> list[ServerEvent]:
        if isinstance(message, bytes):
            raise DialInError("Twilio streams carry JSON text frames; the server sent binary")
        m = _json(message)
        event = m.get("event")
        if m.get("streamSid") != self.stream_sid:
            raise DialInError(f"server sent {event!r} for stream {m.get('streamSid')!r}, "
                              f"not ours ({self.stream_sid})")
        try:
            if event == "media":
                ulaw = base64.b64decode(m["media"]["payload"], validate=True)
                return [AgentAudio(self._up.push(ulaw_decode(ulaw)))]
            if event == "mark":
                return [Mark(str(m["mark"]["name"]))]
            if event == "clear":
                return [Flush()]
        except (KeyError, TypeError, binascii.Error) as exc:
            raise DialInError(f"server sent a malformed {event!r} event: {exc!r}") from None
        return []


def parameters(caller: CallerProfile) -> dict[str, str]:
    """A caller as Twilio ``customParameters`` (strings; nested attributes as JSON)."""
    fields = caller.model_dump(mode="json", exclude_none=True, exclude={"attributes"})
    out = {k: str(v) for k, v in fields.items()}
    for key, value in caller.attributes.items():
        out.setdefault(key, value if isinstance(value, str) else json.dumps(value))
    return out


# -- What the caller has heard (sans-I/O: events and times in) -------------------------
