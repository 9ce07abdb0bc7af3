"""What each LLM backend tells the agent about its context: tokens per request, its
tokenizer's count, and llama.cpp's cache reuse after a cut history."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.context import SizedLLM, budget_for, estimate_tokens
from agent.context_bench import Timed, TurnStat, after_cuts, timed
from models.config import LlamaCppSettings, LLMSettings, OpenAISettings, load_settings
from models.errors import ConfigError
from models.llm import FakeLLM, SamplingDefaults
from models.llm.openai_compat import OpenAICompatLLM


def _packaged_gguf() -> Path:
    """The smallest LLM whose weights ship in a package setup installs (SmolLM2-135M)."""
    from models.weights import CATALOG, resolve
    from server.settings import Settings

    return resolve(CATALOG["smollm2-135m-instruct-q4_1"], Settings().cache_dir)


def test_cache_reuse_defaults_to_64_and_refuses_a_negative_value() -> None:
    assert LLMSettings().llamacpp.cache_reuse == 64
    assert load_settings(LlamaCppSettings, environ={"SALESVOICE_CACHE_REUSE": "0"}
                         ).cache_reuse == 0
    with pytest.raises(ConfigError, match="cache_reuse"):
        load_settings(LlamaCppSettings, environ={"SALESVOICE_CACHE_REUSE": "-1"})


def test_openai_context_tokens_is_unset_by_default_and_refuses_a_tiny_context() -> None:
    assert OpenAISettings().context_tokens is None
    assert load_settings(OpenAISettings, environ={"SALESVOICE_CONTEXT_TOKENS": "32768"}
                         ).context_tokens == 32768
    with pytest.raises(ConfigError, match="context_tokens"):
        load_settings(OpenAISettings, environ={"SALESVOICE_CONTEXT_TOKENS": "100"})


async def test_openai_backend_reports_the_configured_context_and_offers_no_tokenizer() -> None:
    llm = OpenAICompatLLM(OpenAISettings(context_tokens=32768), SamplingDefaults())
    unset = OpenAICompatLLM(OpenAISettings(), SamplingDefaults())
    try:
        assert llm.context_tokens == 32768
        assert unset.context_tokens is None
        assert llm.count_tokens is None and not isinstance(llm, SizedLLM)
        budget, count = budget_for(unset, reply_tokens=90)
        assert budget.context_tokens == 4096 and count is estimate_tokens
        # The configured size is used although the server offers no tokenizer.
        budget, count = budget_for(llm, reply_tokens=90)
        assert budget.context_tokens == 32768 and count is estimate_tokens
    finally:
        await llm.aclose()
        await unset.aclose()


def test_the_interface_offers_no_context_or_tokenizer_unless_a_backend_does() -> None:
    fake = FakeLLM([])
    assert fake.context_tokens is None and fake.count_tokens is None
    assert not isinstance(fake, SizedLLM)


def test_cache_reuse_reaches_the_llama_cpp_params_without_loading_the_model(
        tmp_path: Path) -> None:
    from models.llm.llamacpp import engine_params

    model = tmp_path / "m.gguf"  # never opened: building the params loads nothing
    params = engine_params(model, LlamaCppSettings(cache_reuse=128, n_ctx=2048, slots=4))
    assert params.n_cache_reuse == 128
    assert params.n_ctx == 2048 and params.n_parallel == 4
    assert engine_params(model, LlamaCppSettings(cache_reuse=0)).n_cache_reuse == 0
    assert engine_params(model, LlamaCppSettings()).n_cache_reuse == 64


def test_the_host_prompt_cache_is_off_by_default_and_can_be_bounded(
        tmp_path: Path) -> None:
    """llama.cpp's own default keeps up to 8 GiB of evicted slot states in RAM (a live
    server grew ~28 MB a turn); ours is off, and a size in MiB bounds it."""
    from models.llm.llamacpp import engine_params

    model = tmp_path / "m.gguf"
    assert engine_params(model, LlamaCppSettings()).cache_ram_mib == 0
    assert engine_params(model, LlamaCppSettings(cache_ram_mib=512)).cache_ram_mib == 512
    with pytest.raises(ConfigError, match="cache_ram_mib"):
        load_settings(LlamaCppSettings, environ={"SALESVOICE_CACHE_RAM_MIB": "-1"})


def test_the_bench_wrapper_passes_the_backends_context_and_tokenizer_on() -> None:
    class Sized(FakeLLM):
        @property
        def context_tokens(self) -> int:
            return 1900

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    wrapped: Timed = timed(Sized([]))
    assert isinstance(wrapped, SizedLLM)
    budget, count = budget_for(wrapped, reply_tokens=16)
    assert budget.context_tokens == 1900 and count("a b c") == 3
    assert not isinstance(timed(FakeLLM([])), SizedLLM)


def test_the_turn_after_each_cut_is_the_one_measured() -> None:
    def stat(turn: int, cuts: int) -> TurnStat:
        return TurnStat(turn, 100, 100, 10, 1.0, 100, cuts, "ok")

    stats = [stat(1, 0), stat(2, 0), stat(3, 1), stat(4, 1), stat(5, 1), stat(6, 2),
             stat(7, 2)]
    assert [s.turn for s in after_cuts(stats)] == [4, 7]


@pytest.mark.real
def test_transformers_reports_its_position_limit_and_counts_with_its_tokenizer(
        tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from models.config import TransformersSettings
    from models.llm.transformers_hf import TransformersLLM

    gguf = _packaged_gguf()  # a real tokenizer, read from the packaged SmolLM2 GGUF
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.save_pretrained(tmp_path)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=640)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    llm = TransformersLLM(TransformersSettings(model=str(tmp_path)), SamplingDefaults())
    text = "Term life insurance costs 12.50 a month."
    assert llm.context_tokens == 640
    assert llm.count_tokens(text) == len(tokenizer.encode(text, add_special_tokens=False))
    assert isinstance(llm, SizedLLM)


@pytest.mark.real
async def test_llama_cpp_reports_its_slot_context_and_counts_with_its_tokenizer() -> None:
    import httpx

    from models.llm.llamacpp import LlamaCppLLM

    model = _packaged_gguf()
    settings = LlamaCppSettings(model=str(model), n_ctx=2048, slots=2)
    llm = LlamaCppLLM(model, settings, SamplingDefaults())
    try:
        assert llm.context_tokens == 1024
        assert isinstance(llm, SizedLLM)
        text = "Term life insurance costs 12.50 a month, no waiting period."
        async with httpx.AsyncClient(base_url=llm.listening_address) as http:
            tokens = (await http.post("/tokenize", json={"content": text})).json()["tokens"]
        assert llm.count_tokens(text) == len(tokens)
        assert llm.count_tokens(text) == len(tokens)  # remembered
        budget, count = budget_for(llm, reply_tokens=16)
        assert budget.context_tokens == 1024 and count("Hello there.") == llm.count_tokens(
            "Hello there.")
    finally:
        await llm.aclose()
