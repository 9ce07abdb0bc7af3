"""What the browser and Twilio sockets share: taking a call slot, refusing a socket with a
documented close code, total frame decoding, and the loop that runs a call until it ends
(its record complete before the socket closes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.calls import SEND_TIMEOUT_S, Call
from server.hub import Hub
from server.limits import Slot
from server.protocol.errors import CloseCode, ProtocolError

log = logging.getLogger(__name__)
CLOSE_FOR_REASON = {
    "caller": CloseCode.NORMAL, "agent": CloseCode.NORMAL, "hung_up": CloseCode.NORMAL,
    "max_duration": CloseCode.TIMEOUT, "server_shutdown": CloseCode.GOING_AWAY,
    "error": CloseCode.MALFORMED, "stalled": CloseCode.TIMEOUT,
}


async def refuse(ws: WebSocket, hub: Hub, code: int, message: str, *, text: str | None) -> None:
    hub.metrics.rejected.labels(reason=str(code)).inc()
    hub.metrics.errors.labels(code=str(code)).inc()
    with contextlib.suppress(Exception):
        if text is not None:
            await ws.send_text(text)
        await ws.close(code, ProtocolError(CloseCode(code), message).reason)


def admit(ws: WebSocket, hub: Hub, *, per_address: bool) -> Slot:
    """The socket's call slot, taken before its first ``await`` (``ProtocolError`` 1001 or
    1013 when refused): sockets opened together are counted one by one."""
    if hub.draining:
        raise ProtocolError(CloseCode.GOING_AWAY, "server is shutting down")
    address = ws.client.host if per_address and ws.client is not None else None
    return hub.admission.admit(address)


@contextlib.contextmanager
def decoding(call_id: str) -> Iterator[None]:
    """Frame decoding is total: an error the codec did not name is logged (once: the call
    closes) and becomes a 4400, never an escaping exception."""
    try:
        yield
    except (ProtocolError, WebSocketDisconnect):
        raise
    except Exception as exc:
        log.exception("could not decode a frame on call %s", call_id)
        raise ProtocolError(
            CloseCode.MALFORMED,
            f"could not decode the frame ({type(exc).__name__}); call {call_id}",
        ) from exc


async def run_call(
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
            try:
                await ws.send_text(ready)
            except (WebSocketDisconnect, OSError):  # the caller left before ready
                call.finish("hung_up")
                return
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
                    await asyncio.wait_for(call.out.error(int(exc.code), exc.message),
                                           SEND_TIMEOUT_S)
            elif isinstance(exc, WebSocketDisconnect | OSError):  # OSError: send to a gone peer
                call.finish("hung_up")
            elif exc is not None:  # a fault here, not in the input (decoding is total)
                log.error("call %s failed: %s", call.call_id, exc, exc_info=exc)
                close = CloseCode.INTERNAL_ERROR
                call.finish("error")
            else:
                call.finish(call.end_reason)
        if close is CloseCode.NORMAL:
            close = CLOSE_FOR_REASON.get(call.end_reason, CloseCode.NORMAL)
    finally:
        if read is not None and not read.done():
            read.cancel()
            with contextlib.suppress(BaseException):
                await read
        await call.close()  # the record is complete before the socket goes
        if ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(SEND_TIMEOUT_S):  # a peer that does not read
                    if end is not None:
                        await ws.send_text(end(call.end_reason))
                    await ws.close(int(close), reason_text or call.end_reason)
