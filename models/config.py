"""Typed settings for every model kind, and the TOML + environment loader.

Unknown keys are errors everywhere (``extra="forbid"``): a typo in a config file must
not silently fall back to a default.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from models.errors import ConfigError

_C = TypeVar("_C", bound=BaseModel)


def load_toml_config(path: Path, model: type[_C], what: str,
                     overrides: Mapping[str, Any] | None = None) -> _C:
    """A ``model`` from the TOML file ``path``; every problem a ConfigError naming the
    file and, for a bad field, its dotted key ("unknown key" for a typo)."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None
    data.update(overrides or {})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: "
            + ("unknown key" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors())
        raise ConfigError(f"{what} {path} is invalid: {problems}") from None


def keep_design(design: Mapping[str, Any], path: Path, what: str,
                error: type[ConfigError] = ConfigError) -> None:
    """A run folder holds one design: the first run writes ``design`` (JSON) to ``path``
    (atomically); a rerun with another design is refused with ``error``, naming the keys
    that changed, rather than mixing its results into the old ones."""
    design = json.loads(json.dumps(design))
    if path.is_file():
        kept = json.loads(path.read_text())
        if kept != design:
            changed = sorted(k for k in {*kept, *design} if kept.get(k) != design.get(k))
            raise error(
                f"{path.parent} holds {what} with other settings ({', '.join(changed)} "
                f"changed): use a new name (or output) for {what} with these settings")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(design, indent=2) + "\n")
    tmp.replace(path)


class StrictModel(BaseModel):
    """Base for settings: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "salesvoice"


def default_data_dir() -> Path:
    """Where calls and results live: $XDG_DATA_HOME/salesvoice (~/.local/share/salesvoice)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "salesvoice"


# --- LLM -------------------------------------------------------------------------------


class LlamaCppSettings(StrictModel):
    model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    """A packaged weight id (``salesvoice models list``) or a path to a .gguf file."""
    n_ctx: int = Field(8192, ge=256)
    """Total context, shared by the slots."""
    slots: int = Field(2, ge=1)
    """Parallel sequences; each conversation keeps its own slot so its prefix stays cached."""
    threads: int = Field(2, ge=1)
    batch_threads: int = Field(2, ge=1)
    n_batch: int = Field(512, ge=32)
    cache_reuse: int = Field(64, ge=0)
    """llama.cpp ``n_cache_reuse``: after the agent cuts a long call's history, cached
    chunks of at least this many tokens are shifted into place rather than evaluated
    again, so the turn after a cut evaluates little more than the call notes (0: off)."""
    cache_ram_mib: int = Field(0, ge=0)
    """llama.cpp's host-memory prompt cache (``--cache-ram``): when a slot moves to another
    conversation, the state it held is kept in RAM, up to this many MiB, to be restored
    later instead of evaluated again (0: off). Off by default: llama.cpp's own 8,192 MiB
    made a live server's RSS climb ~28 MB a turn, and in a 4-caller soak 1,024 MiB cost
    ~1.3 GB of RSS for no latency gain (docs/architecture.md, "Under load")."""
    http_port: int = Field(0, ge=0, le=65535)
    """llama.cpp also serves the model over OpenAI-compatible HTTP on loopback at this
    port (0: any free port)."""
    lora: str | None = None
    """A tuned version: a LoRA GGUF from ``salesvoice finetune export``, applied to
    ``model`` at load. Its ``.json`` stamp is checked (file sha256, trained on this base)."""
    lora_scale: float = Field(1.0, gt=0)
    """How strongly the adapter is applied (1: as trained)."""


class OpenAISettings(StrictModel):
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "default"
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (never the key itself)."""
    connect_timeout_s: float = Field(5.0, gt=0)
    context_tokens: int | None = Field(None, ge=256)
    """Tokens one request may hold on the server (vLLM's ``max_model_len``, llama.cpp's
    ``n_ctx`` / slots); unset: the agent assumes 4,096."""
    audio_input: bool = False
    """The served model hears audio (Ultravox, Qwen2-Audio under ``vllm serve``): a
    reply's request carries the caller's latest utterance as an ``input_audio`` part
    (16 kHz WAV) instead of its transcript; the local ASR still drives turn-taking and
    the record. See docs/finetune.md, "Audio: the end-to-end path"."""


class VLLMSettings(StrictModel):
    model: str = "Qwen/Qwen2.5-7B-Instruct"
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int = Field(8192, ge=256)
    dtype: str = "auto"
    enable_prefix_caching: bool = True
    lora: str | None = None
    """A tuned version: the PEFT adapter folder from ``salesvoice finetune`` (its
    ``adapter/``), applied by vLLM per request on ``model`` (``enable_lora``)."""
    max_lora_rank: int = Field(16, ge=1)
    """At least the adapter's ``--lora-r``."""


class TransformersSettings(StrictModel):
    model: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    """A local checkpoint directory (or hub name where a hub is reachable)."""
    adapter: str | None = None
    """Optional LoRA adapter directory from fine-tuning."""
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"


class LLMSettings(StrictModel):
    backend: Literal["llamacpp", "openai", "vllm", "transformers"] = "llamacpp"
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    max_tokens: int = Field(256, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    """Upper bound for one whole generation."""
    llamacpp: LlamaCppSettings = LlamaCppSettings()
    openai: OpenAISettings = OpenAISettings()
    vllm: VLLMSettings = VLLMSettings()
    transformers: TransformersSettings = TransformersSettings()


# --- ASR -------------------------------------------------------------------------------


class FasterWhisperSettings(StrictModel):
    model: str = "whisper-tiny.en"
    """A packaged weight id, a CTranslate2 model directory, or a model name (large-v3)."""
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1)
    beam_size: int = Field(1, ge=1)
    language: str | None = "en"
    step_s: float = Field(1.0, gt=0)
    """Re-decode the growing utterance whenever this much new audio has arrived."""
    final_slack_s: float = Field(0.25, ge=0)
    """finalize() reuses the last hypothesis if at most this much audio came after it."""


class ASRSettings(StrictModel):
    backend: Literal["faster-whisper"] = "faster-whisper"
    faster_whisper: FasterWhisperSettings = FasterWhisperSettings()


# --- TTS -------------------------------------------------------------------------------


class PiperSettings(StrictModel):
    voice: str = "piper-en_US-joe-medium"
    """A packaged weight id or a path to a Piper .onnx voice (with its .onnx.json)."""
    length_scale: float | None = Field(None, gt=0)
    """Speaking rate: < 1 is faster. None keeps the voice's own setting."""
    use_cuda: bool = False


class EspeakSettings(StrictModel):
    voice: str = "en-us"
    words_per_minute: int = Field(175, ge=80, le=450)


class FliteSettings(StrictModel):
    voice: str = "slt"


class XTTSSettings(StrictModel):
    model: str = "tts_models/multilingual/multi-dataset/xtts_v2"
    speaker_wav: str | None = None
    language: str = "en"
    device: str = "cuda"


class TTSSettings(StrictModel):
    backend: Literal["piper", "espeak-ng", "flite", "xtts"] = "piper"
    piper: PiperSettings = PiperSettings()
    espeak_ng: EspeakSettings = EspeakSettings()
    flite: FliteSettings = FliteSettings()
    xtts: XTTSSettings = XTTSSettings()


# --- VAD -------------------------------------------------------------------------------


class SileroSettings(StrictModel):
    model: str = "silero-vad"
    threads: int = Field(1, ge=1)


class VADSettings(StrictModel):
    backend: Literal["silero"] = "silero"
    silero: SileroSettings = SileroSettings()


# --- loading ---------------------------------------------------------------------------

S = TypeVar("S", bound=BaseModel)
ENV_PREFIX = "SALESVOICE_"
_RESERVED_ENV = {"SALESVOICE_CONFIG"}


def _parse_env_value(raw: str) -> Any:
    """Arrays and inline tables are parsed as TOML; scalars stay strings, which pydantic
    converts to the field's type (so a model named "7" stays the string "7")."""
    if raw.lstrip().startswith(("[", "{")):
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            return raw
    return raw


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested dict from SALESVOICE_A__B=value variables, and key path → variable name."""
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _RESERVED_ENV:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__")]
        node = data
        for k in keys[:-1]:
            child = node.setdefault(k, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} conflicts with another override")
            node = child
        node[keys[-1]] = _parse_env_value(raw)
        origin[".".join(keys)] = name
    return data, origin


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_settings(
    cls: type[S], path: Path | None = None, environ: Mapping[str, str] | None = None
) -> S:
    """Build ``cls`` from a TOML file (optional) overlaid with SALESVOICE_* variables.

    Nested keys use ``__`` in variable names: ``SALESVOICE_LLM__BACKEND=openai``.
    Raises ConfigError naming the offending key and where it came from.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        source = str(path)
    overrides, origin = _env_overrides(environ)
    data = _merge(data, overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            # The variable that set this key, or one that set a table containing it.
            owners = [k for k in origin if key == k or key.startswith(k + ".")]
            where = f"environment variable {origin[max(owners, key=len)]}" if owners else source
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting {key!r} (from {where})")
            else:
                problems.append(f"setting {key!r} (from {where}): {err['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, set | frozenset):  # sorted: the same text in every process
        return _toml_value(sorted(value))
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


_SECRET_NAME = re.compile(r"(^|_)(token|password|secret)$")
"""Settings whose text is a credential (``auth_token``, ``twilio_auth_token``,
``api_token``): printed as set or unset, never their value."""


_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*:)[^@/\s]+@")
"""The password in a URL's user info (``postgresql+psycopg://user:pw@host/db``)."""


def hide_url_password(text: str) -> str:
    """``text`` with the password of any URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}***@", text)


def _is_secret(name: str, value: Any) -> bool:
    return isinstance(value, SecretStr) or (isinstance(value, str)
                                            and _SECRET_NAME.search(name) is not None)


def to_toml(settings: BaseModel, prefix: str = "") -> str:
    """Settings as commented TOML (None values shown as comments, since TOML has no null;
    secrets as a comment saying they are set, so the output is safe to paste)."""
    lines: list[str] = []
    tables: list[tuple[str, BaseModel]] = []
    for name, info in type(settings).model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            tables.append((f"{prefix}{name}", value))
            continue
        if info.description:
            lines.extend(f"# {line}" for line in info.description.splitlines())
        if value is None:
            lines.append(f"# {name} = (unset)")
        elif _is_secret(name, value):
            lines.append(f"# {name} = *** (set; not shown)")
        else:
            shown = hide_url_password(value) if isinstance(value, str) else value
            lines.append(f"{name} = {_toml_value(shown)}")
    for table, value in tables:
        lines.append(f"\n[{table}]")
        lines.append(to_toml(value, f"{table}."))
    return "\n".join(lines).strip("\n")
