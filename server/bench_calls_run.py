"""``salesvoice bench calls``, the async adapter: start the real server, phone it with
synthetic callers over both wire protocols, record each call's timeline.

Each call goes through ``simulator.caller_line.CallerLine``, as the simulator's dial-in
callers do (paced frames, the ``Listener``'s playout clock, Twilio marks echoed when
played); what the timelines mean is computed by ``server.bench_calls``.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
from simulator.caller_line import FRAME_S, CallerLine
from simulator.wire import (
    AgentAudio,
    DialInError,
    Ended,
    Flush,
    Protocol,
    ServerEvent,
    TurnDone,
)
from voice.audio import Framer
from voice.bench import real_utterances
from voice.clock import Clock

# -- one synthetic caller ---------------------------------------------------------------


class BenchCall:
    """One call: speaks ``lines`` at real-time pace with silence in between, waits for
    each answer (or barges into it), and records the call's ``CallTimeline``."""

    def __init__(self, url: str, protocol: Protocol, lines: Sequence[tuple[PlannedLine, PCM]],
                 timeline: CallTimeline, bench: CallsBench, *, token: str | None = None,
                 caller: CallerProfile | None = None, clock: Clock | None = None) -> None:
        self.protocol: Protocol = protocol
        self.lines = list(lines)
        self.timeline = timeline
        self.bench = bench
        self._token = token
        self._caller = caller or CallerProfile()
        self._call = CallerLine(url, protocol, timeouts=bench.dial_in_timeouts(), clock=clock,
                                on_event=self._record)
        self.url = self._call.url
        self._clock = self._call.clock

    async def run(self) -> CallTimeline:
        """The whole call; a failure is recorded in the timeline, not raised."""
        try:
            await self._run()
        except (DialInError, OSError, TimeoutError, websockets.WebSocketException) as exc:
            self.timeline.error = f"{type(exc).__name__}: {exc}"
        finally:
            await self._call.aclose()
        return self.timeline

    async def _run(self) -> None:
        tl, b, clock, call = self.timeline, self.bench, self._clock, self._call
        await call.dial()
        if self.protocol == "browser":
            tl.connected = clock.now()
        await call.start(self._caller, self._token, None)
        if self.protocol == "twilio":
            tl.connected = clock.now()  # Twilio's call is up once connected+start are sent
        opened = clock.now()
        await call.until(lambda now: call.reply_over(now, opened), b.greeting_timeout_s)
        for i, (line, pcm) in enumerate(self.lines):
            if call.listener.finished:
                break
            end = await self._speak(line, pcm)
            await self._hear_answer(end, barge_in=i + 1 < len(self.lines)
                                    and self.lines[i + 1][0].barge_in)
        await call.hang_up()  # the server closes once the call's record is complete

    async def _hear_answer(self, end: float, *, barge_in: bool) -> None:
        """Wait for the answer to the line that ended at ``end``: to its end, or, when the
        next line barges in, ``barge_in_after_s`` into it. Unanswered: return at once."""
        b, call = self.bench, self._call
        if not await call.until(lambda _: self._heard_after(end), b.reply_timeout_s):
            return
        if barge_in:
            first = next(t for t in self.timeline.agent_frames if t > end)
            await call.until(lambda now: now >= first + b.barge_in_after_s, b.answer_limit_s)
        else:
            await call.until(lambda now: call.reply_over(now, end), b.answer_limit_s)

    async def _speak(self, line: PlannedLine, pcm: PCM) -> float:
        """Send the line's frames; returns the caller's end of speech."""
        framer = Framer()
        frames = framer.push(pcm)
        if (last := framer.flush()) is not None:
            frames.append(last)
        voiced = voiced_frames(np.concatenate(frames)) if frames else []
        sent = await self._call.speak(frames, len(frames) * FRAME_S + self.bench.answer_limit_s)
        said = [t for t, v in zip(sent, voiced, strict=False) if v] or sent or [self._clock.now()]
        self.timeline.turns.append(SpokenTurn(line.turn, line.text, line.source, line.barge_in,
                                              said[0], said[-1]))
        return said[-1]

    def _heard_after(self, t: float) -> bool:
        return bool(self.timeline.agent_frames) and self.timeline.agent_frames[-1] > t

    def _record(self, event: ServerEvent, now: float) -> None:
        tl = self.timeline
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


