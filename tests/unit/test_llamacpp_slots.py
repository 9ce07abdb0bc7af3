"""The embedded llama.cpp backend waits for a busy slot on our side, where waiting can be
cancelled: a caller who hangs up while the reply waits for a slot never reaches the
engine. The engine is scripted here (its real behaviour: a task for a busy slot waits,
and the request's callback runs only once a token exists)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from models.config import LlamaCppSettings
from models.llm.base import ChatMessage, SamplingDefaults


class ScriptedEngine:
    """One token every 10 ms per request; requests for a busy slot wait for it."""

    def __init__(self, params: Any) -> None:
        self.started: list[int] = []
        self._busy: dict[int, threading.Lock] = {}

    def handle_chat_completions(self, body: dict[str, Any], on_chunk: Any) -> None:
        slot = int(body["id_slot"])
        with self._busy.setdefault(slot, threading.Lock()):
            self.started.append(slot)
            for _ in range(500):
                time.sleep(0.01)
                chunk = {"choices": [{"delta": {"content": "x"}, "finish_reason": None}]}
                if on_chunk(chunk):
                    return


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    xlc = pytest.importorskip("xllamacpp")
    from models.llm.llamacpp import LlamaCppLLM

    monkeypatch.setattr(xlc, "Server", ScriptedEngine)
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    return LlamaCppLLM(model, LlamaCppSettings(model=str(model), slots=1), SamplingDefaults())


async def _first_chunk(llm: Any, session: str, held: asyncio.Event) -> None:
    async with llm.stream([ChatMessage("user", "hi")], session=session) as stream:
        async for _ in stream:
            held.set()
            await asyncio.sleep(3600)


async def test_a_reply_that_waits_for_a_busy_slot_leaves_at_once_and_never_runs(
        llm: Any) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    talking = asyncio.create_task(_first_chunk(llm, "call-a", first))
    await asyncio.wait_for(first.wait(), 5)
    waiting = asyncio.create_task(_first_chunk(llm, "call-b", second))
    await asyncio.sleep(0.2)
    assert not second.is_set()
    began = time.monotonic()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert time.monotonic() - began < 0.1
    talking.cancel()
    await asyncio.gather(talking, return_exceptions=True)
    third = asyncio.Event()
    after = asyncio.create_task(_first_chunk(llm, "call-c", third))
    await asyncio.wait_for(third.wait(), 5)
    after.cancel()
    await asyncio.gather(after, return_exceptions=True)
    assert llm._server.started == [0, 0]  # call-a and call-c; call-b never reached it
