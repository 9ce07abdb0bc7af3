"""Twilio Media Streams (bidirectional, ``<Connect><Stream>``) as a sans-I/O codec.

Twilio's JSON text frames in, typed events out; agent audio, marks and ``clear`` out as
JSON text. Audio on the wire is 8 kHz G.711 μ-law in base64; inside the house, 16 kHz
PCM. Also the request-signature check and the TwiML that opens the stream.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from pydantic import BaseModel, ConfigDict, Field

from agent.dialogue import CallerProfile
from models.audio import HOUSE_RATE, PCM
from server.protocol.errors import CloseCode, ProtocolError
from server.protocol.wire import dump, load_object, validate
from voice.audio import StreamResampler, ulaw_decode, ulaw_encode

TWILIO_RATE = 8_000
TWILIO_ENCODING = "audio/x-mulaw"
PROFILE_PARAMETERS = ("caller_id", "name", "occupation", "sector", "age", "gender")
"""customParameters that fill ``CallerProfile`` fields; the rest become attributes."""
DEFAULT_MAX_FRAME_BYTES = 64 * 1024
"""Same default as ``server.max_frame_bytes``."""
VARIANT_PARAMETER = "variant"
"""customParameter forcing an arm of the running A/B experiment (QA; recorded as forced)."""


# -- Events (Twilio → server) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str]
    caller: CallerProfile
    variant: str | None


@dataclass(frozen=True, slots=True, eq=False)  # eq on arrays is ambiguous
class Media:
    """Caller audio, decoded to 16 kHz; ``timestamp`` in ms since the stream started."""

    pcm16k: PCM
    chunk: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio played everything sent before the mark named ``name`` (or it was cleared)."""

    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream is over (caller hung up or the call left ``<Connect>``)."""


TwilioEvent = Connected | Start | Media | Mark | Dtmf | Stop


# -- Twilio's message shapes (camelCase on the wire; unknown fields ignored) -----------


class _Shape(BaseModel):
    # Twilio adds fields over time; ignoring unknown ones keeps old servers working.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Connected(_Shape):
    protocol: str
    version: str


class _MediaFormat(_Shape):
    encoding: str
    sample_rate: int = Field(alias="sampleRate")
    channels: int


class _StartBody(_Shape):
    account_sid: str = Field(alias="accountSid")
    stream_sid: str = Field(alias="streamSid")
    call_sid: str = Field(alias="callSid")
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")
    media_format: _MediaFormat = Field(alias="mediaFormat")


class _Start(_Shape):
    stream_sid: str = Field(alias="streamSid")
    start: _StartBody


class _MediaBody(_Shape):
    track: str = "inbound"
    chunk: int  # Twilio sends these two as decimal strings
    timestamp: int
    payload: str


class _Scoped(_Shape):
    """A message about one stream, named by its ``streamSid``."""

    stream_sid: str = Field(alias="streamSid")


class _Media(_Scoped):
    media: _MediaBody


class _Name(_Shape):
    name: str


class _Mark(_Scoped):
    mark: _Name


class _Digit(_Shape):
    digit: str = Field(min_length=1)


class _Dtmf(_Scoped):
    dtmf: _Digit


class _Stop(_Scoped):
    pass


_SHAPES: dict[str, type[_Shape]] = {
    "connected": _Connected,
    "start": _Start,
    "media": _Media,
    "mark": _Mark,
    "dtmf": _Dtmf,
    "stop": _Stop,
}


class TwilioCodec:
    """One Twilio stream's protocol state: before ``start``, streaming, stopped."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._start: Start | None = None
        self._stopped = False
        # One resampler per direction: filter state carries across 20 ms frames.
        self._up = StreamResampler(TWILIO_RATE, HOUSE_RATE)
        self._down = StreamResampler(HOUSE_RATE, TWILIO_RATE)

    @property
    def start(self) -> Start | None:
        """The accepted ``start`` message (None until then)."""
        return self._start

    @property
    def stopped(self) -> bool:
        return self._stopped

    # -- Receiving ------------------------------------------------------------------

    def receive(self, text: str) -> TwilioEvent:
        """One text frame from Twilio → its event; ``ProtocolError`` when it is wrong."""
        size = len(text.encode("utf-8"))
        if size > self.max_frame_bytes:
            raise ProtocolError(
                CloseCode.MESSAGE_TOO_BIG,
                f"frame of {size} bytes exceeds max_frame_bytes={self.max_frame_bytes}",
            )
        event, obj = load_object(text, "event")
        shape = _SHAPES.get(event)
        if shape is None:
            raise ProtocolError(CloseCode.MALFORMED, f"unknown Twilio event {event!r}")
        if self._stopped:
            raise ProtocolError(CloseCode.MALFORMED, f"{event!r} after 'stop'")
        if event == "start" and self._start is not None:
            raise ProtocolError(CloseCode.MALFORMED, "'start' sent twice")
        if event == "connected" and self._start is not None:
            raise ProtocolError(CloseCode.MALFORMED, "'connected' after 'start'")
        if event not in ("connected", "start") and self._start is None:
            raise ProtocolError(CloseCode.MALFORMED, f"{event!r} before 'start'")
        msg = validate(shape, obj, f"{event} message")
        if isinstance(msg, _Connected):
            return Connected(msg.protocol, msg.version)
        if isinstance(msg, _Start):
            self._start = _accept_start(msg)
            return self._start
        assert isinstance(msg, _Scoped)  # every other shape is about one stream
        ours = self._start.stream_sid if self._start else None
        if msg.stream_sid != ours:
            raise ProtocolError(
                CloseCode.MALFORMED, f"streamSid {msg.stream_sid!r} is not this stream's ({ours!r})"
            )
        if isinstance(msg, _Media):
            return _decode_media(msg.media, self._up)
        if isinstance(msg, _Mark):
            return Mark(msg.mark.name)
        if isinstance(msg, _Dtmf):
            return Dtmf(msg.dtmf.digit)
        self._stopped = True
        return Stop()

    # -- Sending --------------------------------------------------------------------

    def media(self, pcm16k: PCM) -> str:
        """Agent audio (16 kHz PCM) → a ``media`` message of base64 8 kHz μ-law."""
        payload = base64.b64encode(ulaw_encode(self._down.push(pcm16k)))
        return dump(
            {
                "event": "media",
                "streamSid": self._stream_sid(),
                "media": {"payload": payload.decode("ascii")},
            }
        )

    def mark(self, name: str) -> str:
        """Twilio echoes this mark once the audio sent before it has played."""
        return dump({"event": "mark", "streamSid": self._stream_sid(), "mark": {"name": name}})

    def clear(self) -> str:
        """Drop the agent audio Twilio has buffered (barge-in)."""
        return dump({"event": "clear", "streamSid": self._stream_sid()})

    def _stream_sid(self) -> str:
        if self._start is None:
            raise RuntimeError("no Twilio stream yet: send only after the 'start' event")
        return self._start.stream_sid


def _accept_start(msg: _Start) -> Start:
    body = msg.start
    if msg.stream_sid != body.stream_sid:
        raise ProtocolError(CloseCode.MALFORMED, "streamSid differs from start.streamSid")
    fmt = body.media_format
    if (fmt.encoding, fmt.sample_rate, fmt.channels) != (TWILIO_ENCODING, TWILIO_RATE, 1):
        raise ProtocolError(
            CloseCode.MALFORMED,
            f"unsupported mediaFormat {fmt.encoding} {fmt.sample_rate} Hz x{fmt.channels}; "
            f"expected {TWILIO_ENCODING} {TWILIO_RATE} Hz mono",
        )
    params = body.custom_parameters
    caller, variant = caller_from_parameters(params)
    return Start(body.stream_sid, body.call_sid, body.account_sid, params, caller, variant)


def _decode_media(media: _MediaBody, up: StreamResampler) -> Media:
    if media.track != "inbound":
        raise ProtocolError(
            CloseCode.MALFORMED, f"media on track {media.track!r}; only 'inbound' expected"
        )
    try:
        ulaw = base64.b64decode(media.payload, validate=True)
    except binascii.Error as exc:
        raise ProtocolError(CloseCode.MALFORMED, f"media.payload is not base64: {exc}") from None
    return Media(up.push(ulaw_decode(ulaw)), media.chunk, media.timestamp)


def caller_from_parameters(params: Mapping[str, str]) -> tuple[CallerProfile, str | None]:
    """``customParameters`` → (caller, forced A/B arm).

    Empty values count as absent (a TwiML ``<Parameter value=""/>`` for an unknown field).
    """
    fields = {k: v for k, v in params.items() if k in PROFILE_PARAMETERS and v != ""}
    extra = {
        k: v for k, v in params.items() if k not in PROFILE_PARAMETERS and k != VARIANT_PARAMETER
    }
    caller = validate(CallerProfile, {**fields, "attributes": extra}, "start.customParameters")
    return caller, params.get(VARIANT_PARAMETER) or None


# -- Webhook security and TwiML ----------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """The ``X-Twilio-Signature`` Twilio sends: base64 HMAC-SHA1 over the full URL, then
    (POST only) each form parameter as name+value, sorted by name."""
    fields = params or {}
    data = url + "".join(name + fields[name] for name in sorted(fields))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def valid_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str] | None, signature: str
) -> bool:
    """Constant-time check of an ``X-Twilio-Signature`` header value."""
    expected = twilio_signature(auth_token, url, params)
    # compare_digest on str rejects non-ASCII with TypeError; a header may hold anything.
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8"))


_DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}


def signed_url_variants(url: str) -> list[str]:
    """The spellings of ``url`` Twilio may have signed: as given, and with the scheme's
    default port removed or added (Twilio's own validators accept either)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:  # a Host header with a non-numeric port: only the URL as given
        return [url]
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url]
    if default is not None and port in (None, default):
        for netloc in (f"{prefix}{host}", f"{prefix}{host}:{default}"):
            variant = parts._replace(netloc=netloc).geturl()
            if variant not in variants:
                variants.append(variant)
    return variants


def valid_twilio_request(
    auth_token: str, urls: Sequence[str], params: Mapping[str, str] | None, signature: str
) -> bool:
    """Whether ``signature`` signs any of ``urls`` (each with its port variants) and
    ``params``; checked on every request, retries included (Twilio signs each the same)."""
    return any(
        valid_twilio_signature(auth_token, variant, params, signature)
        for url in urls
        for variant in signed_url_variants(url)
    )


# XML 1.0 forbids these characters even when escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Raw tabs and newlines in an attribute are normalised to spaces by XML parsers.
_ATTR_ENTITIES = {'"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}


def _attr(value: str) -> str:
    if bad := _XML_INVALID.search(value):
        # Name the character, not the value: parameters carry caller data.
        raise ValueError(f"character {bad.group()!r} at {bad.start()} cannot be sent in XML")
    return '"' + escape(value, _ATTR_ENTITIES) + '"'


def twiml_connect(stream_url: str, parameters: Mapping[str, str]) -> str:
    """TwiML that connects the call to a bidirectional stream at ``stream_url``, passing
    ``parameters`` to it as ``customParameters``."""
    params = "".join(
        f"<Parameter name={_attr(name)} value={_attr(value)}/>"
        for name, value in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={_attr(stream_url)}>{params}</Stream></Connect></Response>"
    )


def mark_name(turn: int, position: int) -> str:
    """The name of the mark sent after agent audio of reply ``turn`` up to ``position``
    (samples at 16 kHz from the reply's start)."""
    return f"turn{turn}-at{position}"


def parse_mark_name(name: str) -> tuple[int, int] | None:
    """(turn, position) of a mark this server named; None for any other name."""
    m = _MARK_NAME.fullmatch(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


_MARK_NAME = re.compile(r"turn(\d{1,9})-at(\d{1,12})")
