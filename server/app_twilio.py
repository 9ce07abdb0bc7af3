"""Twilio Media Streams: the TwiML webhook (``POST /twilio/voice``) and the media-stream
socket (``/twilio/stream``), each signed by Twilio when ``twilio_auth_token`` is set."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from models.audio import PCM
from server.calls import Call
from server.experiments import UnknownArmError
from server.hub import Hub
from server.protocol import twilio
from server.protocol.errors import CloseCode, ProtocolError
from server.socket_calls import admit, decoding, refuse, run_call
from voice.events import TurnCompleted

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 64 * 1024
"""Largest body of POST /twilio/voice (Twilio's call webhooks are a few kB)."""


def _public_url(request: Request | WebSocket, hub: Hub) -> str:
    """The URL Twilio signed: the configured public base plus the request's path/query."""
    base = hub.settings.server.public_url
    if base is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


async def twilio_voice(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    s = hub.settings.server
    # Every request is checked, retries included: Twilio signs each attempt the same way.
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            return Response("request body too large", status_code=413)
    try:
        # Twilio posts application/x-www-form-urlencoded; the stdlib parses it.
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return Response("the body must be a UTF-8 form (application/x-www-form-urlencoded)",
                        status_code=400)
    if s.twilio_auth_token is not None:
        signature = request.headers.get("x-twilio-signature", "")
        if not twilio.valid_twilio_request(
            s.twilio_auth_token, [_public_url(request, hub)], form, signature
        ):
            return Response("invalid Twilio signature", status_code=403)
    params = {"caller_id": form.get("From", "")}
    try:
        twiml = twilio.twiml_connect(_stream_url(request, hub), params)
    except ValueError as exc:  # a caller id with characters XML cannot carry
        return Response(str(exc), status_code=400)
    return Response(twiml, media_type="application/xml")


class _TwilioOut:
    """Agent audio as μ-law media, a mark after each piece of it (Twilio echoes the mark
    when that audio has played: what the caller heard is known), and ``clear`` when the
    caller speaks over the agent."""

    def __init__(self, ws: WebSocket, codec: twilio.TwilioCodec) -> None:
        self.ws, self.codec = ws, codec

    async def audio(self, pcm: PCM) -> None:
        await self.ws.send_text(self.codec.media(pcm))

    async def transcript(self, text: str, final: bool) -> None:
        return None

    async def agent_text(self, turn: int, text: str) -> None:
        return None

    async def agent_info(self, turn: int, data: dict[str, Any]) -> None:
        return None

    async def mark(self, turn: int, position: int) -> None:
        await self.ws.send_text(self.codec.mark(twilio.mark_name(turn, position)))

    async def pause(self, turn: int) -> None:
        await self.ws.send_text(self.codec.clear())

    async def interrupt(self, turn: int, played_text: str) -> None:
        await self.ws.send_text(self.codec.clear())

    async def turn(self, event: TurnCompleted) -> None:
        return None

    async def error(self, code: int, message: str) -> None:
        return None


def _stream_url(request: Request | WebSocket, hub: Hub) -> str:
    """The media-stream URL this server gives Twilio in TwiML (always wss when the public
    base is https)."""
    base = hub.settings.server.public_url or str(request.base_url)
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    return parts._replace(scheme=scheme, path="/twilio/stream", query="").geturl()


def _twilio_signed(ws: WebSocket, hub: Hub, token: str) -> bool:
    """Twilio signs the websocket upgrade like a webhook: the ``<Stream>`` URL (wss), no
    parameters. Behind a TLS proxy the request arrives as ws://, so both are tried."""
    own = str(ws.url)
    urls = [_stream_url(ws, hub), own, urlsplit(own)._replace(scheme="wss").geturl()]
    signature = ws.headers.get("x-twilio-signature", "")
    return twilio.valid_twilio_request(token, urls, None, signature)


async def twilio_ws(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    s = hub.settings.server
    codec = twilio.TwilioCodec(s.max_frame_bytes)
    call_id = hub.new_call_id()
    signed = s.twilio_auth_token is not None
    if signed and not _twilio_signed(ws, hub, s.twilio_auth_token or ""):
        await ws.accept()
        return await refuse(ws, hub, CloseCode.POLICY_VIOLATION, "invalid signature", text=None)
    try:
        # Streams Twilio signed come from Twilio's media servers: not counted per address.
        slot = admit(ws, hub, per_address=not signed)
    except ProtocolError as exc:
        await ws.accept()
        return await refuse(ws, hub, exc.code, exc.message, text=None)
    with slot:
        await ws.accept()
        try:
            start = await asyncio.wait_for(_twilio_start(ws, codec, call_id), s.start_timeout_s)
        except TimeoutError:
            return await refuse(ws, hub, CloseCode.TIMEOUT, "no start event in time", text=None)
        except ProtocolError as exc:
            log.info("Twilio stream refused (call %s): %s", call_id, exc.message)
            return await refuse(ws, hub, exc.code, exc.message, text=None)
        except WebSocketDisconnect:
            return
        if hub.on_do_not_call(start.caller):
            return await refuse(ws, hub, CloseCode.POLICY_VIOLATION,
                                 "caller on do-not-call list", text=None)
        if hub.draining:
            return await refuse(ws, hub, CloseCode.GOING_AWAY, "server is shutting down",
                                 text=None)
        slot.started()
        try:
            placement = await hub.place(start.caller, call_id, start.variant)
        except UnknownArmError as exc:  # Twilio shows no text: the log says why
            log.warning("Twilio call %s refused: %s", start.call_sid, exc)
            return await refuse(ws, hub, CloseCode.MALFORMED, str(exc), text=None)
        call = Call(hub, call_id, start.caller, placement, "twilio", _TwilioOut(ws, codec))
        await run_call(call, lambda: _twilio_reader(ws, codec, call), ws, ready=None, end=None)


async def _twilio_event(ws: WebSocket, codec: twilio.TwilioCodec,
                        call_id: str) -> twilio.TwilioEvent:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        raise ProtocolError(CloseCode.UNSUPPORTED_DATA,
                            "binary frame; Twilio Media Streams messages are JSON text")
    with decoding(call_id):
        return codec.receive(message["text"])


async def _twilio_start(ws: WebSocket, codec: twilio.TwilioCodec, call_id: str) -> twilio.Start:
    while True:
        event = await _twilio_event(ws, codec, call_id)
        if isinstance(event, twilio.Start):
            return event


async def _twilio_reader(ws: WebSocket, codec: twilio.TwilioCodec, call: Call) -> None:
    while True:
        event = await _twilio_event(ws, codec, call.call_id)
        if isinstance(event, twilio.Media):
            call.push_audio(event.pcm16k)
        elif isinstance(event, twilio.Mark):
            if (heard := twilio.parse_mark_name(event.name)) is not None:
                call.heard(*heard)
        elif isinstance(event, twilio.Stop):
            return call.finish("caller")
