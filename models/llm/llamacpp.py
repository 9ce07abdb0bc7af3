"""Embedded llama.cpp backend (xllamacpp): in-process, CPU, GGUF weights.

llama.cpp's server engine runs in its own threads; each request blocks a worker thread
of ours while chunks are handed to the event loop. Conversations are pinned to slots so
a follow-up turn only evaluates the new tokens (prefix cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from models.config import LlamaCppSettings
from models.errors import IntegrityError, MissingExtraError, ModelNotFoundError, ModelRuntimeError
from models.llm.base import (
    LLM,
    Capabilities,
    ChatMessage,
    LLMRequest,
    RawChunk,
    SamplingDefaults,
    SessionSlots,
    Usage,
)
from models.llm.grammar import compact_json_grammar
from models.weights import sha256_file

_DONE = object()
_TOKEN_COUNT_MEMO = 4096
"""Texts whose token counts are remembered (a call's messages, many calls over)."""
LORA_STAMP_FORMAT = "salesvoice-lora-gguf/1"
"""The ``<lora>.gguf.json`` written beside each exported adapter (``finetune export``)."""


@dataclass(frozen=True, slots=True)
class LoraAdapter:
    """A LoRA GGUF whose stamp was checked against its file and the base it goes on."""

    path: Path
    sha256: str
    base_sha256: str
    scale: float = 1.0


def read_lora_stamp(path: Path) -> dict[str, Any]:
    """The stamp beside the LoRA GGUF ``path``; an error if either is missing or unreadable."""
    if not path.is_file():
        raise ModelNotFoundError(
            f"LoRA adapter not found at {path}: export one with 'salesvoice finetune export "
            f"ADAPTER --out {path}', or unset llm.llamacpp.lora to run the base model")
    stamp_path = path.with_name(path.name + ".json")
    try:
        stamp: dict[str, Any] = json.loads(stamp_path.read_text())
        ok = (stamp["format"] == LORA_STAMP_FORMAT and isinstance(stamp["gguf_sha256"], str)
              and isinstance(stamp["base"]["sha256"], str))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(
            f"{stamp_path} is missing or unreadable ({exc}): {path} is not an adapter "
            "exported by 'salesvoice finetune export'; export it again") from None
    if not ok:
        raise IntegrityError(f"{stamp_path} is not a {LORA_STAMP_FORMAT} stamp")
    return stamp


def verified_lora(path: Path, base_sha256: str, scale: float = 1.0) -> LoraAdapter:
    """The adapter at ``path`` once its sha256 matches its stamp and the stamp's base is
    the GGUF being loaded (sha256 ``base_sha256``); IntegrityError otherwise."""
    stamp = read_lora_stamp(path)
    actual = sha256_file(path)
    if actual != stamp["gguf_sha256"]:
        raise IntegrityError(
            f"{path} has sha256 {actual[:12]}, its stamp says {stamp['gguf_sha256'][:12]}: "
            "the adapter was altered or damaged; export it again")
    base = stamp["base"]
    if base["sha256"] != base_sha256:
        raise IntegrityError(
            f"{path} was trained on base {base.get('ref')!r} (sha256 {base['sha256'][:12]}), "
            f"but llm.llamacpp.model loads a GGUF with sha256 {base_sha256[:12]}: set the "
            "model to the adapter's base, or use an adapter trained on this one")
    return LoraAdapter(path.resolve(), actual, base["sha256"], scale)


def model_version(model: str, lora_sha256: str | None = None, scale: float = 1.0) -> str:
    """What answered: the base's id, plus the adapter's sha256 prefix (and scale if not 1)."""
    version = f"llamacpp:{model}"
    if lora_sha256 is not None:
        version += f"+lora-{lora_sha256[:12]}" + (f"x{scale:g}" if scale != 1 else "")
    return version


async def _slot_action(http: httpx.AsyncClient, slot: int, action: str, name: str) -> None:
    resp = await http.post(f"/slots/{slot}", params={"action": action}, json={"filename": name})
    if resp.status_code != 200:
        raise ModelRuntimeError(f"llama.cpp slot {action} failed: {resp.text[:200]}")


def _usage_from(chunk: dict[str, Any]) -> Usage | None:
    timings = chunk.get("timings")
    if not timings:
        return None
    cached = int(timings.get("cache_n", 0))
    return Usage(
        prompt_tokens=cached + int(timings.get("prompt_n", 0)),
        completion_tokens=int(timings.get("predicted_n", 0)),
        cached_tokens=cached,
    )


def engine_params(model_path: Path, settings: LlamaCppSettings,
                  snapshot_dir: Path | None = None, lora: LoraAdapter | None = None) -> Any:
    """The llama.cpp engine's ``CommonParams`` for ``settings``; building them loads
    nothing."""
    try:
        import xllamacpp as xlc
    except ImportError as exc:
        raise MissingExtraError("llamacpp", "embedded", "xllamacpp") from exc
    params = xlc.CommonParams()
    params.model.path = str(model_path)
    params.n_ctx = settings.n_ctx
    params.n_parallel = settings.slots
    params.n_batch = settings.n_batch
    # After the agent cuts a call's history, the kept exchanges sit earlier in the
    # prompt than in the cache: chunks of at least this many tokens are shifted into
    # place instead of evaluated again (0: off).
    params.n_cache_reuse = settings.cache_reuse
    params.cache_ram_mib = settings.cache_ram_mib
    params.cpuparams.n_threads = settings.threads
    params.cpuparams_batch.n_threads = settings.batch_threads
    params.verbosity = -1
    params.warmup = False
    # llama.cpp always serves HTTP too; keep it on loopback.
    params.hostnames = ["127.0.0.1"]
    params.port = settings.http_port
    if lora is not None:
        info = xlc.CommonAdapterLoraInfo()
        info.path = str(lora.path)
        info.scale = lora.scale
        params.lora_adapters = [info]
    if snapshot_dir is not None:
        params.slot_save_path = str(snapshot_dir) + "/"
    return params


class LlamaCppLLM(LLM):
    name = "llamacpp"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, json_schema=True, prefix_cache=True, grammar=True, prefill=True,
        text_logit_bias=True
    )

    def __init__(
        self,
        model_path: Path,
        settings: LlamaCppSettings,
        defaults: SamplingDefaults,
        snapshot_dir: Path | None = None,
        lora: LoraAdapter | None = None,
    ) -> None:
        super().__init__(defaults)
        try:
            import xllamacpp as xlc
        except ImportError as exc:
            raise MissingExtraError("llamacpp", "embedded", "xllamacpp") from exc
        if not model_path.is_file():
            raise ModelNotFoundError(f"GGUF model file not found at {model_path}")
        params = engine_params(model_path, settings, snapshot_dir, lora)
        self.lora = lora
        self.version = (model_version(settings.model, lora.sha256, lora.scale) if lora
                        else model_version(settings.model))
        """The base id plus the adapter's sha256 prefix: which tuned version answers."""
        if snapshot_dir is not None:
            snapshot_dir.mkdir(parents=True, exist_ok=True)
        self.model_path = model_path
        self._snapshot_dir = snapshot_dir
        self._n_slots = settings.slots
        self._n_ctx = settings.n_ctx
        self._slots = SessionSlots(settings.slots)
        self._primed: dict[tuple[tuple[str, str], ...], str] = {}
        """Primed prompt prefixes and their snapshot files."""
        self._slot_prefix: list[str | None] = [None] * settings.slots
        """The snapshot each slot's cache starts with, as far as we know."""
        self._slot_turn = [asyncio.Lock() for _ in range(settings.slots)]
        """A request pinned to a slot waits for it here, not in the engine: the engine's
        queue cannot be cancelled (its callback runs only once a token exists), so a
        caller who hangs up while the request waits would hold the consumer until the
        slot is free and then spend a prompt evaluation on nobody."""
        self._server: Any = xlc.Server(params)
        self._tokenizer_http: httpx.Client | None = None
        self._token_counts: dict[str, int] = {}

    @property
    def context_tokens(self) -> int:
        """``n_ctx`` is shared by the slots: one request holds ``n_ctx // slots``."""
        return self._n_ctx // self._n_slots

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's tokenizer: llama.cpp's ``/tokenize`` on
        loopback (xllamacpp has no in-process tokenize), answered by the HTTP thread
        without queueing behind generation (≈1 ms), and remembered per text, so the
        agent's recounts of its history cost nothing."""
        if (n := self._token_counts.get(text)) is not None:
            return n
        if self._tokenizer_http is None:
            self._tokenizer_http = httpx.Client(base_url=self.listening_address, timeout=10)
        resp = self._tokenizer_http.post("/tokenize", json={"content": text})
        if resp.status_code != 200:
            raise ModelRuntimeError(f"llama.cpp /tokenize failed: {resp.text[:200]}")
        n = len(resp.json()["tokens"])
        if len(self._token_counts) >= _TOKEN_COUNT_MEMO:
            self._token_counts.clear()
        self._token_counts[text] = n
        return n

    @property
    def listening_address(self) -> str:
        """The OpenAI-compatible HTTP address llama.cpp serves this model on (loopback)."""
        return str(self._server.listening_address)

    async def prime(self, messages: Sequence[ChatMessage]) -> None:
        """Evaluate ``messages`` once, snapshot the KV cache to disk, and load it into
        every slot. Later processes load the snapshot (≈0.1 s) instead of evaluating the
        prompt again (≈20 s for a 1,100-token system prompt on two cores)."""
        if self._snapshot_dir is None:
            await super().prime(messages)
            return
        st = self.model_path.stat()
        prompt = [(m.role, m.content) for m in messages]
        # A snapshot only restores into the context layout (and weights: an adapter
        # changes every layer's cache) it was saved from.
        key = json.dumps([str(self.model_path), st.st_size, self._n_ctx, self._n_slots, prompt,
                          *([self.version] if self.lora else [])])
        name = "prefix-" + hashlib.sha256(key.encode()).hexdigest()[:16] + ".bin"
        async with httpx.AsyncClient(base_url=self.listening_address, timeout=120) as http:
            if not (self._snapshot_dir / name).is_file():
                body = LLMRequest(tuple(messages), 0.0, 1.0, 1, (), None, None, None)
                payload = {**body.openai_body(stream=False), "id_slot": 0, "cache_prompt": True}
                await asyncio.to_thread(self._server.handle_chat_completions, payload)
                await _slot_action(http, 0, "save", name)
            for slot in range(self._n_slots):
                await _slot_action(http, slot, "restore", name)
                self._slot_prefix[slot] = name
        self._primed[tuple(prompt)] = name

    async def _ensure_prefix(self, slot: int, messages: Sequence[ChatMessage]) -> None:
        """A slot handed to a new conversation may hold another prompt (a different
        agent, a user simulator, a classifier): reload the primed prefix this request
        starts with (≈0.1 s) rather than evaluate it again (seconds)."""
        prompt = [(m.role, m.content) for m in messages]
        want = next((name for prefix, name in self._primed.items()
                     if tuple(prompt[: len(prefix)]) == prefix), None)
        if want is not None and self._slot_prefix[slot] != want:
            async with httpx.AsyncClient(base_url=self.listening_address, timeout=120) as http:
                await _slot_action(http, slot, "restore", want)
        self._slot_prefix[slot] = want

    async def _generate(self, request: LLMRequest) -> AsyncIterator[RawChunk]:
        slot = self._slots.slot_for(request.session)
        async with contextlib.AsyncExitStack() as held:
            if slot >= 0:
                await held.enter_async_context(self._slot_turn[slot])
                if self._primed:
                    await self._ensure_prefix(slot, request.messages)
            # Closed here, not by the garbage collector: the engine must have stopped
            # before the slot is handed on.
            async with contextlib.aclosing(self._run(request, slot)) as chunks:
                async for chunk in chunks:
                    yield chunk

    async def _run(self, request: LLMRequest, slot: int) -> AsyncGenerator[RawChunk, None]:
        body = request.openai_body(stream=True)
        body["cache_prompt"] = True
        body["id_slot"] = slot
        if request.logit_bias:
            body["logit_bias"] = [[text, bias] for text, bias in request.logit_bias]
        if request.grammar is not None:
            body["grammar"] = request.grammar
        elif request.json_schema is not None:
            body.pop("response_format")
            if "x-guidance" in request.json_schema:
                body["grammar"] = compact_json_grammar(request.json_schema)
            else:
                body["json_schema"] = request.json_schema
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return stop.is_set()  # True tells llama.cpp to stop generating

        def run() -> None:
            try:
                self._server.handle_chat_completions(body, on_chunk)
            except Exception as exc:  # delivered to the consumer below
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = loop.run_in_executor(None, run)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise ModelRuntimeError(f"llama.cpp failed: {item}") from item
                assert isinstance(item, dict)
                if "error" in item:
                    raise ModelRuntimeError(f"llama.cpp error: {item['error']}")
                choice = (item.get("choices") or [{}])[0]
                text = (choice.get("delta") or {}).get("content") or ""
                yield RawChunk(text, choice.get("finish_reason"), _usage_from(item))
        finally:
            stop.set()
            # The engine stops at its next token; the slot is free for the next turn.
            await asyncio.shield(worker)

    async def aclose(self) -> None:
        if self._tokenizer_http is not None:
            self._tokenizer_http.close()
        server, self._server = self._server, None
        del server  # the engine stops its threads when the Server object is freed
