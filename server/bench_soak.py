"""``salesvoice bench soak``: N synthetic callers on one server for a set time.

Each caller phones again and again, alternating the two protocols, with real speech (the
callers of ``bench calls``: ``server.bench_calls_run.BenchCall``): most calls barge in
now and then, every ``hang_up_every``-th hangs up while the agent answers, every
``slow_reader_every``-th reads nothing (no audio consumed) for ``slow_reader_s`` before it
hangs up and drains. Alongside, the server is sampled (``/metrics``, ``/healthz``, and
``/proc`` when its pid is known). At the end every call's record is read back through the
API and compared with what the callers were told:

- turns lost: a browser ``turn`` message whose turn is not stored for that call (must be
  0); also the server's own count of completed turns against the turns stored;
- server errors: ``salesvoice_errors_total`` growth, close codes other than 1000 and
  server log lines at ERROR (when this bench started the server);
- voice-to-voice p50/p95 per time window, RSS/fds/tasks over time, the RSS slope after
  warm-up (least squares, MiB per hour).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from agent.dialogue import CallerProfile
from models.audio import PCM
from models.config import StrictModel
from server.bench_calls import CallsBench, CallTimeline, measure, plan_call
from server.bench_calls_run import BenchCall, Voices, prepare_voices
from server.bench_server import serving, tree_rss_mib
from server.bench_soak_report import TASKS_METRIC, _fmt, report, summarize_soak
from server.settings import Settings
from simulator.caller_line import FRAME_S
from simulator.wire import (
    BrowserWire,
    Protocol,
    Ready,
    ServerEvent,
    TurnDone,
    TwilioWire,
    endpoint,
)
from voice.audio import FRAME_SAMPLES, Framer
from voice.clock import RealClock

"""A gauge of the server's live asyncio tasks, read from /metrics when the server has it."""


class SoakBench(StrictModel):
    """What one ``bench soak`` run does."""

    callers: int = Field(4, ge=1)
    minutes: float = Field(30.0, gt=0)
    protocols: tuple[Protocol, ...] = ("browser", "twilio")
    turns: int = Field(4, ge=1)
    """Caller lines per call."""
    barge_in_every: int = Field(3, ge=0)
    hang_up_every: int = Field(4, ge=0)
    """Every Nth call of a caller hangs up while the agent answers its last line (0: never)."""
    slow_reader_every: int = Field(5, ge=0)
    """Every Nth call of a caller reads nothing for ``slow_reader_s`` (0: never)."""
    slow_reader_s: float = Field(15.0, gt=0)
    window_s: float = Field(300.0, gt=0)
    """Latency percentiles and samples are summarised per window of this length."""
    warmup_s: float = Field(300.0, ge=0)
    """RSS samples before this are left out of the slope."""
    sample_s: float = Field(5.0, gt=0)
    retry_s: float = Field(5.0, ge=0)
    """A caller whose call failed (e.g. refused with 1013) waits this long before the next."""
    reply_timeout_s: float = Field(15.0, gt=0)
    user_voice: str = "espeak-ng"
    program: str | None = None
    startup_timeout_s: float = Field(900.0, gt=0)

    @property
    def duration_s(self) -> float:
        return self.minutes * 60

    def calls_bench(self) -> CallsBench:
        """The per-call waits, and the call cap of a server the bench starts: twice the
        callers, as a hung-up call may still be closing when its caller dials again."""
        return CallsBench.model_validate({
            "protocols": self.protocols, "concurrency": (2 * self.callers,),
            "turns": self.turns, "barge_in_every": self.barge_in_every,
            "reply_timeout_s": self.reply_timeout_s, "user_voice": self.user_voice,
            "program": self.program, "startup_timeout_s": self.startup_timeout_s})


@dataclass(frozen=True, slots=True)
class Target:
    """The server under soak: where, its credentials, and its pid when on this machine."""

    url: str
    """http(s)://host:port"""
    token: str | None = None
    api_token: str | None = None
    pid: int | None = None
    log: Path | None = None


# -- one call ---------------------------------------------------------------------------


@dataclass(slots=True)
class CallRecord:
    """One call as its caller saw it."""

    protocol: str
    kind: str
    """normal, hang_up (mid-turn) or slow_reader."""
    caller: int
    call: int
    caller_id: str
    started_s: float
    ended_s: float = 0.0
    call_id: str | None = None
    seen_turns: list[int] = field(default_factory=list)
    close_code: int | None = None
    error: str | None = None
    v2v: list[tuple[float, float]] = field(default_factory=list)
    """(end of the caller's line, seconds into the soak; voice-to-voice)."""

    @property
    def completed(self) -> bool:
        return self.error is None and self.close_code == 1000


class SoakCall(BenchCall):
    """A ``bench calls`` caller that may hang up while the agent answers its last line,
    and keeps the turn numbers the server reported."""

    def __init__(self, *args: Any, hang_up_mid_turn: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hang_up_mid_turn = hang_up_mid_turn
        self.seen_turns: list[int] = []
        self._lines_left = len(self.lines)

    async def _hear_answer(self, end: float, *, barge_in: bool) -> None:
        self._lines_left -= 1
        if self.hang_up_mid_turn and self._lines_left == 0:
            call = self._call
            if await call.until(lambda _: self._heard_after(end), self.bench.reply_timeout_s):
                await self._clock.sleep(0.3)  # into the answer, then gone
            return
        await super()._hear_answer(end, barge_in=barge_in)

    def _record(self, event: ServerEvent, now: float) -> None:
        super()._record(event, now)
        if isinstance(event, TurnDone):
            self.seen_turns.append(event.turn)

    @property
    def call_id(self) -> str | None:
        ready = self._call.listener.ready
        return ready.call_id if ready is not None else None

    @property
    def close_code(self) -> int | None:
        return self._call.listener.close_code


async def slow_reader(url: str, protocol: Protocol, pcm: PCM, hold_s: float,
                      token: str | None, caller: CallerProfile, record: CallRecord) -> None:
    """A caller that speaks but reads nothing for ``hold_s`` (its socket buffers fill, the
    server's sends back up), then hangs up and reads everything until the close."""
    wire: BrowserWire | TwilioWire = BrowserWire() if protocol == "browser" else TwilioWire()
    clock = RealClock()
    framer = Framer()
    frames = framer.push(pcm)
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    try:
        # max_queue=1: the client stops reading the socket once one message waits.
        async with websockets.connect(endpoint(url, protocol), max_queue=1, max_size=None,
                                      open_timeout=10, close_timeout=10) as ws:
            for opening in wire.opening(caller, token, None):
                await ws.send(opening)
            due = clock.now()
            for i in range(int(hold_s / FRAME_S)):
                await ws.send(wire.audio(frames[i] if i < len(frames) else silence))
                due += FRAME_S
                await clock.sleep(max(0.0, due - clock.now()))
            await ws.send(wire.hangup())
            async with asyncio.timeout(60):
                async for message in ws:
                    for event in wire.receive(message):
                        if isinstance(event, TurnDone):
                            record.seen_turns.append(event.turn)
                        elif isinstance(event, Ready):
                            record.call_id = event.call_id
            record.close_code = ws.close_code
    except websockets.ConnectionClosed as exc:
        record.close_code = exc.rcvd.code if exc.rcvd else 1006
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        record.error = f"{type(exc).__name__}: {exc}"


# -- the server, sampled ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float
    rss_mib: float | None
    fds: int | None
    tasks: int | None
    active_calls: int | None
    errors_total: float | None
    turns_total: float | None


def _metric_sums(text: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            sums[s.name] = sums.get(s.name, 0.0) + float(s.value)
    return sums


async def sample_server(http: httpx.AsyncClient, target: Target, t_s: float) -> Sample:
    """One look at the server: /proc for RSS and fds when its pid is known, else the
    process metrics of /metrics (when the server exports them)."""
    metrics: dict[str, float] | None = None
    active: int | None = None
    with contextlib.suppress(httpx.HTTPError, ValueError):
        metrics = _metric_sums((await http.get("/metrics")).text)
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        active = int((await http.get("/healthz")).json()["active_calls"])
    rss: float | None = None
    fds: int | None = None
    if target.pid is not None:
        rss = tree_rss_mib(target.pid) or None
        with contextlib.suppress(OSError):
            fds = len(os.listdir(f"/proc/{target.pid}/fd"))
    if metrics is None:
        return Sample(t_s, rss, fds, None, active, None, None)
    if rss is None and "process_resident_memory_bytes" in metrics:
        rss = metrics["process_resident_memory_bytes"] / 2**20
    if fds is None and "process_open_fds" in metrics:
        fds = int(metrics["process_open_fds"])
    tasks = int(metrics[TASKS_METRIC]) if TASKS_METRIC in metrics else None
    # A labelled counter shows no sample before its first increment: that is a 0.
    return Sample(t_s, rss, fds, tasks, active, metrics.get("salesvoice_errors_total", 0.0),
                  metrics.get("salesvoice_turns_total", 0.0))


# -- the soak ---------------------------------------------------------------------------


def _kind(soak: SoakBench, n: int) -> str:
    if soak.slow_reader_every and n % soak.slow_reader_every == soak.slow_reader_every - 1:
        return "slow_reader"
    if soak.hang_up_every and n % soak.hang_up_every == soak.hang_up_every - 1:
        return "hang_up"
    return "normal"


async def run_soak(soak: SoakBench, target: Target, voices: Voices, console: Console,
                   ) -> dict[str, Any]:
    """Run the callers against ``target`` for ``soak.minutes``; the result as JSON data."""
    bench = soak.calls_bench()
    ws_url = target.url.replace("http", "ws", 1)
    transcripts = [text for _, text in voices.real]
    clock = RealClock()
    t0 = clock.now()
    wall_start = datetime.now(UTC)
    deadline = t0 + soak.duration_s
    records: list[CallRecord] = []
    samples: list[Sample] = []
    headers = {"Authorization": f"Bearer {target.api_token}"} if target.api_token else {}

    async def caller(slot: int) -> None:
        n = 0
        while clock.now() < deadline:
            protocol = soak.protocols[(slot + n) % len(soak.protocols)]
            kind = _kind(soak, n)
            caller_id = f"+1555{slot:02d}{n:05d}"
            profile = CallerProfile(caller_id=caller_id)
            record = CallRecord(protocol, kind, slot, n, caller_id, clock.now() - t0)
            plan = plan_call(soak.turns, slot * 1000 + n, transcripts, soak.barge_in_every)
            if kind == "slow_reader":
                pcm = np.concatenate([pcm for _, pcm in voices.lines(plan)])
                await slow_reader(ws_url, protocol, pcm, soak.slow_reader_s, target.token,
                                  profile, record)
            else:
                tl = CallTimeline(protocol, soak.callers, slot, n)
                call = SoakCall(ws_url, protocol, voices.lines(plan), tl, bench,
                                token=target.token, caller=profile, clock=clock,
                                hang_up_mid_turn=kind == "hang_up")
                await call.run()
                record.call_id, record.seen_turns = call.call_id, call.seen_turns
                record.close_code, record.error = call.close_code, tl.error
                m = measure(tl, reply_timeout_s=soak.reply_timeout_s, gap_s=bench.gap_s)
                record.v2v = [(st.end - t0, tm.voice_to_voice_s)
                              for st, tm in zip(tl.turns, m.turns, strict=True)
                              if tm.voice_to_voice_s is not None]
            record.ended_s = clock.now() - t0
            records.append(record)
            n += 1
            if not record.completed:
                await clock.sleep(soak.retry_s)

    async def sampler(http: httpx.AsyncClient, on_sample: Callable[[Sample], None]) -> None:
        while True:
            await clock.sleep(soak.sample_s)
            sample = await sample_server(http, target, clock.now() - t0)
            samples.append(sample)
            on_sample(sample)

    async with httpx.AsyncClient(base_url=target.url, timeout=30, headers=headers) as http:
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("soak", total=soak.duration_s)

            def show(s: Sample) -> None:
                done = sum(r.completed for r in records)
                failed = len(records) - done
                progress.update(task, completed=min(s.t_s, soak.duration_s), description=(
                    f"calls {done} ok / {failed} not, RSS {_fmt(s.rss_mib)} MiB, "
                    f"fds {s.fds}, tasks {s.tasks}, live {s.active_calls}"))

            samples.append(await sample_server(http, target, 0.0))  # before any call
            t0 = clock.now()
            deadline = t0 + soak.duration_s
            watch = asyncio.create_task(sampler(http, show))
            try:
                await asyncio.gather(*(caller(slot) for slot in range(soak.callers)))
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
        await _wait_idle(http)
        samples.append(await sample_server(http, target, clock.now() - t0))
        stored = await stored_calls(http, wall_start)
    return summarize_soak(soak, records, samples, stored, _log_errors(target.log),
                          clock.now() - t0)


async def _wait_idle(http: httpx.AsyncClient, limit_s: float = 30) -> None:
    for _ in range(int(limit_s / 0.2)):
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            if not (await http.get("/healthz")).json()["active_calls"]:
                return
        await asyncio.sleep(0.2)


async def stored_calls(http: httpx.AsyncClient, since: datetime) -> dict[str, dict[str, Any]]:
    """Every call record created since ``since``, with its turns (the API's view)."""
    ids: list[str] = []
    offset = 0
    while True:
        page = (await http.get("/api/dashboard", params={"limit": 200, "offset": offset}))
        page.raise_for_status()
        items = page.json()["recent_calls"]["items"]
        new = [i["id"] for i in items if datetime.fromisoformat(i["created_at"]) >= since]
        ids += new
        if len(new) < len(items) or not items:
            break
        offset += len(items)
    out = {}
    for call_id in ids:
        detail = await http.get(f"/api/calls/{call_id}")
        detail.raise_for_status()
        out[call_id] = detail.json()
    return out


def _log_errors(log: Path | None) -> list[str]:
    if log is None or not log.is_file():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if " ERROR" in line or line.startswith("Traceback")]


# -- what the soak says -----------------------------------------------------------------


async def run_soak_bench(soak: SoakBench, settings: Settings, config: Path | None,
                         console: Console, *, url: str | None = None, token: str | None = None,
                         api_token: str | None = None, pid: int | None = None,
                         server_log: Path | None = None) -> dict[str, Any]:
    """``bench soak`` from the CLI: against ``url``, or a server it starts (embedded
    models, its own data directory)."""
    with console.status(f"preparing the callers' speech ({soak.user_voice} + recordings)..."):
        voices = await prepare_voices(soak.calls_bench(), settings)
    if url is not None:
        result = await run_soak(soak, Target(url, token, api_token, pid), voices, console)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
            async with serving(soak.calls_bench(), config, Path(tmp), console) as served:
                log = Path(tmp) / "server.log"
                result = await run_soak(
                    soak, Target(served.base_url, served.token, None, served.pid, log),
                    voices, console)
            if server_log is not None:
                server_log.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, server_log)  # kept: why a turn was slow is in there
    report(result, console)
    return result

