"""In-process vLLM engine for GPU batch simulation (extra ``[gpu]``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from models.config import VLLMSettings
from models.errors import MissingExtraError, ModelNotFoundError
from models.llm.base import LLM, Capabilities, LLMRequest, RawChunk, SamplingDefaults, Usage


class VLLMEngineLLM(LLM):
    name = "vllm"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, json_schema=True, prefix_cache=True, prefill=True
    )

    def __init__(self, settings: VLLMSettings, defaults: SamplingDefaults) -> None:
        super().__init__(defaults)
        try:
            from vllm import AsyncEngineArgs, AsyncLLMEngine
        except ImportError as exc:
            raise MissingExtraError("vllm", "gpu", "vllm") from exc
        self._lora: Any = None
        lora_args: dict[str, Any] = {}
        if settings.lora is not None:
            from vllm.lora.request import LoRARequest

            folder = Path(settings.lora).expanduser()
            if not (folder / "adapter_config.json").is_file():
                raise ModelNotFoundError(
                    f"no PEFT adapter at {folder} (adapter_config.json missing): point "
                    "llm.vllm.lora at a run's adapter/ folder ('salesvoice finetune verify')")
            self._lora = LoRARequest(folder.name, 1, str(folder.resolve()))
            lora_args = {"enable_lora": True, "max_lora_rank": settings.max_lora_rank,
                         "max_loras": 1}
        args = AsyncEngineArgs(
            model=settings.model,
            tensor_parallel_size=settings.tensor_parallel_size,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            max_model_len=settings.max_model_len,
            dtype=settings.dtype,
            enable_prefix_caching=settings.enable_prefix_caching,
            **lora_args,
        )
        self._engine: Any = AsyncLLMEngine.from_engine_args(args)
        self._tokenizer: Any = None
        model_config = getattr(self._engine, "model_config", None)
        self._max_model_len = int(getattr(model_config, "max_model_len", None)
                                  or settings.max_model_len)
        from transformers import AutoTokenizer  # a dependency of vllm

        # The engine hands its tokenizer out only asynchronously; counting is synchronous.
        self._counter: Any = AutoTokenizer.from_pretrained(settings.model)

    @property
    def context_tokens(self) -> int:
        """The engine's ``max_model_len`` (``llm.vllm.max_model_len``): one sequence's
        prompt and reply."""
        return self._max_model_len

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's tokenizer (in process)."""
        return len(self._counter.encode(text, add_special_tokens=False))

    async def _prompt(self, request: LLMRequest) -> str:
        if self._tokenizer is None:
            self._tokenizer = await self._engine.get_tokenizer()
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        # A final assistant message is continued (assistant prefill), not closed.
        prefill = messages[-1]["role"] == "assistant"
        prompt: str = self._tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=not prefill,
            continue_final_message=prefill,
        )
        return prompt

    def _sampling(self, request: LLMRequest) -> Any:
        from vllm import SamplingParams

        extra: dict[str, Any] = {}
        if request.json_schema is not None:
            try:  # vLLM >= 0.10 names it structured outputs
                from vllm.sampling_params import StructuredOutputsParams

                extra["structured_outputs"] = StructuredOutputsParams(json=request.json_schema)
            except ImportError:
                from vllm.sampling_params import GuidedDecodingParams

                extra["guided_decoding"] = GuidedDecodingParams(json=request.json_schema)
        return SamplingParams(
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            stop=list(request.stop) or None,
            seed=request.seed,
            **extra,
        )

    async def _generate(self, request: LLMRequest) -> AsyncIterator[RawChunk]:
        request_id = uuid.uuid4().hex
        prompt = await self._prompt(request)
        sent = 0
        try:
            async for out in self._engine.generate(prompt, self._sampling(request), request_id,
                                                   lora_request=self._lora):
                seq = out.outputs[0]
                text = seq.text[sent:]
                sent = len(seq.text)
                usage = None
                if out.finished:
                    usage = Usage(
                        prompt_tokens=len(out.prompt_token_ids or ()),
                        completion_tokens=len(seq.token_ids),
                        cached_tokens=int(getattr(out, "num_cached_tokens", 0) or 0),
                    )
                yield RawChunk(text, seq.finish_reason if out.finished else None, usage)
        finally:
            await self._engine.abort(request_id)
