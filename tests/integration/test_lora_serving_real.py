"""The tuned model served by configuration: ``[llm.llamacpp] lora`` on the real SmolLM2-135M.

The adapter is the CI smoke's own (``test_finetune_real.py``'s 8-step SFT on two target
turns, exported to a LoRA GGUF); the backend is built from settings as serve, simulate and
evaluate build it. Needs the ``[train]`` extra, as that smoke does.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from models.config import LlamaCppSettings, LLMSettings
from models.errors import IntegrityError
from models.llm.base import LLM, ChatMessage, Sampling
from models.llm.llamacpp import LlamaCppLLM
from models.registry import build_llm
from models.weights import CATALOG, resolve, sha256_file
from optimizer.finetune import FinetuneConfig, FinetuneResult
from optimizer.finetune_export import export_lora_gguf
from tests.integration.finetune_smoke import BASE, SYSTEM, TURNS

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def exported(sft_run: tuple[FinetuneConfig, Path, FinetuneResult], xdg: Path,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cache dir, LoRA GGUF): the session's smoke adapter (conftest ``sft_run``), exported."""
    cache = xdg / "salesvoice"
    out = tmp_path_factory.mktemp("lora") / "tuned-lora.gguf"
    export_lora_gguf(sft_run[2].adapter, out, cache)
    return cache, out


def _settings(model: str, lora: Path | None) -> LLMSettings:
    return LLMSettings(temperature=0, max_tokens=24, llamacpp=LlamaCppSettings(
        model=model, lora=None if lora is None else str(lora), n_ctx=512, slots=1,
        threads=1, batch_threads=1))


def _reply(llm: LLM, user: str) -> str:
    async def ask() -> str:
        try:
            out = await llm.complete([ChatMessage("system", SYSTEM), ChatMessage("user", user)],
                                     Sampling(temperature=0, max_tokens=24))
            return out.text
        finally:
            await llm.aclose()

    return asyncio.run(ask())


def test_backend_with_lora_setting_answers_as_tuned_and_names_the_adapter(
        exported: tuple[Path, Path]) -> None:
    cache, lora = exported
    user, target = TURNS[0]
    tuned = build_llm(_settings(BASE, lora), cache)
    assert isinstance(tuned, LlamaCppLLM)
    assert tuned.version == f"llamacpp:{BASE}+lora-{sha256_file(lora)[:12]}"
    tuned_text = _reply(tuned, user)
    assert tuned_text.startswith(" ".join(target.split()[:5])), tuned_text
    base = build_llm(_settings(BASE, None), cache)
    assert isinstance(base, LlamaCppLLM) and base.version == f"llamacpp:{BASE}"
    assert _reply(base, user) != tuned_text


def test_adapter_is_refused_on_another_base_gguf(exported: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    cache, lora = exported
    other = tmp_path / "other-base.gguf"
    shutil.copyfile(resolve(CATALOG[BASE], cache), other)
    with other.open("ab") as f:
        f.write(b"\0")  # another file: llama.cpp ignores trailing bytes, the stamp must not
    with pytest.raises(IntegrityError, match="trained on base"):
        build_llm(_settings(str(other), lora), cache)
