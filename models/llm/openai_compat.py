"""Any OpenAI-compatible chat server: ``vllm serve`` in production, llama.cpp's server here."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx

from models.config import OpenAISettings
from models.errors import ModelRuntimeError
from models.llm.audio_input import CallerAudio
from models.llm.base import LLM, Capabilities, LLMRequest, RawChunk, SamplingDefaults, Usage


class OpenAICompatLLM(LLM):
    name = "openai"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, json_schema=True, prefix_cache=True
    )

    def __init__(self, settings: OpenAISettings, defaults: SamplingDefaults) -> None:
        super().__init__(defaults)
        self.settings = settings
        self.ear: CallerAudio | None = CallerAudio() if settings.audio_input else None
        """The callers' latest utterances, sent in place of their transcripts (an
        audio-input model, ``audio_input``); see ``models.llm.audio_input``."""
        headers = {}
        key = os.environ.get(settings.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(defaults.timeout_s, connect=settings.connect_timeout_s),
        )

    @property
    def context_tokens(self) -> int | None:
        """As configured (``llm.openai.context_tokens``): the server does not say."""
        return self.settings.context_tokens

    async def _generate(self, request: LLMRequest) -> AsyncIterator[RawChunk]:
        body = request.openai_body(stream=True)
        body["model"] = self.settings.model
        body["stream_options"] = {"include_usage": True}
        if self.ear is not None:
            self.ear.attach(body["messages"], request.session)
        url = f"{self.settings.base_url.rstrip('/')}/chat/completions"
        for attempt in (1, 2):
            answered = False
            try:
                async with self._client.stream("POST", "/chat/completions", json=body) as resp:
                    answered = True
                    if resp.status_code != 200:
                        detail = (await resp.aread()).decode(errors="replace")[:500]
                        raise ModelRuntimeError(
                            f"{url} answered HTTP {resp.status_code}: {detail}")
                    async for line in resp.aiter_lines():
                        chunk = _parse_sse(line)
                        if chunk is not None:
                            yield chunk
                return
            except httpx.RemoteProtocolError as exc:
                # A pooled keep-alive connection the server closed just as we sent: nothing
                # was answered, so asking once more on a fresh connection is safe.
                if attempt == 1 and not answered:
                    continue
                raise ModelRuntimeError(f"{url}: {type(exc).__name__}: {exc}") from exc
            except httpx.ConnectError as exc:
                raise ModelRuntimeError(
                    f"cannot reach the OpenAI-compatible server at {url}: {exc}; is it "
                    "running? (set llm.openai.base_url)"
                ) from exc
            except httpx.HTTPError as exc:
                raise ModelRuntimeError(f"{url}: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_sse(line: str) -> RawChunk | None:
    """One server-sent-events line of a streamed chat completion → a chunk (or None)."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return None
    try:
        data: dict[str, Any] = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ModelRuntimeError(f"malformed stream line from server: {payload[:200]!r}") from exc
    if "error" in data:
        raise ModelRuntimeError(f"server error: {data['error']}")
    usage = None
    if u := data.get("usage"):
        details = u.get("prompt_tokens_details") or {}
        usage = Usage(
            prompt_tokens=int(u.get("prompt_tokens", 0)),
            completion_tokens=int(u.get("completion_tokens", 0)),
            cached_tokens=int(details.get("cached_tokens", 0) or 0),
        )
    choices = data.get("choices") or []
    if not choices:
        return RawChunk(usage=usage)
    choice = choices[0]
    text = (choice.get("delta") or {}).get("content") or ""
    return RawChunk(text, choice.get("finish_reason"), usage)
