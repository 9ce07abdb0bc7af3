"""The registry: optional extras fail with errors that name the extra to install."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from models.config import LLMSettings, TTSSettings, VADSettings
from models.errors import MissingExtraError, ModelNotFoundError
from models.registry import build_llm, build_tts, build_vad
from models.tts.cli_engines import EspeakTTS


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_backend_without_vllm_names_the_gpu_extra(tmp_path: Path) -> None:
    with pytest.raises(MissingExtraError) as info:
        build_llm(LLMSettings(backend="vllm"), tmp_path)
    assert info.value.extra == "gpu"
    assert "pip install 'salesvoice[gpu]'" in str(info.value)
    assert "'vllm'" in str(info.value)


def test_transformers_backend_without_transformers_names_the_train_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI installs the [train] extra: its absence is simulated (None in sys.modules makes
    # the import fail as an uninstalled package would).
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError) as info:
        build_llm(LLMSettings(backend="transformers"), tmp_path)
    assert info.value.extra == "train"
    assert "pip install 'salesvoice[train]'" in str(info.value)


def test_missing_extra_error_is_an_import_error() -> None:
    assert issubclass(MissingExtraError, ImportError)


def test_build_tts_with_espeak_backend_returns_espeak(tmp_path: Path) -> None:
    tts = build_tts(TTSSettings(backend="espeak-ng"), tmp_path)
    assert isinstance(tts, EspeakTTS)
    assert tts.sample_rate == 22050


def test_build_vad_with_unknown_plain_model_name_is_model_not_found(tmp_path: Path) -> None:
    settings = VADSettings.model_validate({"silero": {"model": "no-such-vad"}})
    with pytest.raises(ModelNotFoundError, match=r"'no-such-vad'.*salesvoice models list"):
        build_vad(settings, tmp_path)


def test_build_llm_with_missing_gguf_path_is_model_not_found(tmp_path: Path) -> None:
    settings = LLMSettings.model_validate({"llamacpp": {"model": str(tmp_path / "missing.gguf")}})
    with pytest.raises(ModelNotFoundError, match=r"missing\.gguf"):
        build_llm(settings, tmp_path)


class _Template:
    """Records how the chat template was asked to end the prompt."""

    def apply_chat_template(self, messages: list[dict[str, str]], *, tokenize: bool,
                            add_generation_prompt: bool, continue_final_message: bool) -> str:
        ending = "<continue>" if continue_final_message else (
            "<assistant>" if add_generation_prompt else "")
        return "|".join(m["content"] for m in messages) + ending


async def test_vllm_continues_a_final_assistant_message_and_opens_a_new_one_otherwise() -> None:
    from models.llm.base import ChatMessage, LLMRequest
    from models.llm.vllm import VLLMEngineLLM

    llm = VLLMEngineLLM.__new__(VLLMEngineLLM)  # the prompt needs no engine
    llm._tokenizer = _Template()
    asked = LLMRequest((ChatMessage("user", "hi"),), 0.0, 1.0, 8, (), None, None, None)
    cued = LLMRequest((ChatMessage("user", "hi"), ChatMessage("assistant", 'Ann: "')),
                      0.0, 1.0, 8, (), None, None, None)
    assert await llm._prompt(asked) == "hi<assistant>"
    assert await llm._prompt(cued) == 'hi|Ann: "<continue>'
    assert VLLMEngineLLM.capabilities.prefill
