"""The call server's ASGI app: its routes, its lifespan, serving and draining.

The sockets are thin adapters between the wire and the sans-I/O codecs:
``server.app_browser`` (/ws/call), ``server.app_twilio`` (/twilio/voice, /twilio/stream),
sharing ``server.socket_calls``; calls run in ``server.calls``; the operator routes (API,
dashboard) are ``server.api``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from server import api
from server.app_browser import browser_ws
from server.app_twilio import twilio_voice, twilio_ws
from server.hub import Hub
from server.settings import Settings

STATIC = Path(__file__).parent / "static"


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
    hub.metrics.tasks.set(len(asyncio.all_tasks()))
    return Response(hub.metrics.render(), media_type="text/plain; version=0.0.4")
