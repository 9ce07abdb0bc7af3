"""Missing model files give specific, actionable errors before anything loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.config import (
    LlamaCppSettings,
    LLMSettings,
    PiperSettings,
    SileroSettings,
    TTSSettings,
    VADSettings,
)
from models.errors import ModelNotFoundError
from models.registry import build_llm, build_tts, build_vad


def test_missing_gguf_path_names_the_path_and_the_packaged_choices(tmp_path: Path) -> None:
    s = LLMSettings(llamacpp=LlamaCppSettings(model=str(tmp_path / "nope.gguf")))
    with pytest.raises(ModelNotFoundError, match=r"nope\.gguf.*qwen2\.5-coder"):
        build_llm(s, tmp_path)


def test_unknown_model_name_for_llamacpp_is_rejected(tmp_path: Path) -> None:
    s = LLMSettings(llamacpp=LlamaCppSettings(model="llama-70b"))
    with pytest.raises(ModelNotFoundError, match="neither a packaged model id nor"):
        build_llm(s, tmp_path)


def test_missing_piper_voice_is_reported_with_its_path(tmp_path: Path) -> None:
    s = TTSSettings(piper=PiperSettings(voice=str(tmp_path / "voice.onnx")))
    with pytest.raises(ModelNotFoundError, match=r"voice\.onnx"):
        build_tts(s, tmp_path)


def test_piper_voice_without_its_json_config_is_reported(tmp_path: Path) -> None:
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"not really onnx")
    s = TTSSettings(piper=PiperSettings(voice=str(voice)))
    with pytest.raises(ModelNotFoundError, match=r"voice\.onnx\.json"):
        build_tts(s, tmp_path)


def test_packaged_model_of_the_wrong_kind_is_rejected(tmp_path: Path) -> None:
    s = VADSettings(silero=SileroSettings(model="whisper-tiny.en"))
    with pytest.raises(ModelNotFoundError, match="is a asr model, not a vad model"):
        build_vad(s, tmp_path)
