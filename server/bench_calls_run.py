"""``salesvoice bench calls``, the async adapter: start the real server, phone it with
synthetic callers over both wire protocols, record each call's timeline.

The protocol client is ``simulator.wire`` (``BrowserWire``, ``TwilioWire``) and the
caller's ear is ``simulator.dialin.Listener`` (playout clock, Twilio marks echoed when
played); what the timelines mean is computed by ``server.bench_calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from websockets.asyncio.client import ClientConnection

from agent.dialogue import CallerProfile
from models import registry
from models.audio import PCM
from models.errors import SalesvoiceError
from server.bench_calls import (
    SALES_LINES,
    CallMetrics,
    CallsBench,
    CallTimeline,
    Memory,
    PlannedLine,
    SpokenTurn,
    measure,
    plan_call,
    summarize,
    voiced_frames,
)
from server.bench_calls_report import report
from server.bench_server import RssSampler, Served, serving, tree_rss_mib, wait_idle
from server.settings import Settings
from simulator.audio import speak
from simulator.dialin import Listener
from simulator.wire import (
    AgentAudio,
    BrowserWire,
    DialInError,
    Ended,
    Flush,
    Protocol,
    TurnDone,
    TwilioWire,
    endpoint,
)
from voice.audio import FRAME_MS, FRAME_SAMPLES, Framer
from voice.bench import real_utterances
from voice.clock import Clock, RealClock

FRAME_S = FRAME_MS / 1000
_SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
_POLL_S = 0.1
"""Longest a wait sleeps without re-checking (real seconds); wake-ups come sooner."""


# -- one synthetic caller ---------------------------------------------------------------


class BenchCall:
    """One call: speaks ``lines`` at real-time pace with silence in between, waits for
    each answer (or barges into it), and records the call's ``CallTimeline``."""

    def __init__(self, url: str, protocol: Protocol, lines: Sequence[tuple[PlannedLine, PCM]],
                 timeline: CallTimeline, bench: CallsBench, *, token: str | None = None,
                 caller: CallerProfile | None = None, clock: Clock | None = None) -> None:
        self.url = endpoint(url, protocol)
        self.protocol: Protocol = protocol
        self.lines = list(lines)
        self.timeline = timeline
        self.bench = bench
        self._token = token
        self._caller = caller or CallerProfile()
        self._clock: Clock = clock or RealClock()
        self._wire: BrowserWire | TwilioWire = (
            BrowserWire() if protocol == "browser" else TwilioWire())
        self._listener = Listener()
        self._outbox: deque[tuple[PCM, bool]] = deque()
        self._sent: list[tuple[float, bool]] = []
        """(send time, voiced) of the current line's frames."""
        self._wake = asyncio.Event()
        self._failure: BaseException | None = None
        self._ws: ClientConnection | None = None
        self._tx: asyncio.Task[None] | None = None
        self._rx: asyncio.Task[None] | None = None

    async def run(self) -> CallTimeline:
        """The whole call; a failure is recorded in the timeline, not raised."""
        try:
            await self._call()
        except (DialInError, OSError, TimeoutError, websockets.WebSocketException) as exc:
            self.timeline.error = f"{type(exc).__name__}: {exc}"
        finally:
            await self._aclose()
        return self.timeline

    async def _call(self) -> None:
        tl, b, clock = self.timeline, self.bench, self._clock
        self._ws = ws = await websockets.connect(self.url, open_timeout=10, close_timeout=10)
        if self.protocol == "browser":
            tl.connected = clock.now()
        for message in self._wire.opening(self._caller, self._token, None):
            await ws.send(message)
        if self.protocol == "twilio":
            tl.connected = clock.now()  # Twilio's call is up once connected+start are sent
        self._rx = asyncio.create_task(self._receive(ws))
        self._tx = asyncio.create_task(self._send(ws))
        opened = clock.now()
        await self._until(lambda now: self._answer_over(now, opened), b.greeting_timeout_s)
        for i, (line, pcm) in enumerate(self.lines):
            if self._listener.finished:
                break
            end = await self._speak(line, pcm)
            await self._hear_answer(end, barge_in=i + 1 < len(self.lines)
                                    and self.lines[i + 1][0].barge_in)
        await self._hang_up(ws)

    async def _hear_answer(self, end: float, *, barge_in: bool) -> None:
        """Wait for the answer to the line that ended at ``end``: to its end, or, when the
        next line barges in, ``barge_in_after_s`` into it. Unanswered: return at once."""
        b = self.bench
        if not await self._until(lambda _: self._heard_after(end), b.reply_timeout_s):
            return
        if barge_in:
            first = next(t for t in self.timeline.agent_frames if t > end)
            await self._until(lambda now: now >= first + b.barge_in_after_s, b.answer_limit_s)
        else:
            await self._until(lambda now: self._answer_over(now, end), b.answer_limit_s)

    async def _speak(self, line: PlannedLine, pcm: PCM) -> float:
        """Queue the line's frames, wait until sent; returns the caller's end of speech."""
        framer = Framer()
        frames = framer.push(pcm)
        if (last := framer.flush()) is not None:
            frames.append(last)
        voiced = voiced_frames(np.concatenate(frames)) if frames else []
        self._sent = []
        self._outbox.extend(zip(frames, voiced, strict=True))
        await self._until(lambda _: len(self._sent) >= len(frames),
                          len(frames) * FRAME_S + self.bench.answer_limit_s)
        said = [t for t, v in self._sent if v] or [t for t, _ in self._sent] or [self._clock.now()]
        self.timeline.turns.append(SpokenTurn(line.turn, line.text, line.source, line.barge_in,
                                              said[0], said[-1]))
        return said[-1]

    def _heard_after(self, t: float) -> bool:
        return bool(self.timeline.agent_frames) and self.timeline.agent_frames[-1] > t

    def _answer_over(self, now: float, since: float) -> bool:
        """The browser protocol says so (``turn``); on Twilio, ``quiet_s`` of silence."""
        return self._listener.reply_over(now, since, turns=self.protocol == "browser",
                                         quiet_s=self.bench.quiet_s, settle_s=0.3)

    async def _hang_up(self, ws: ClientConnection) -> None:
        await self._stop_sending()
        if not self._listener.finished:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(self._wire.hangup())
        if self._rx is not None:  # the server closes once the call's record is complete
            await asyncio.wait({self._rx}, timeout=10)

    async def _send(self, ws: ClientConnection) -> None:
        """One 20 ms frame every 20 ms: the line's when queued, else silence."""
        due = self._clock.now()
        try:
            while True:
                queued = bool(self._outbox)
                frame, voiced = self._outbox.popleft() if queued else (_SILENCE, False)
                await ws.send(self._wire.audio(frame))
                now = self._clock.now()
                if queued:
                    self._sent.append((now, voiced))
                for name in self._listener.due_marks(now):
                    await ws.send(self._wire.mark_played(name))
                self._wake.set()
                due += FRAME_S
                await self._clock.sleep(max(0.0, due - now))
        except websockets.ConnectionClosed:
            pass  # the receiver records how the call closed
        except Exception as exc:
            self._failure = exc
        finally:
            self._wake.set()

    async def _receive(self, ws: ClientConnection) -> None:
        tl = self.timeline
        try:
            async for message in ws:
                now = self._clock.now()
                for event in self._wire.receive(message):
                    self._listener.on_event(event, now)
                    if isinstance(event, AgentAudio):
                        tl.agent_frames.append(now)
                    elif isinstance(event, Flush):
                        tl.flushes.append(now)
                    elif isinstance(event, TurnDone) and event.turn > 0:
                        v2v = event.timings.get("voice_to_voice_s")
                        if isinstance(v2v, int | float):
                            tl.server_v2v.append(float(v2v))
                    elif isinstance(event, Ended):
                        tl.ended = event.reason
                self._wake.set()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:
            self._failure = exc
        finally:
            self._listener.on_closed(ws.close_code, ws.close_reason or "")
            self._wake.set()

    async def _until(self, done: Callable[[float], bool], limit_s: float) -> bool:
        """Wait until ``done(now)`` (True) or the limit (False); raise if the call broke;
        True once the server has ended the call."""
        deadline = self._clock.now() + limit_s
        while True:
            now = self._clock.now()
            if self._failure is not None:
                raise DialInError(f"call to {self.url} failed: {self._failure!r}")
            listen = self._listener
            if listen.dropped(self.protocol):
                raise DialInError(f"the server dropped the call (close code "
                                  f"{listen.close_code} {listen.close_reason!r})")
            if done(now) or listen.finished:
                return True
            if now >= deadline:
                return False
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_POLL_S):
                    await self._wake.wait()

    async def _stop_sending(self) -> None:
        if self._tx is not None and not self._tx.done():
            self._tx.cancel()
            await asyncio.wait({self._tx})

    async def _aclose(self) -> None:
        await self._stop_sending()
        if self._rx is not None and not self._rx.done():
            self._rx.cancel()
            await asyncio.wait({self._rx})
        if self._ws is not None:
            await self._ws.close()


# -- the benchmark ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Voices:
    """The caller's audio: real recordings and the synthesized sales lines."""

    real: list[tuple[PCM, str]]
    tts: dict[str, PCM]

    def lines(self, plan: Sequence[PlannedLine]) -> list[tuple[PlannedLine, PCM]]:
        return [(p, self.real[p.clip][0] if p.clip is not None else self.tts[p.text])
                for p in plan]


async def prepare_voices(bench: CallsBench, settings: Settings) -> Voices:
    """Real speech from pocketsphinx-testdata; sales lines synthesized once, up front, in
    a voice other than the agent's."""
    if settings.tts.backend == bench.user_voice:
        raise SalesvoiceError(f"the caller's voice ({bench.user_voice}) is the agent's; pick "
                              "another with --user-voice")
    real = real_utterances()
    tts = registry.build_tts(settings.tts.model_copy(update={"backend": bench.user_voice}),
                             settings.cache_dir)
    try:
        spoken = {text: await speak(tts, text) for text in SALES_LINES}
    finally:
        await tts.aclose()
    return Voices(real, spoken)


async def run_level(served: Served, bench: CallsBench, voices: Voices, protocol: Protocol,
                    concurrency: int, on_call: Callable[[CallMetrics], None]) -> list[CallMetrics]:
    """``concurrency`` callers, each making ``bench.calls`` calls one after another."""
    transcripts = [text for _, text in voices.real]

    async def caller(slot: int) -> list[CallMetrics]:
        out = []
        for n in range(bench.calls):
            seed = slot * bench.calls + n
            plan = plan_call(bench.turns, seed, transcripts, bench.barge_in_every)
            tl = CallTimeline(protocol, concurrency, slot, n)
            call = BenchCall(served.base_url.replace("http", "ws", 1), protocol,
                             voices.lines(plan), tl, bench, token=served.token,
                             caller=CallerProfile(caller_id=f"+1555{concurrency}{slot:03d}{n:03d}"))
            metrics = measure(await call.run(), reply_timeout_s=bench.reply_timeout_s,
                              gap_s=bench.gap_s)
            on_call(metrics)
            out.append(metrics)
        return out

    results = await asyncio.gather(*(caller(s) for s in range(concurrency)))
    return [m for r in results for m in r]


async def run_calls_bench(bench: CallsBench, settings: Settings, config: Path | None,
                          console: Console, plot: Path | None,
                          server_log: Path | None = None) -> dict[str, Any]:
    with console.status(f"preparing the caller's speech ({bench.user_voice} + recordings)..."):
        voices = await prepare_voices(bench, settings)
    levels: list[dict[str, Any]] = []
    calls: list[CallMetrics] = []
    total = len(bench.protocols) * sum(bench.concurrency) * bench.calls
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        async with serving(bench, config, Path(tmp), console) as served:
            baseline = tree_rss_mib(served.pid)
            console.print(f"server up (pid {served.pid}, {baseline:.0f} MiB); "
                          f"{total} calls of {bench.turns} caller turns")
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console) as progress:
                task = progress.add_task("calls", total=total)

                def done(m: CallMetrics) -> None:
                    progress.advance(task)
                    progress.console.print(_call_line(m))

                for protocol in bench.protocols:
                    for c in bench.concurrency:
                        progress.update(task, description=f"{protocol}, {c} at a time")
                        await wait_idle(served.base_url)
                        idle = tree_rss_mib(served.pid)
                        async with RssSampler(served.pid) as rss:
                            level = await run_level(served, bench, voices, protocol, c, done)
                        calls += level
                        levels.append(summarize(level, Memory(idle, rss.peak)))
        if server_log is not None:  # kept: why a turn was slow is in there
            server_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "server.log", server_log)
            console.print(f"server log: {server_log}")
    result = {"config": bench.model_dump(mode="json"), "server_rss_baseline_mib": baseline,
              "levels": levels, "calls": [asdict(m) for m in calls]}
    report(result, console, plot)
    return result


def _call_line(m: CallMetrics) -> str:
    v2v = [f"{t.voice_to_voice_s:.2f}" if t.voice_to_voice_s is not None else "[red]none[/]"
           for t in m.turns]
    greet = f"{m.greeting_s:.2f}" if m.greeting_s is not None else "[red]none[/]"
    stops = [f"{b.stop_s:.2f}" for b in m.barge_ins if b.stop_s is not None]
    err = f" [red]{m.error}[/]" if m.error else ""
    return (f"[dim]{m.protocol} c={m.concurrency} caller {m.caller} call {m.call}:[/] "
            f"greeting {greet} s, voice-to-voice {' '.join(v2v) or '-'} s"
            + (f", barge-in stop {' '.join(stops)} s" if stops else "") + err)


