"""Hugging Face transformers checkpoints, optionally with a LoRA adapter (extra ``[train]``).

Used to serve models fine-tuned on simulated dialogues before they are exported to GGUF
or vLLM. Output is validated against the schema, not constrained.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from models.config import TransformersSettings
from models.errors import MissingExtraError
from models.llm.base import LLM, Capabilities, LLMRequest, RawChunk, SamplingDefaults, Usage

_DONE = object()


class TransformersLLM(LLM):
    name = "transformers"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, json_schema=False, prefix_cache=False
    )

    def __init__(self, settings: TransformersSettings, defaults: SamplingDefaults) -> None:
        super().__init__(defaults)
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise MissingExtraError("transformers", "train", "transformers") from exc
        self._torch: Any = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(settings.model)
        model: Any = AutoModelForCausalLM.from_pretrained(
            settings.model, torch_dtype=getattr(torch, settings.dtype)
        )
        positions = getattr(model.config, "max_position_embeddings", None)
        self._context_tokens: int | None = int(positions) if positions else None
        if settings.adapter:
            try:
                from peft import PeftModel
            except ImportError as exc:
                raise MissingExtraError("transformers", "train", "peft") from exc
            model = PeftModel.from_pretrained(model, settings.adapter)
        self._model: Any = model.to(settings.device).eval()
        self._device = settings.device

    @property
    def context_tokens(self) -> int | None:
        """The checkpoint's ``max_position_embeddings`` (None if its config has none)."""
        return self._context_tokens

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the checkpoint's tokenizer (in process)."""
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    async def _generate(self, request: LLMRequest) -> AsyncIterator[RawChunk]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt"
        ).to(self._device)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, timeout=None)
        stop = threading.Event()

        class _Stop(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, *args: Any, **kwargs: Any) -> bool:
                return stop.is_set()

        if request.seed is not None:
            self._torch.manual_seed(request.seed)
        kwargs: dict[str, Any] = {
            "input_ids": inputs,
            "max_new_tokens": request.max_tokens,
            "do_sample": request.temperature > 0,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_Stop()]),
        }
        if request.temperature > 0:
            kwargs.update(temperature=request.temperature, top_p=request.top_p)
        if request.stop:
            kwargs.update(stop_strings=list(request.stop), tokenizer=self._tokenizer)
        loop = asyncio.get_running_loop()
        worker = loop.run_in_executor(None, lambda: self._model.generate(**kwargs))
        pieces = iter(streamer)
        n = 0
        try:
            while (text := await loop.run_in_executor(None, next, pieces, _DONE)) is not _DONE:
                n += 1
                yield RawChunk(str(text))
            output = await worker
            completion_tokens = int(output.shape[-1] - inputs.shape[-1])
            yield RawChunk(
                finish_reason="length" if completion_tokens >= request.max_tokens else "stop",
                usage=Usage(int(inputs.shape[-1]), completion_tokens or n, 0),
            )
        finally:
            stop.set()
            await asyncio.shield(worker)
