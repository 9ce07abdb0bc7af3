"""Build any backend from settings. Vendor modules are imported only here, lazily, so a
missing optional extra fails with a clear error only when that backend is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models.asr.base import ASR
from models.config import ASRSettings, LlamaCppSettings, LLMSettings, TTSSettings, VADSettings
from models.errors import ModelNotFoundError
from models.llm.base import LLM, SamplingDefaults

if TYPE_CHECKING:
    from models.llm.llamacpp import LoraAdapter
from models.tts.base import TTS
from models.vad.base import VAD
from models.weights import CATALOG, resolve_model_ref, sha256_remembered


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
        lora = _lora(settings.llamacpp, path, cache_dir)
        return LlamaCppLLM(path, settings.llamacpp, defaults, cache_dir / "llm-prefix", lora)
    if settings.backend == "openai":
        from models.llm.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(settings.openai, defaults)
    if settings.backend == "vllm":
        from models.llm.vllm import VLLMEngineLLM

        return VLLMEngineLLM(settings.vllm, defaults)
    from models.llm.transformers_hf import TransformersLLM

    return TransformersLLM(settings.transformers, defaults)


def _lora(settings: LlamaCppSettings, base: Path, cache_dir: Path) -> LoraAdapter | None:
    """The configured adapter, checked against its stamp and the base about to load."""
    from models.llm.llamacpp import verified_lora

    if settings.lora is None:
        return None
    weight = CATALOG.get(settings.model)
    # A packaged base was just verified against its pinned sha256; a file is hashed once.
    base_sha = ((weight.joined_sha256 or weight.files[0].sha256) if weight is not None
                else sha256_remembered(base, cache_dir))
    return verified_lora(Path(settings.lora).expanduser(), base_sha, settings.lora_scale)


def llm_version(settings: LLMSettings) -> str:
    """Which model the settings pick, as the loaded backend reports it (the adapter's
    sha256 read from its stamp; the load itself checks the file)."""
    if settings.backend == "llamacpp":
        from models.llm.llamacpp import model_version, read_lora_stamp

        lc = settings.llamacpp
        sha = (None if lc.lora is None
               else str(read_lora_stamp(Path(lc.lora).expanduser())["gguf_sha256"]))
        return model_version(lc.model, sha, lc.lora_scale)
    if settings.backend == "vllm" and settings.vllm.lora is not None:
        return f"vllm:{settings.vllm.model}+lora:{settings.vllm.lora}"
    backend = getattr(settings, settings.backend)
    return f"{settings.backend}:{backend.model}"


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
