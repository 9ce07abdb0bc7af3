"""``salesvoice bench calls``: the pure core — what the caller says, and what one call's
timeline (times seen at the caller's side) says about latency.

Synthetic callers phone the real server (``server/bench_calls_run.py`` is the async
adapter); every measure here is taken at the caller's end of the wire:

- voice-to-voice: the caller's end of speech (the last voiced frame sent) → the first
  agent audio frame received after it that belongs to a reply, i.e. not to agent audio
  that was already arriving while the caller spoke (see ``measure``);
- greeting: connected (Twilio: ``connected`` + ``start`` sent) → first agent audio;
- barge-in stop: the caller starts talking over an answer → the last agent audio frame
  received while the caller speaks (and → the ``interrupt``/``clear`` message);
- unanswered: no reply within ``reply_timeout_s`` (or before the caller's next line).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from models.audio import PCM
from models.config import StrictModel
from models.errors import SalesvoiceError
from simulator.caller_line import DialInTimeouts
from simulator.wire import PATHS, Protocol
from voice.audio import FRAME_SAMPLES

SALES_LINES = (
    "Yes, I have a minute. What is this about?",
    "How much would that cost me per month?",
    "I'm a nurse, I work nights.",
    "Okay, tell me more.",
    "Does it cover me if I get hurt at work?",
    "Sorry, can I stop you there? What does the cheapest plan include?",
)
"""The caller's side of a sales dialogue, spoken by a TTS voice other than the agent's.
The first opens every call; the rest alternate with real human speech."""

VOICED_DB_BELOW_PEAK = 25.0
"""A frame is speech when its energy is within this many dB of the line's loudest frame
(the recordings' room noise sits 25-40 dB below their speech)."""


class CallsBench(StrictModel):
    """What one ``bench calls`` run does."""

    protocols: tuple[Protocol, ...] = ("browser", "twilio")
    concurrency: tuple[int, ...] = (1, 2, 4)
    calls: int = Field(2, ge=1)
    """Calls made one after another by each concurrent caller, per level."""
    turns: int = Field(4, ge=1)
    """Caller lines per call (the greeting not counted)."""
    barge_in_every: int = Field(3, ge=0)
    """Caller turns 3, 6, ... start ~``barge_in_after_s`` into the agent's answer (0: never)."""
    barge_in_after_s: float = Field(1.0, ge=0)
    reply_timeout_s: float = Field(15.0, gt=0)
    """A caller line without agent audio this long after it counts as unanswered."""
    greeting_timeout_s: float = Field(30.0, gt=0)
    answer_limit_s: float = Field(60.0, gt=0)
    """Longest the caller waits for an answer that has started to finish."""
    quiet_s: float = Field(0.8, gt=0)
    """Agent silence that ends its answer when the protocol does not say (Twilio)."""
    gap_s: float = Field(0.3, gt=0)
    """Agent audio frames further apart than this belong to different bursts."""
    user_voice: Literal["espeak-ng", "flite"] = "espeak-ng"
    program: str | None = None
    """Agent program for the server (default: the server's settings)."""
    startup_timeout_s: float = Field(900.0, gt=0)

    @classmethod
    def from_cli(cls, *, protocols: str, concurrency: str, **fields: Any) -> CallsBench:
        """From the CLI's comma-separated lists; a clear error for any bad value."""
        names = [p.strip() for p in protocols.split(",") if p.strip()]
        bad = [p for p in names if p not in PATHS]
        if bad or not names:
            raise SalesvoiceError(f"--protocols {protocols!r}: choose from {sorted(PATHS)}")
        try:
            levels = [int(c) for c in concurrency.split(",")]
        except ValueError:
            raise SalesvoiceError(f"--concurrency {concurrency!r}: expected e.g. 1,2,4") from None
        if min(levels) < 1:
            raise SalesvoiceError(f"--concurrency {concurrency!r}: levels must be >= 1")
        try:
            return cls.model_validate({"protocols": names, "concurrency": levels, **fields})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors())
            raise SalesvoiceError(f"bench calls: {problems}") from None

    def dial_in_timeouts(self) -> DialInTimeouts:
        """The caller's waits as a dial-in call's (connect, settle and close: its defaults)."""
        return DialInTimeouts(greeting_s=self.greeting_timeout_s, reply_s=self.answer_limit_s,
                              quiet_s=self.quiet_s)


# -- what the caller says ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedLine:
    turn: int
    """1-based caller turn."""
    text: str
    clip: int | None
    """Index of the real recording spoken; None: ``text`` is synthesized."""
    barge_in: bool
    """Spoken over the agent's answer to the previous line, on purpose."""

    @property
    def source(self) -> str:
        return "tts" if self.clip is None else "real"


def plan_call(turns: int, seed: int, real: Sequence[str], barge_in_every: int) -> list[PlannedLine]:
    """The caller's lines for one call: the opener, then real recordings (``real``: their
    transcripts) on even turns and sales lines on odd ones, rotated by ``seed`` so that
    concurrent callers differ."""
    lines = []
    rest = SALES_LINES[1:]
    for turn in range(1, turns + 1):
        barge = barge_in_every > 0 and turn >= 2 and turn % barge_in_every == 0
        k = seed + turn // 2 - 1
        if turn == 1:
            lines.append(PlannedLine(turn, SALES_LINES[0], None, barge))
        elif turn % 2 == 0 and real:
            lines.append(PlannedLine(turn, real[k % len(real)], k % len(real), barge))
        else:
            lines.append(PlannedLine(turn, rest[k % len(rest)], None, barge))
    return lines


def voiced_frames(pcm: PCM, below_peak_db: float = VOICED_DB_BELOW_PEAK) -> list[bool]:
    """Per 20 ms frame (the last may be short): is it speech? Digital silence never is."""
    energies = [float(np.mean((pcm[i : i + FRAME_SAMPLES].astype(np.float64) / 32768) ** 2))
                for i in range(0, len(pcm), FRAME_SAMPLES)]
    floor = max(energies, default=0.0) * 10 ** (-below_peak_db / 10)
    return [e > 0 and e >= floor for e in energies]


# -- one call, as the caller saw it ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpokenTurn:
    turn: int
    text: str
    source: str
    barge_in: bool
    start: float
    """Send time of the first voiced frame."""
    end: float
    """Send time of the last voiced frame: the caller's end of speech."""


@dataclass(slots=True)
class CallTimeline:
    """Times on the caller's clock (seconds); filled in by the caller as the call runs."""

    protocol: str
    concurrency: int
    caller: int
    call: int
    connected: float | None = None
    turns: list[SpokenTurn] = field(default_factory=list)
    agent_frames: list[float] = field(default_factory=list)
    """Arrival time of each agent audio message (20 ms each)."""
    flushes: list[float] = field(default_factory=list)
    """Arrival of browser ``interrupt`` / Twilio ``clear``."""
    server_v2v: list[float] = field(default_factory=list)
    """The server's own voice-to-voice of each answered turn (browser ``turn`` messages);
    for comparison only: the server may split or merge the caller's lines."""
    ended: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TurnMetrics:
    turn: int
    text: str
    source: str
    barge_in: bool
    voice_to_voice_s: float | None
    """None when unanswered."""
    unanswered: bool
    overlap: bool
    """Agent audio arrived while the caller was speaking."""


@dataclass(frozen=True, slots=True)
class BargeIn:
    turn: int
    missed: bool
    """The agent was not speaking when the caller started: nothing to interrupt."""
    stop_s: float | None
    """Caller's start → last agent audio frame received while the caller spoke."""
    flush_s: float | None
    """Caller's start → ``interrupt`` / ``clear``."""
    stopped: bool
    """Agent audio stopped before the caller finished speaking."""


@dataclass(frozen=True, slots=True)
class CallMetrics:
    protocol: str
    concurrency: int
    caller: int
    call: int
    greeting_s: float | None
    turns: tuple[TurnMetrics, ...]
    barge_ins: tuple[BargeIn, ...]
    server_v2v: tuple[float, ...]
    ended: str | None
    error: str | None


def bursts(frames: Sequence[float], gap_s: float) -> list[tuple[float, float]]:
    """Agent audio arrivals grouped into (first, last) bursts split at gaps > ``gap_s``."""
    out: list[tuple[float, float]] = []
    for t in sorted(frames):
        if out and t - out[-1][1] <= gap_s:
            out[-1] = (out[-1][0], t)
        else:
            out.append((t, t))
    return out


def measure(tl: CallTimeline, *, reply_timeout_s: float = 15.0,
            gap_s: float = 0.3) -> CallMetrics:
    """One call's timeline → its latencies (see the module docstring)."""
    frames = sorted(tl.agent_frames)
    runs = bursts(frames, gap_s)
    first_start = tl.turns[0].start if tl.turns else float("inf")
    greeting = None
    if tl.connected is not None:
        heard = [t for t in frames if tl.connected <= t < first_start]
        greeting = heard[0] - tl.connected if heard else None
    turns: list[TurnMetrics] = []
    barge_ins: list[BargeIn] = []
    for i, st in enumerate(tl.turns):
        nxt = tl.turns[i + 1].start if i + 1 < len(tl.turns) else float("inf")
        over = [r for r in runs if r[0] <= st.end and r[1] >= st.start]
        talked_over = max((r[1] for r in over), default=None)
        after = max(st.end, talked_over) if talked_over is not None else st.end
        reply = next((t for t in frames if t > after), None)
        v2v = reply - st.end if reply is not None and reply < nxt else None
        unanswered = v2v is None or v2v > reply_timeout_s
        turns.append(TurnMetrics(
            st.turn, st.text, st.source, st.barge_in, None if unanswered else v2v, unanswered,
            bool(over)))
        if st.barge_in:
            barge_ins.append(_barge_in(st, frames, tl.flushes, talked_over, gap_s))
    return CallMetrics(tl.protocol, tl.concurrency, tl.caller, tl.call, greeting,
                       tuple(turns), tuple(barge_ins), tuple(tl.server_v2v), tl.ended, tl.error)


def _barge_in(st: SpokenTurn, frames: list[float], flushes: list[float],
              talked_over: float | None, gap_s: float) -> BargeIn:
    speaking = any(st.start - gap_s <= t <= st.start for t in frames)
    if not speaking or talked_over is None:
        return BargeIn(st.turn, True, None, None, False)
    flush = next((t for t in sorted(flushes) if t >= st.start), None)
    return BargeIn(st.turn, False, max(0.0, talked_over - st.start),
                   flush - st.start if flush is not None else None, talked_over < st.end)


# -- many calls --------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation); None for no values."""
    xs = list(values)
    return float(np.percentile(xs, q)) if xs else None


def spread(values: Iterable[float]) -> dict[str, float | int | None]:
    xs = list(values)
    return {"n": len(xs), "p50": percentile(xs, 50), "p95": percentile(xs, 95),
            "max": max(xs) if xs else None}


@dataclass(frozen=True, slots=True)
class Memory:
    """Server RSS around one level (MiB, the server's process tree)."""

    idle_mib: float
    """Before the level's calls, none active."""
    peak_mib: float
    """Highest sample while the level's calls ran."""

    def per_call_mib(self, concurrency: int) -> float:
        return (self.peak_mib - self.idle_mib) / concurrency


def summarize(calls: Sequence[CallMetrics], memory: Memory | None = None) -> dict[str, Any]:
    """One level (a protocol at one concurrency): p50/p95 of each measure, and counts."""
    if len({(c.protocol, c.concurrency) for c in calls}) > 1:
        raise ValueError("summarize one protocol at one concurrency at a time")
    turns = [t for c in calls for t in c.turns]
    v2v = [(t.turn, t.voice_to_voice_s) for t in turns if t.voice_to_voice_s is not None]
    barges = [b for c in calls for b in c.barge_ins]
    hit = [b for b in barges if not b.missed]
    out: dict[str, Any] = {
        "protocol": calls[0].protocol if calls else None,
        "concurrency": calls[0].concurrency if calls else None,
        "calls": len(calls),
        "failed_calls": sum(c.error is not None for c in calls),
        "turns": len(turns),
        "unanswered": sum(t.unanswered for t in turns),
        "overlapped_turns": sum(t.overlap and not t.barge_in for t in turns),
        "greeting_s": spread(c.greeting_s for c in calls if c.greeting_s is not None),
        "voice_to_voice_s": spread(v for _, v in v2v),
        "voice_to_voice_first_turn_s": spread(v for n, v in v2v if n == 1),
        "voice_to_voice_later_turns_s": spread(v for n, v in v2v if n > 1),
        "server_voice_to_voice_s": spread(v for c in calls for v in c.server_v2v),
        "barge_ins": len(barges),
        "barge_ins_missed": len(barges) - len(hit),
        "barge_ins_not_stopped": sum(not b.stopped for b in hit),
        "barge_in_stop_s": spread(b.stop_s for b in hit if b.stop_s is not None),
        "barge_in_flush_s": spread(b.flush_s for b in hit if b.flush_s is not None),
        "rss": None,
    }
    if memory is not None and calls:
        out["rss"] = {"idle_mib": memory.idle_mib, "peak_mib": memory.peak_mib,
                      "per_call_mib": memory.per_call_mib(calls[0].concurrency)}
    return out
