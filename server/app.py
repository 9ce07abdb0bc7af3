"""The call server: browser and Twilio websockets, the call page, health and metrics;
the operator routes (API, dashboard) are ``server.api``.

Thin adapters between sockets and the sans-I/O codecs; calls run in ``server.calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from models.audio import PCM
from server import api
from server.calls import Call
from server.experiments import UnknownArmError
from server.hub import Hub
from server.protocol import browser, twilio
from server.protocol.errors import CloseCode, ProtocolError
from server.settings import Settings
from voice.events import TurnCompleted

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
_CLOSE_FOR_REASON = {
    "caller": CloseCode.NORMAL, "agent": CloseCode.NORMAL, "hung_up": CloseCode.NORMAL,
    "max_duration": CloseCode.TIMEOUT, "server_shutdown": CloseCode.GOING_AWAY,
    "error": CloseCode.MALFORMED,
}


def create_app(
    settings: Settings, hub: Hub | None = None, on_ready: Callable[[], None] | None = None
) -> Starlette:
    """The ASGI app. ``hub`` may be given (tests share one set of loaded models);
    ``on_ready`` runs once the models are loaded and calls can be taken."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = hub is None
        app.state.hub = hub if hub is not None else await Hub.create(settings)
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await drain(app.state.hub)
            if own:
                await app.state.hub.aclose()

    routes = [
        Route("/", lambda _: FileResponse(STATIC / "index.html")),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/twilio/voice", twilio_voice, methods=["POST"]),
        WebSocketRoute("/ws/call", browser_ws),
        WebSocketRoute("/twilio/stream", twilio_ws),
        *api.routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(app: Starlette, settings: Settings) -> None:
    """Run ``app`` with uvicorn; SIGTERM/SIGINT first drain the live calls (each told to
    end, its record completed, its socket closed with 1001), then stop the server."""
    import uvicorn

    s = settings.server

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            hub: Hub | None = getattr(app.state, "hub", None)
            if hub is None or hub.draining:
                super().handle_exit(sig, frame)
                return
            loop = asyncio.get_event_loop()

            async def drain_then_exit() -> None:
                await drain(hub)
                super(DrainingServer, self).handle_exit(sig, frame)

            loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_exit()))

    config = uvicorn.Config(
        app, host=s.host, port=s.port, log_level="warning",
        ws_ping_interval=s.keepalive_s, ws_ping_timeout=s.keepalive_s,
        ws_max_size=s.max_frame_bytes + 1024, timeout_graceful_shutdown=15,
    )
    DrainingServer(config).run()


async def drain(hub: Hub, timeout_s: float = 10.0) -> None:
    """SIGTERM: refuse new calls, tell live calls to end, wait for their records."""
    hub.draining = True
    calls = list(hub.calls.values())
    for call in calls:
        call.finish("server_shutdown")
    if calls:
        await asyncio.wait([asyncio.create_task(c.closed.wait()) for c in calls], timeout=timeout_s)


async def healthz(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    return JSONResponse(
        {"status": "draining" if hub.draining else "ok", "active_calls": len(hub.calls)}
    )


async def metrics(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    return Response(hub.metrics.render(), media_type="text/plain; version=0.0.4")


# -- browser ------------------------------------------------------------------------------


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


def _origin_ok(ws: WebSocket, allowed: list[str]) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser: it authenticates by token
        return True
    if allowed:
        return origin in allowed
    return urlsplit(origin).netloc == ws.headers.get("host")


async def _refuse(ws: WebSocket, hub: Hub, code: int, message: str, *, text: str | None) -> None:
    hub.metrics.rejected.labels(reason=str(code)).inc()
    hub.metrics.errors.labels(code=str(code)).inc()
    with contextlib.suppress(Exception):
        if text is not None:
            await ws.send_text(text)
        await ws.close(code, ProtocolError(CloseCode(code), message).reason)


async def browser_ws(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    s = hub.settings.server
    codec = browser.BrowserCodec(s.max_frame_bytes)
    await ws.accept()

    async def refuse(code: int, message: str) -> None:
        await _refuse(ws, hub, code, message, text=codec.error(code, message))

    if not _origin_ok(ws, s.allowed_origins):
        return await refuse(CloseCode.POLICY_VIOLATION, "origin not allowed")
    if hub.draining:
        return await refuse(CloseCode.GOING_AWAY, "server is shutting down")
    if len(hub.calls) >= s.max_concurrent_calls:
        return await refuse(CloseCode.TRY_AGAIN_LATER, "too many concurrent calls; try later")
    try:
        message = await asyncio.wait_for(ws.receive(), s.start_timeout_s)
        start = _decode_browser(codec, message)
    except TimeoutError:
        return await refuse(CloseCode.TIMEOUT, "no start message in time")
    except ProtocolError as exc:
        return await refuse(exc.code, exc.message)
    except WebSocketDisconnect:
        return
    if not isinstance(start, browser.Start):
        return await refuse(CloseCode.MALFORMED, "the first message must be start")
    token = start.token or (ws.query_params.get("token") if s.allow_query_token else None)
    if s.auth_token is not None and token != s.auth_token:
        return await refuse(CloseCode.POLICY_VIOLATION, "authentication failed")
    if hub.on_do_not_call(start.caller):
        return await refuse(CloseCode.POLICY_VIOLATION, "caller is on the do-not-call list")
    call_id = hub.new_call_id()
    try:
        placement = await hub.place(start.caller, call_id, start.variant)
    except UnknownArmError as exc:
        log.warning("browser call refused: %s", exc)
        return await refuse(CloseCode.MALFORMED, str(exc))
    call = Call(hub, call_id, start.caller, placement, "browser", _BrowserOut(ws, codec))
    await _run_call(call, lambda: _browser_reader(ws, codec, call), ws,
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
        event = _decode_browser(codec, await ws.receive())
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


# -- shared call loop ------------------------------------------------------------------


async def _run_call(
    call: Call,
    reader: Callable[[], Coroutine[Any, Any, None]],
    ws: WebSocket,
    *,
    ready: str | None,
    end: Callable[[str], str] | None,
) -> None:
    """Run a call until the caller, the agent, a limit or a shutdown ends it; the record
    is complete before the socket closes."""
    hub = call.hub
    close = CloseCode.NORMAL
    reason_text = ""
    read: asyncio.Task[None] | None = None
    try:
        await call.start()
        if ready is not None:
            await ws.send_text(ready)
        read = asyncio.create_task(reader())
        done = asyncio.create_task(call.done.wait())
        finished, _ = await asyncio.wait(
            {read, done}, timeout=hub.settings.server.max_call_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        done.cancel()
        if not finished:
            call.finish("max_duration")
        elif read in finished:
            exc = read.exception()
            if isinstance(exc, ProtocolError):
                hub.metrics.errors.labels(code=str(int(exc.code))).inc()
                close, reason_text = exc.code, exc.reason
                call.finish("error")
                with contextlib.suppress(Exception):
                    await call.out.error(int(exc.code), exc.message)
            elif isinstance(exc, WebSocketDisconnect):
                call.finish("hung_up")
            elif exc is not None:
                log.exception("reader failed on call %s", call.call_id, exc_info=exc)
                close = CloseCode.INTERNAL_ERROR
                call.finish("error")
            else:
                call.finish(call.end_reason)
        if close is CloseCode.NORMAL:
            close = _CLOSE_FOR_REASON.get(call.end_reason, CloseCode.NORMAL)
    finally:
        if read is not None and not read.done():
            read.cancel()
            with contextlib.suppress(BaseException):
                await read
        await call.close()  # the record is complete before the socket goes
        if ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                if end is not None:
                    await ws.send_text(end(call.end_reason))
                await ws.close(int(close), reason_text or call.end_reason)


# -- Twilio --------------------------------------------------------------------------------


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
    form = {k: str(v) for k, v in (await request.form()).items()}
    if s.twilio_auth_token is not None:
        signature = request.headers.get("x-twilio-signature", "")
        if not twilio.valid_twilio_signature(
            s.twilio_auth_token, _public_url(request, hub), form, signature
        ):
            return Response("invalid Twilio signature", status_code=403)
    base = s.public_url or str(request.base_url)
    stream = urlsplit(base)._replace(
        scheme="wss" if urlsplit(base).scheme == "https" else "ws", path="/twilio/stream"
    ).geturl()
    params = {"caller_id": form.get("From", "")}
    return Response(twilio.twiml_connect(stream, params), media_type="application/xml")


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


async def twilio_ws(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    s = hub.settings.server
    codec = twilio.TwilioCodec()
    if s.twilio_auth_token is not None:
        signature = ws.headers.get("x-twilio-signature", "")
        if not twilio.valid_twilio_signature(
            s.twilio_auth_token, _public_url(ws, hub), None, signature
        ):
            await ws.accept()
            return await _refuse(ws, hub, CloseCode.POLICY_VIOLATION, "invalid signature",
                                 text=None)
    await ws.accept()
    if hub.draining or len(hub.calls) >= s.max_concurrent_calls:
        code = CloseCode.GOING_AWAY if hub.draining else CloseCode.TRY_AGAIN_LATER
        return await _refuse(ws, hub, code, "not accepting calls", text=None)
    try:
        start = await asyncio.wait_for(_twilio_start(ws, codec), s.start_timeout_s)
    except TimeoutError:
        return await _refuse(ws, hub, CloseCode.TIMEOUT, "no start event in time", text=None)
    except ProtocolError as exc:
        return await _refuse(ws, hub, exc.code, exc.message, text=None)
    except WebSocketDisconnect:
        return
    if hub.on_do_not_call(start.caller):
        return await _refuse(ws, hub, CloseCode.POLICY_VIOLATION, "caller on do-not-call list",
                             text=None)
    call_id = hub.new_call_id()
    try:
        placement = await hub.place(start.caller, call_id, start.variant)
    except UnknownArmError as exc:  # Twilio shows no text: the log says why
        log.warning("Twilio call %s refused: %s", start.call_sid, exc)
        return await _refuse(ws, hub, CloseCode.MALFORMED, str(exc), text=None)
    call = Call(hub, call_id, start.caller, placement, "twilio", _TwilioOut(ws, codec))
    await _run_call(call, lambda: _twilio_reader(ws, codec, call), ws, ready=None, end=None)


async def _twilio_start(ws: WebSocket, codec: twilio.TwilioCodec) -> twilio.Start:
    while True:
        event = codec.receive(await ws.receive_text())
        if isinstance(event, twilio.Start):
            return event


async def _twilio_reader(ws: WebSocket, codec: twilio.TwilioCodec, call: Call) -> None:
    while True:
        event = codec.receive(await ws.receive_text())
        if isinstance(event, twilio.Media):
            call.push_audio(event.pcm16k)
        elif isinstance(event, twilio.Mark):
            if (heard := twilio.parse_mark_name(event.name)) is not None:
                call.heard(*heard)
        elif isinstance(event, twilio.Stop):
            return call.finish("caller")
