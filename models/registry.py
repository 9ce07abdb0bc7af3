"""Build any backend from settings. Vendor modules are imported only here, lazily, so a
missing optional extra fails with a clear error only when that backend is asked for."""

from __future__ import annotations

from pathlib import Path

from models.asr.base import ASR
from models.config import ASRSettings, LLMSettings, TTSSettings, VADSettings
from models.errors import ModelNotFoundError
from models.llm.base import LLM, SamplingDefaults
from models.tts.base import TTS
from models.vad.base import VAD
from models.weights import resolve_model_ref


def _required(ref: str, kind: str, cache_dir: Path) -> Path:
    path = resolve_model_ref(ref, kind, cache_dir)  # type: ignore[arg-type]
    if path is None:
        raise ModelNotFoundError(
            f"{kind} model {ref!r} is neither a packaged model id nor an existing path "
            "(see 'salesvoice models list')"
        )
    return path


def build_llm(settings: LLMSettings, cache_dir: Path) -> LLM:
    defaults = SamplingDefaults(
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_tokens,
        timeout_s=settings.timeout_s,
    )
    if settings.backend == "llamacpp":
        from models.llm.llamacpp import LlamaCppLLM

        path = _required(settings.llamacpp.model, "llm", cache_dir)
        return LlamaCppLLM(path, settings.llamacpp, defaults, cache_dir / "llm-prefix")
    if settings.backend == "openai":
        from models.llm.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(settings.openai, defaults)
    if settings.backend == "vllm":
        from models.llm.vllm import VLLMEngineLLM

        return VLLMEngineLLM(settings.vllm, defaults)
    from models.llm.transformers_hf import TransformersLLM

    return TransformersLLM(settings.transformers, defaults)


def build_asr(settings: ASRSettings, cache_dir: Path) -> ASR:
    from models.asr.faster_whisper import FasterWhisperASR

    fw = settings.faster_whisper
    ref = resolve_model_ref(fw.model, "asr", cache_dir)
    return FasterWhisperASR(ref if ref is not None else fw.model, fw)


def build_tts(settings: TTSSettings, cache_dir: Path) -> TTS:
    if settings.backend == "piper":
        from models.tts.piper import PiperTTS

        return PiperTTS(_required(settings.piper.voice, "tts", cache_dir), settings.piper)
    if settings.backend == "espeak-ng":
        from models.tts.cli_engines import EspeakTTS

        return EspeakTTS(settings.espeak_ng)
    if settings.backend == "flite":
        from models.tts.cli_engines import FliteTTS

        return FliteTTS(settings.flite)
    from models.tts.xtts import XTTS

    return XTTS(settings.xtts)


def build_vad(settings: VADSettings, cache_dir: Path) -> VAD:
    from models.vad.silero import SileroVAD

    return SileroVAD(_required(settings.silero.model, "vad", cache_dir), settings.silero.threads)
