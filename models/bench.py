"""``salesvoice bench models``: speed, latency, load time and memory of the embedded models.

A benchmark, not a test: it prints tables and returns every number it measured (JSON-ready);
it never judges them. Each timed figure is the median of ``REPS`` repetitions.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from statistics import median
from typing import Any, TypeVar

import jiwer
import numpy as np
from rich.console import Console
from rich.status import Status
from rich.table import Table

from models import registry
from models.asr.base import ASR
from models.audio import HOUSE_RATE, AudioChunk
from models.check import ModelSections
from models.llm.base import LLM, ChatMessage, Sampling
from models.resources import peak_rss_mb, rss_mb
from models.tts.base import TTS
from models.vad.base import VAD

Row = dict[str, Any]
T = TypeVar("T")

REPS = 3
FRAME = HOUSE_RATE // 50
"""20 ms of 16 kHz audio: the frame size a live call delivers."""
VAD_AUDIO_S = 10.0

TTS_TEXTS = {
    "short": "Hi, is this Maria?",
    "medium": "I'm calling about the life insurance quote you requested on our website.",
    "long": "Based on what you told me, a twenty year term policy with a five hundred thousand "
    "dollar benefit would cost about forty dollars a month, and you can cancel at any time.",
}
# Keyed by the clip length each sentence roughly gives with the default Piper voice.
ASR_TEXTS = {
    "1s": "Good morning, how are you?",
    "3s": "I'm calling about the life insurance quote you asked for.",
    "6s": "Would you have a few minutes today to talk about how you could protect your family "
    "and your home if something were to happen to you?",
    "10s": "Our term policies are simple: you pick the cover and the length, you pay the same "
    "premium every month, and if you pass away during the term your family receives the "
    "full benefit, free of tax.",
}
# About 300 tokens: the size of a real agent prompt, to expose the cost of a cold prefix.
SYSTEM_PROMPT = (
    "You are Alex, a friendly phone sales agent for Harbor Mutual, an insurance company that "
    "sells term life, whole life, critical illness and income protection policies. You are on "
    "a live phone call, so keep every reply to one or two short spoken sentences: no lists, no "
    "markdown. Your goal is to understand the caller's situation, explain the product that "
    "fits it, and book a call with a licensed advisor who can issue a written quote. Be "
    "honest: never promise a price before underwriting, never claim that a policy covers "
    "something it does not, and never pressure the caller. If the caller is not interested, "
    "thank them and end the call; if they ask to be removed from the list, confirm that you "
    "will do so. Ask one question at a time. Facts: term life cover runs for ten, twenty or "
    "thirty years and pays a lump sum if the insured dies during the term, at a fixed "
    "premium; whole life cover lasts for life and builds a cash value; critical illness "
    "cover pays a lump sum on diagnosis of cancer, heart attack or stroke; income protection "
    "replaces up to sixty percent of salary after a waiting period. Prices depend on age, "
    "health, smoking and the amount of cover: a healthy non-smoker aged thirty-five pays "
    "twenty to forty dollars a month for half a million dollars of twenty year term cover. "
    "Policies can be cancelled at any time, with a full refund in the first thirty days."
)
USER_TURNS = (
    "Hi, who is this?",
    "I already have some insurance through my work, why would I need more?",
    "Okay, roughly how much would it cost for someone my age?",
)
LLM_SAMPLING = Sampling(temperature=0.0, max_tokens=32, seed=0)
LLM_CONVERSATIONS = 2
KINDS = ("tts", "asr", "vad", "llm")


def _wer(reference: str, hypothesis: str) -> float:
    ref, hyp = (" ".join(re.findall(r"[a-z']+", t.lower())) for t in (reference, hypothesis))
    return float(jiwer.wer(ref, hyp))


def _load(kind: str, build: Callable[[], T], loads: dict[str, Row]) -> T:
    before, start = rss_mb(), time.perf_counter()
    model = build()
    loads[kind] = {
        "kind": kind,
        "load_s": time.perf_counter() - start,
        "rss_before_mb": before,
        "rss_delta_mb": rss_mb() - before,
    }
    return model


def _used(kind: str, loads: dict[str, Row]) -> None:
    """Record RSS growth since load: mmapped weights are only resident once they are used."""
    loads[kind]["rss_delta_after_use_mb"] = rss_mb() - loads[kind]["rss_before_mb"]


def _print(console: Console, title: str, rows: list[Row], hide: tuple[str, ...] = ()) -> None:
    table = Table(title=title)
    keys = [k for k in rows[0] if k not in hide]
    for k in keys:
        table.add_column(k, justify="right" if isinstance(rows[0][k], int | float) else "left")
    for r in rows:
        table.add_row(*(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    console.print(table)


async def _bench_tts(tts: TTS, status: Status) -> list[Row]:
    rows: list[Row] = []
    for label, text in TTS_TEXTS.items():
        firsts: list[float] = []
        rtfs: list[float] = []
        for rep in range(REPS):
            status.update(f"TTS: {label} sentence, rep {rep + 1}/{REPS}")
            start, first, audio_s = time.perf_counter(), 0.0, 0.0
            async for chunk in tts.stream(text):
                first = first or time.perf_counter() - start
                audio_s += chunk.duration_s
            firsts.append(first)
            rtfs.append((time.perf_counter() - start) / max(audio_s, 1e-9))
        rows.append(
            {
                "text": label,
                "words": len(text.split()),
                "audio_s": audio_s,
                "first_chunk_s": median(firsts),
                "rtf": median(rtfs),
            }
        )
    return rows


async def _bench_asr(asr: ASR, clips: dict[str, AudioChunk], status: Status) -> list[Row]:
    rows: list[Row] = []
    for label, clip in clips.items():
        batch: list[float] = []
        finals: list[float] = []
        text = streamed = ""
        for rep in range(REPS):
            status.update(f"ASR: {label} clip, rep {rep + 1}/{REPS}")
            start = time.perf_counter()
            text = (await asr.transcribe(clip.pcm)).text
            batch.append(time.perf_counter() - start)
            async with asr.session() as session:
                for i in range(0, len(clip.pcm), FRAME):
                    session.push(clip.pcm[i : i + FRAME])
                    # Yield as a live feed would, so background decodes start; finalize then
                    # waits for the one in flight (a worst case for end-of-turn latency).
                    await asyncio.sleep(0)
                start = time.perf_counter()
                streamed = (await session.finalize()).text
                finals.append(time.perf_counter() - start)
        rows.append(
            {
                "clip": label,
                "audio_s": clip.duration_s,
                "transcribe_s": median(batch),
                "rtf": median(batch) / clip.duration_s,
                "stream_finalize_s": median(finals),
                "wer": _wer(ASR_TEXTS[label], text),
                "stream_wer": _wer(ASR_TEXTS[label], streamed),
                "text": text,
            }
        )
    return rows


def _bench_vad(vad: VAD, speech: AudioChunk) -> Row:
    total = int(VAD_AUDIO_S * HOUSE_RATE)
    silence = np.zeros(max(total - len(speech.pcm), 0), dtype=np.int16)
    pcm = np.concatenate([speech.pcm[:total], silence])
    times: list[float] = []
    probs: list[float] = []
    for _ in range(REPS):
        stream, probs = vad.stream(), []
        start = time.perf_counter()
        for i in range(0, len(pcm), FRAME):
            probs.extend(stream.push(pcm[i : i + FRAME]))
        times.append(time.perf_counter() - start)
    per_window = median(times) / len(probs)
    return {
        "audio_s": len(pcm) / HOUSE_RATE,
        "window_ms": 1000 * stream.window_s,
        "windows": len(probs),
        "speech_windows": sum(p >= 0.5 for p in probs),
        "us_per_window": 1e6 * per_window,
        "windows_per_s": 1 / per_window,
        "rtf": per_window / stream.window_s,
    }


async def _bench_llm(llm: LLM, status: Status) -> Row:
    turns: list[Row] = []
    for conv in range(1, LLM_CONVERSATIONS + 1):
        # A distinct opening per conversation, so no slot holds a cached copy of its prompt.
        messages = [ChatMessage("system", f"Call reference {conv}. {SYSTEM_PROMPT}")]
        for turn, user in enumerate(USER_TURNS, 1):
            status.update(f"LLM: conversation {conv}/{LLM_CONVERSATIONS}, turn {turn}")
            messages.append(ChatMessage("user", user))
            c = await llm.complete(messages, LLM_SAMPLING, session=f"bench-{conv}")
            messages.append(ChatMessage("assistant", c.text))
            turns.append(
                {
                    "conversation": conv,
                    "turn": turn,
                    "cache": "cold" if turn == 1 else "warm",
                    "prompt_tokens": c.usage.prompt_tokens,
                    "cached_tokens": c.usage.cached_tokens,
                    "completion_tokens": c.usage.completion_tokens,
                    "ttft_s": c.timings.ttft_s,
                    "decode_tok_s": c.timings.decode_tokens_per_s,
                    "total_s": c.timings.total_s,
                    "text": c.text,
                }
            )
    summary = {
        f"{cache}_ttft_s": median(t["ttft_s"] for t in turns if t["cache"] == cache)
        for cache in ("cold", "warm")
    }
    summary["decode_tok_s"] = median(t["decode_tok_s"] for t in turns)
    return {"turns": turns, "summary": summary}


async def run_models_bench(settings: ModelSections, console: Console) -> dict[str, Any]:
    """Load each configured model, measure it, print tables; return every measurement."""
    loads: dict[str, Row] = {}
    config = {k: getattr(settings, k).model_dump(mode="json") for k in KINDS}
    out: dict[str, Any] = {"reps": REPS, "cpu_count": os.cpu_count(), "config": config}
    cache = settings.cache_dir
    with console.status("TTS: loading...") as status:
        tts = _load("tts", lambda: registry.build_tts(settings.tts, cache), loads)
        out["tts"] = await _bench_tts(tts, status)
        status.update("TTS: synthesizing ASR clips...")
        clips = {k: (await tts.synthesize(t)).to_rate(HOUSE_RATE) for k, t in ASR_TEXTS.items()}
        _used("tts", loads)
        await tts.aclose()
        _print(console, f"TTS {tts.name} (median of {REPS})", out["tts"])

        status.update("ASR: loading...")
        asr = _load("asr", lambda: registry.build_asr(settings.asr, cache), loads)
        out["asr"] = await _bench_asr(asr, clips, status)
        _used("asr", loads)
        await asr.aclose()
        _print(console, f"ASR {asr.name} (median of {REPS}; stream: 20 ms frames)", out["asr"])

        status.update("VAD: loading and running...")
        vad = _load("vad", lambda: registry.build_vad(settings.vad, cache), loads)
        out["vad"] = _bench_vad(vad, clips["6s"])
        _used("vad", loads)
        _print(console, f"VAD {vad.name} (speech clip, then silence)", [out["vad"]])

        status.update("LLM: loading...")
        llm = _load("llm", lambda: registry.build_llm(settings.llm, cache), loads)
        out["llm"] = await _bench_llm(llm, status)
        _used("llm", loads)
        await llm.aclose()
        title = f"LLM {llm.name} (turn 1 cold; later turns reuse the session's cached prefix)"
        _print(console, title, out["llm"]["turns"], hide=("text",))
        _print(console, "LLM medians", [out["llm"]["summary"]])

    out["load"] = loads
    out["peak_rss_mb"] = peak_rss_mb()
    _print(console, "Load time and resident memory (MiB)", list(loads.values()))
    console.print(f"peak RSS {out['peak_rss_mb']:.0f} MiB on {os.cpu_count()} CPU(s)")
    return out
