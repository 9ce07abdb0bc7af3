"""``salesvoice models check`` and ``models list``: load what is configured, run it once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np

from models import registry
from models.audio import HOUSE_RATE, AudioChunk
from models.config import ASRSettings, LLMSettings, TTSSettings, VADSettings
from models.embed import load_embedder
from models.llm.base import ChatMessage, Sampling
from models.resources import rss_mb
from models.weights import CATALOG


class ModelSections(Protocol):
    cache_dir: Path
    llm: LLMSettings
    asr: ASRSettings
    tts: TTSSettings
    vad: VADSettings


@dataclass(frozen=True, slots=True)
class CheckRow:
    kind: str
    backend: str
    model: str
    ok: bool
    load_s: float
    rss_mb: float
    speed: str
    detail: str


def _model_name(settings: ModelSections, kind: str) -> tuple[str, str]:
    llm, tts = settings.llm, settings.tts
    if kind == "llm":
        llm_models = {
            "llamacpp": llm.llamacpp.model,
            "openai": llm.openai.model,
            "vllm": llm.vllm.model,
            "transformers": llm.transformers.model,
        }
        return llm.backend, llm_models[llm.backend]
    if kind == "asr":
        return settings.asr.backend, settings.asr.faster_whisper.model
    if kind == "tts":
        voices = {
            "piper": tts.piper.voice,
            "espeak-ng": tts.espeak_ng.voice,
            "flite": tts.flite.voice,
            "xtts": tts.xtts.model,
        }
        return tts.backend, voices[tts.backend]
    if kind == "embed":
        return "minilm-onnx", "minilm-l6-v2-int8"
    return settings.vad.backend, settings.vad.silero.model


async def run_check(settings: ModelSections, kinds: tuple[str, ...]) -> list[CheckRow]:
    """Load each configured backend of ``kinds`` and run one real inference with it."""
    rows: list[CheckRow] = []
    clip = AudioChunk(np.zeros(HOUSE_RATE, dtype=np.int16), HOUSE_RATE)
    for kind in ("tts", "asr", "vad", "embed", "llm"):
        if kind not in kinds:
            continue
        backend, model = _model_name(settings, kind)
        before = rss_mb()
        start = time.monotonic()
        try:
            if kind == "tts":
                tts = registry.build_tts(settings.tts, settings.cache_dir)
                load = time.monotonic() - start
                t = time.monotonic()
                audio = await tts.synthesize("Hello, this is the salesvoice model check.")
                took = time.monotonic() - t
                clip = audio.to_rate(HOUSE_RATE)
                speed = f"RTF {took / max(audio.duration_s, 1e-9):.3f}"
                detail = f"{audio.duration_s:.2f} s of audio at {audio.sample_rate} Hz"
                used = rss_mb() - before
                await tts.aclose()
            elif kind == "asr":
                asr = registry.build_asr(settings.asr, settings.cache_dir)
                load = time.monotonic() - start
                t = time.monotonic()
                tr = await asr.transcribe(clip.pcm)
                took = time.monotonic() - t
                speed = f"RTF {took / max(clip.duration_s, 1e-9):.3f}"
                detail = repr(tr.text)
                used = rss_mb() - before
                await asr.aclose()
            elif kind == "vad":
                vad = registry.build_vad(settings.vad, settings.cache_dir)
                load = time.monotonic() - start
                stream = vad.stream()
                t = time.monotonic()
                probs = stream.push(clip.pcm)
                took = time.monotonic() - t
                speed = f"{1000 * took / max(len(probs), 1):.2f} ms/window"
                speech = sum(p >= 0.5 for p in probs)
                detail = f"{speech}/{len(probs)} windows speech"
                used = rss_mb() - before
            elif kind == "embed":
                embedder = load_embedder(settings.cache_dir)
                load = time.monotonic() - start
                sentences = [
                    "The premium is fixed for the whole term.",
                    "Your monthly payment never changes during the term.",
                ]
                t = time.monotonic()
                vectors = embedder.embed(sentences)
                took = time.monotonic() - t
                speed = f"{1000 * took / len(sentences):.1f} ms/sentence"
                detail = f"{embedder.dim}-d, paraphrase cosine {float(vectors[0] @ vectors[1]):.2f}"
                used = rss_mb() - before
            else:
                llm = registry.build_llm(settings.llm, settings.cache_dir)
                load = time.monotonic() - start
                c = await llm.complete(
                    [ChatMessage("user", "In one short sentence: what is term life insurance?")],
                    Sampling(max_tokens=32, temperature=0.0),
                )
                speed = f"TTFT {c.timings.ttft_s:.2f} s, {c.timings.decode_tokens_per_s:.1f} tok/s"
                detail = repr(c.text[:60])
                used = rss_mb() - before
                await llm.aclose()
            rows.append(
                CheckRow(kind, backend, model, True, load, used, speed, detail)
            )
        except Exception as exc:  # reported in the table; the command exits non-zero
            rows.append(
                CheckRow(
                    kind,
                    backend,
                    model,
                    False,
                    time.monotonic() - start,
                    0.0,
                    "-",
                    f"{type(exc).__name__}: {exc}",
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    kind: str
    packages: str
    installed: bool
    licence: str
    description: str


def list_packaged() -> list[ListRow]:
    rows = []
    for w in CATALOG.values():
        installed = True
        for pkg in w.packages:
            try:
                metadata.version(pkg)
            except metadata.PackageNotFoundError:
                installed = False
        pinned = {f.package: f.version for f in w.files}
        shown = (
            f"{w.files[0].package}..{w.files[-1].package}=={w.files[0].version}"
            if len(w.packages) > 2
            else ", ".join(f"{p}=={v}" for p, v in pinned.items())
        )
        rows.append(ListRow(w.id, w.kind, shown, installed, w.licence, w.description))
    return rows
