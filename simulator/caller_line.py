"""The caller's end of one call on the wire: dial, stream at real-time pace, listen, wait.

One 20 ms frame goes out every 20 ms for the whole call, the caller's speech while a
line is queued and silence otherwise, as on any phone line; Twilio marks are echoed
once the agent audio before them has played. What the server sends goes to a
``Listener`` (and to an optional hook). ``simulator.dialin.DialIn`` (simulated users)
and ``server.bench_calls_run.BenchCall`` (``salesvoice bench calls``) both call
through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
import websockets
from pydantic import Field
from websockets.asyncio.client import ClientConnection

from agent.dialogue import CallerProfile
from models.audio import PCM
from models.config import StrictModel
from simulator.listener import Listener
from simulator.wire import (
    BrowserWire,
    DialInError,
    Protocol,
    ServerEvent,
    TwilioWire,
    endpoint,
)
from voice.audio import FRAME_MS, FRAME_SAMPLES
from voice.clock import Clock, RealClock

FRAME_S = FRAME_MS / 1000
_SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
_POLL_S = 0.1
"""Longest a wait sleeps without re-checking (real seconds); wake-ups come sooner."""


class CallDropped(DialInError):
    """The server closed the call without ending it (or refused it)."""

    def __init__(self, code: int | None, reason: str, detail: str = "") -> None:
        what = f"close code {code}" if code is not None else "no close code"
        text = f"the server dropped the call ({what}{': ' + reason if reason else ''})"
        super().__init__(text + (f"; {detail}" if detail else ""))
        self.code = code
        self.reason = reason


class DialInTimeouts(StrictModel):
    """Bounds on every wait of a dial-in call (seconds of the call's clock)."""

    connect_s: float = Field(10.0, gt=0)
    greeting_s: float = Field(30.0, gt=0)
    """Connect → greeting heard to its end."""
    reply_s: float = Field(60.0, gt=0)
    """End of the caller's line → agent reply heard to its end."""
    quiet_s: float = Field(1.0, gt=0)
    """Agent silence that ends its turn when the server does not say so (Twilio)."""
    settle_s: float = Field(0.3, ge=0)
    """After the server's ``turn`` message: room for a following ``end``."""
    close_s: float = Field(10.0, gt=0)


class CallerLine:
    """One call from the caller's side: ``dial``, ``start``, then ``speak`` lines and
    wait ``until`` something is heard; ``hang_up`` and ``aclose`` at the end.

    ``on_event(event, now)`` sees every server event after the listener has.
    """

    def __init__(
        self,
        url: str,
        protocol: Protocol,
        *,
        timeouts: DialInTimeouts | None = None,
        clock: Clock | None = None,
        on_event: Callable[[ServerEvent, float], None] | None = None,
    ) -> None:
        self.url = endpoint(url, protocol)
        self.protocol: Protocol = protocol
        self.timeouts = timeouts or DialInTimeouts()
        self.clock: Clock = clock or RealClock()
        self.wire: BrowserWire | TwilioWire = BrowserWire() if protocol == "browser" else (
            TwilioWire())
        self.listener = Listener()
        self.failure: BaseException | None = None
        """Why the sender or receiver stopped, if not a close; ``until`` raises it."""
        self._on_event = on_event
        self._ws: ClientConnection | None = None
        self._tx: asyncio.Task[None] | None = None
        self._rx: asyncio.Task[None] | None = None
        self._outbox: deque[PCM] = deque()
        self._sent: list[float] = []
        """Send times of the queued frames since the last ``speak``."""
        self._wake = asyncio.Event()

    @property
    def dialed(self) -> bool:
        return self._ws is not None

    async def dial(self) -> None:
        """Open the socket; nothing is sent yet."""
        try:
            self._ws = await websockets.connect(
                self.url, open_timeout=self.timeouts.connect_s,
                close_timeout=self.timeouts.close_s)
        except (OSError, TimeoutError, websockets.InvalidURI,
                websockets.InvalidHandshake) as exc:
            raise DialInError(f"cannot dial {self.url}: {exc}") from exc

    async def start(self, caller: CallerProfile, token: str | None,
                    variant: str | None) -> None:
        """Send the protocol's opening messages, then start streaming and listening."""
        if self._ws is None:
            raise RuntimeError("CallerLine.start() before dial()")
        try:
            for message in self.wire.opening(caller, token, variant):
                await self._ws.send(message)
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            raise CallDropped(code, exc.rcvd.reason if exc.rcvd else "") from exc
        self._rx = asyncio.create_task(self._receive(self._ws))
        self._tx = asyncio.create_task(self._send(self._ws))

    async def speak(self, frames: Sequence[PCM], limit_s: float) -> list[float]:
        """Queue ``frames`` and wait until they have gone out, or ``limit_s``; returns
        their send times (fewer when the limit came first)."""
        self._sent = []
        self._outbox.extend(frames)
        await self.until(lambda _: len(self._sent) >= len(frames), limit_s)
        return list(self._sent)

    def reply_over(self, now: float, since: float) -> bool:
        """The agent's turn that began after ``since`` has been heard to its end."""
        t = self.timeouts
        return self.listener.reply_over(now, since, turns=self.protocol == "browser",
                                        quiet_s=t.quiet_s, settle_s=t.settle_s)

    async def until(self, done: Callable[[float], bool], limit_s: float) -> bool:
        """Wait until ``done(now)`` or the call is over (True), or the limit (False);
        raise if the call broke."""
        deadline = self.clock.now() + limit_s
        while True:
            now = self.clock.now()
            if self.failure is not None:
                raise DialInError(f"dial-in call to {self.url} failed: {self.failure}") from (
                    self.failure)
            listen = self.listener
            if listen.dropped(self.protocol):
                detail = "; ".join(f"{e.code} {e.message}" for e in listen.errors)
                raise CallDropped(listen.close_code, listen.close_reason, detail)
            if done(now) or listen.finished:
                return True
            if now >= deadline:
                return False
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that lands as the event is set.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_POLL_S):
                    await self._wake.wait()

    async def hang_up(self) -> None:
        """Stop streaming, hang up unless the call is over, and give the server
        ``close_s`` to close the socket (it does once the call's record is complete)."""
        await self.stop_sending()
        if self._ws is not None and not self.listener.finished:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._ws.send(self.wire.hangup())
        if self._rx is not None:
            await asyncio.wait({self._rx}, timeout=self.timeouts.close_s)

    async def stop_sending(self) -> None:
        if self._tx is not None and not self._tx.done():
            self._tx.cancel()
            await asyncio.wait({self._tx})

    async def aclose(self) -> None:
        """Release the call: stop the tasks, close the socket; idempotent."""
        await self.stop_sending()
        if self._rx is not None and not self._rx.done():
            self._rx.cancel()
            await asyncio.wait({self._rx})
        if self._ws is not None:
            await self._ws.close()  # bounded by close_timeout

    async def _send(self, ws: ClientConnection) -> None:
        """One 20 ms frame per 20 ms, speech when queued, else silence; Twilio marks
        echoed once their audio has played."""
        due = self.clock.now()
        try:
            while True:
                queued = bool(self._outbox)
                frame = self._outbox.popleft() if queued else _SILENCE
                await ws.send(self.wire.audio(frame))
                now = self.clock.now()
                if queued:
                    self._sent.append(now)
                for name in self.listener.due_marks(now):
                    await ws.send(self.wire.mark_played(name))
                self._wake.set()
                due += FRAME_S
                await self.clock.sleep(max(0.0, due - now))
        except websockets.ConnectionClosed:
            pass  # the receiver records how the call closed
        except Exception as exc:
            self.failure = exc
        finally:
            self._wake.set()

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                for event in self.wire.receive(message):
                    now = self.clock.now()
                    self.listener.on_event(event, now)
                    if self._on_event is not None:
                        self._on_event(event, now)
                self._wake.set()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:
            self.failure = exc
        finally:
            if ws.close_code is not None or self.failure is None:
                self.listener.on_closed(ws.close_code, ws.close_reason or "")
            self._wake.set()
