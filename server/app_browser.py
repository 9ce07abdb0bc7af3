"""The browser call socket (``/ws/call``): origin and token checks, the start message,
then frames in and the agent's audio and captions out (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from models.audio import PCM
from server.calls import Call
from server.experiments import UnknownArmError
from server.hub import Hub
from server.protocol import browser
from server.protocol.errors import CloseCode, ProtocolError
from server.socket_calls import admit, decoding, refuse, run_call
from voice.events import TurnCompleted

log = logging.getLogger(__name__)


def _origin_ok(ws: WebSocket, allowed: list[str]) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser: it authenticates by token
        return True
    if allowed:
        return origin in allowed
    return urlsplit(origin).netloc == ws.headers.get("host")


class _BrowserOut:
    def __init__(self, ws: WebSocket, codec: browser.BrowserCodec) -> None:
        self.ws, self.codec = ws, codec

    async def audio(self, pcm: PCM) -> None:
        await self.ws.send_bytes(self.codec.audio(pcm))

    async def transcript(self, text: str, final: bool) -> None:
        await self.ws.send_text(self.codec.transcript(text, final))

    async def agent_text(self, turn: int, text: str) -> None:
        await self.ws.send_text(self.codec.agent_text(turn, text))

    async def agent_info(self, turn: int, data: dict[str, Any]) -> None:
        await self.ws.send_text(self.codec.agent_info(turn, data))

    async def interrupt(self, turn: int, played_text: str) -> None:
        await self.ws.send_text(self.codec.interrupt(turn, played_text))

    async def pause(self, turn: int) -> None:
        await self.ws.send_text(self.codec.clear(turn))

    async def mark(self, turn: int, position: int) -> None:
        await self.ws.send_text(self.codec.mark(turn, position))

    async def turn(self, event: TurnCompleted) -> None:
        await self.ws.send_text(self.codec.turn(
            event.turn, event.user_text, event.agent_text, event.interrupted,
            event.timings.as_dict(),
        ))

    async def error(self, code: int, message: str) -> None:
        await self.ws.send_text(self.codec.error(code, message))


async def browser_ws(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    s = hub.settings.server
    codec = browser.BrowserCodec(s.max_frame_bytes)
    call_id = hub.new_call_id()

    async def refuse_(code: int, message: str) -> None:
        await refuse(ws, hub, code, message, text=codec.error(code, message))

    try:
        slot = admit(ws, hub, per_address=True)
    except ProtocolError as exc:
        await ws.accept()
        return await refuse_(exc.code, exc.message)
    with slot:
        await ws.accept()
        if not _origin_ok(ws, s.allowed_origins):
            return await refuse_(CloseCode.POLICY_VIOLATION, "origin not allowed")
        try:
            message = await asyncio.wait_for(ws.receive(), s.start_timeout_s)
            with decoding(call_id):
                start = _decode_browser(codec, message)
        except TimeoutError:
            return await refuse_(CloseCode.TIMEOUT, "no start message in time")
        except ProtocolError as exc:
            return await refuse_(exc.code, exc.message)
        except WebSocketDisconnect:
            return
        if not isinstance(start, browser.Start):
            return await refuse_(CloseCode.MALFORMED, "the first message must be start")
        token = start.token or (ws.query_params.get("token") if s.allow_query_token else None)
        if s.auth_token is not None and not hmac.compare_digest(
                (token or "").encode(), s.auth_token.encode()):  # constant time
            return await refuse_(CloseCode.POLICY_VIOLATION, "authentication failed")
        if hub.on_do_not_call(start.caller):
            return await refuse_(CloseCode.POLICY_VIOLATION, "caller is on the do-not-call list")
        if hub.draining:
            return await refuse_(CloseCode.GOING_AWAY, "server is shutting down")
        slot.started()
        try:
            placement = await hub.place(start.caller, call_id, start.variant)
        except UnknownArmError as exc:
            log.warning("browser call refused: %s", exc)
            return await refuse_(CloseCode.MALFORMED, str(exc))
        call = Call(hub, call_id, start.caller, placement, "browser", _BrowserOut(ws, codec))
        await run_call(call, lambda: _browser_reader(ws, codec, call), ws,
                        ready=codec.ready(call_id, call.variant, call.program_version),
                        end=lambda reason: codec.end(reason, _outcome(call)))  # type: ignore[arg-type]


def _decode_browser(
    codec: browser.BrowserCodec, message: MutableMapping[str, Any]
) -> browser.BrowserEvent:
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("bytes") is not None:
        return codec.receive_bytes(message["bytes"])
    return codec.receive_text(message.get("text") or "")


async def _browser_reader(ws: WebSocket, codec: browser.BrowserCodec, call: Call) -> None:
    while True:
        message = await ws.receive()
        with decoding(call.call_id):
            event = _decode_browser(codec, message)
        if isinstance(event, browser.Audio):
            call.push_audio(event.pcm16k)
        elif isinstance(event, browser.End):
            return call.finish("caller")
        elif isinstance(event, browser.Ping):
            await ws.send_text(codec.pong(event.id))
        elif isinstance(event, browser.Played):
            call.heard(event.turn, event.position)


def _outcome(call: Call) -> str | None:
    return call.agent.outcome.value if call.agent.outcome else None
