"""``salesvoice bench pipeline``: voice-to-voice latency of the embedded stack on real speech.

Each turn plays a real human utterance into the pipeline at real-time pace, followed by
silence (as a phone line carries) until the agent has answered. Afterwards every stage
is re-measured on its own — decoding the whole utterance, the LLM's first clause with a
warm cache, synthesizing that clause — to give the stack's *floor*: hang-over + ASR +
LLM first clause + TTS first chunk. What the pipeline adds above it is our overhead.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

from models import registry
from models.audio import HOUSE_RATE, PCM
from models.config import ASRSettings, LLMSettings, TTSSettings, VADSettings
from models.llm.base import LLM, Sampling
from voice.audio import FRAME_SAMPLES
from voice.chunker import ClauseChunker
from voice.events import STAGES, PipelineEvent, TurnCompleted
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.responder import LLMResponder, Responder

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
SYSTEM = (
    "You are Ava, an AI assistant selling insurance by phone for Acme Insurance. "
    "Reply in one or two short spoken sentences, without lists or emojis."
)
GREETING = "Hello, this is Ava, an AI assistant from Acme Insurance. How are you today?"


class BenchSettings(Protocol):
    cache_dir: Path
    llm: LLMSettings
    asr: ASRSettings
    tts: TTSSettings
    vad: VADSettings
    voice: PipelineConfig


_LISTINGS = {"librivox": "transcription", "cards": "cards.transcription"}


def real_utterances(corpora: tuple[str, ...] = ("librivox", "cards")) -> list[tuple[PCM, str]]:
    """Real human speech with transcripts from Debian's pocketsphinx-testdata."""
    clips = []
    for corpus in corpora:
        path = TESTDATA / corpus / _LISTINGS[corpus]
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: apt-get install pocketsphinx-testdata")
        for line in path.read_text().splitlines():
            m = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
            if m:
                pcm, rate = sf.read(TESTDATA / corpus / f"{m.group(2)}.wav", dtype="int16")
                assert rate == HOUSE_RATE, rate
                clips.append((np.asarray(pcm, dtype=np.int16), m.group(1).strip()))
    return clips


@dataclass(slots=True)
class _Caller:
    """Plays audio into the pipeline on a real-time schedule, like a phone line."""

    pipeline: VoicePipeline
    due: float

    async def play(self, pcm: PCM) -> None:
        for i in range(0, len(pcm), FRAME_SAMPLES):
            self.pipeline.push_audio(pcm[i : i + FRAME_SAMPLES])
            self.due += FRAME_SAMPLES / HOUSE_RATE
            await asyncio.sleep(max(0.0, self.due - time.monotonic()))

    async def silence_until(self, done: asyncio.Event, limit_s: float) -> bool:
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        end = time.monotonic() + limit_s
        while not done.is_set() and time.monotonic() < end:
            await self.play(frame)
        return done.is_set()


ResponderFactory = Callable[[LLM, str], Responder]
"""Builds the agent under test for one session id."""


def plain_responder(llm: LLM, session: str) -> Responder:
    return LLMResponder(llm, SYSTEM, GREETING, session=session, sampling=Sampling(max_tokens=60))


async def _first_clause_s(
    make: ResponderFactory, llm: LLM, session: str, done: list[tuple[str, str]], user: str
) -> float:
    """Warm-cache time from request to the first TTS-ready clause, for a responder with
    the same history, measured on its own."""
    responder = make(llm, session)
    responder.commit("", responder.greeting, False)
    for u, a in done:
        responder.commit(u, a, False)
    await responder.warm()
    chunker = ClauseChunker()
    start = time.monotonic()
    gen = responder.reply(user)
    try:
        async for piece in gen:
            if isinstance(piece, str) and chunker.push(piece):
                break
    finally:
        await gen.aclose()  # type: ignore[attr-defined]
    return time.monotonic() - start


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run_pipeline_bench(
    settings: BenchSettings,
    console: Console,
    turns: int,
    make_responder: ResponderFactory = plain_responder,
) -> dict[str, Any]:
    with console.status("loading the embedded models..."):
        vad = registry.build_vad(settings.vad, settings.cache_dir)
        asr = registry.build_asr(settings.asr, settings.cache_dir)
        tts = registry.build_tts(settings.tts, settings.cache_dir)
        llm = registry.build_llm(settings.llm, settings.cache_dir)
    clips = real_utterances()
    session = "bench-pipeline"
    responder = make_responder(llm, session)
    prefix = getattr(responder, "prompt_prefix", None)
    if prefix is not None:  # as the server does at start-up
        with console.status("priming the agent's prompt..."):
            await llm.prime(prefix())
    completion = None
    if settings.voice.turn_head:
        from voice.endpoint import default_turn_head

        completion = default_turn_head().probability
    pipeline = VoicePipeline(vad=vad, asr=asr, tts=tts, responder=responder,
                             config=settings.voice, completion=completion)
    completed: dict[int, TurnCompleted] = {}
    signals = {i: asyncio.Event() for i in range(turns + 1)}

    async def collect() -> None:
        event: PipelineEvent
        async for event in pipeline.events():
            if isinstance(event, TurnCompleted):
                completed[event.turn] = event
                signals[event.turn].set()

    collector = asyncio.create_task(collect())
    records: list[dict[str, Any]] = []
    try:
        await pipeline.start()
        caller = _Caller(pipeline, time.monotonic())
        await caller.silence_until(signals[0], 30)
        for n in range(1, turns + 1):
            pcm, reference = clips[(n - 1) % len(clips)]
            console.print(f"[dim]turn {n}/{turns}: {reference!r}[/]")
            await caller.play(pcm)
            if not await caller.silence_until(signals[n], 40):
                console.print(f"[red]turn {n}: no reply within 40 s[/]")
                break
            await caller.play(np.zeros(HOUSE_RATE // 2, dtype=np.int16))
            done = completed[n]
            records.append({"turn": n, "reference": reference, "user_text": done.user_text,
                            "agent_text": done.agent_text, "timings": done.timings.as_dict(),
                            "clip_s": len(pcm) / HOUSE_RATE})
    finally:
        await pipeline.aclose()
        await collector

    with console.status("measuring each stage on its own (the floor)..."):
        for i, rec in enumerate(records):
            pcm = clips[(rec["turn"] - 1) % len(clips)][0]
            history = [(r["user_text"], r["agent_text"]) for r in records[:i]]
            t0 = time.monotonic()
            await asr.transcribe(pcm)
            asr_s = time.monotonic() - t0
            clause_s = await _first_clause_s(
                make_responder, llm, f"{session}-floor", history, rec["user_text"]
            )
            first = ClauseChunker().push(rec["agent_text"] + " ") or [rec["agent_text"]]
            t0 = time.monotonic()
            async for _ in tts.stream(first[0]):
                break
            tts_s = time.monotonic() - t0
            hang = rec["timings"]["turn_decided"] - rec["timings"]["speech_end"]
            rec["floor"] = {"hangover": hang, "asr_final": asr_s, "llm_first_clause": clause_s,
                            "tts_first_chunk": tts_s, "total": hang + asr_s + clause_s + tts_s}
    await llm.aclose()
    await asr.aclose()
    return _report(records, console)


def _report(records: list[dict[str, Any]], console: Console) -> dict[str, Any]:
    table = Table(title="voice pipeline: per-turn latency (s)")
    for col in ("turn", "v2v", *(s for s, _, _ in STAGES), "floor", "overhead"):
        table.add_column(col, justify="right")
    stage_values: dict[str, list[float]] = {s: [] for s, _, _ in STAGES}
    v2v: list[float] = []
    floors: list[float] = []
    for rec in records:
        t = rec["timings"]
        row = []
        for name, a, b in STAGES:
            stage_values[name].append(t[b] - t[a])
            row.append(f"{t[b] - t[a]:.3f}")
        v2v.append(t["voice_to_voice_s"])
        floors.append(rec["floor"]["total"])
        table.add_row(str(rec["turn"]), f"{v2v[-1]:.3f}", *row, f"{floors[-1]:.3f}",
                      f"{v2v[-1] - floors[-1]:+.3f}")
    console.print(table)
    summary: dict[str, Any] = {
        "turns": len(records),
        "voice_to_voice_p50_s": _pct(v2v, 50),
        "voice_to_voice_p95_s": _pct(v2v, 95),
        "stage_p50_s": {k: _pct(v, 50) for k, v in stage_values.items()},
        "floor_p50_s": _pct(floors, 50),
        "floor_components_p50_s": {
            k: _pct([r["floor"][k] for r in records], 50)
            for k in ("hangover", "asr_final", "llm_first_clause", "tts_first_chunk")
        },
        "overhead_above_floor_p50": (
            statistics.median(v / f - 1 for v, f in zip(v2v, floors, strict=True))
            if records else float("nan")
        ),
    }
    s = Table(title="summary")
    s.add_column("measure")
    s.add_column("value", justify="right")
    s.add_row("voice-to-voice p50 / p95 (s)",
              f"{summary['voice_to_voice_p50_s']:.3f} / {summary['voice_to_voice_p95_s']:.3f}")
    for k, v in summary["stage_p50_s"].items():
        s.add_row(f"  stage {k} p50 (s)", f"{v:.3f}")
    s.add_row("floor p50 (s)", f"{summary['floor_p50_s']:.3f}")
    for k, v in summary["floor_components_p50_s"].items():
        s.add_row(f"  floor {k} p50 (s)", f"{v:.3f}")
    s.add_row("overhead above floor, p50", f"{100 * summary['overhead_above_floor_p50']:+.1f}%")
    console.print(s)
    return {"summary": summary, "turns": records}
