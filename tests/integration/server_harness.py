"""Runs the real call server in a background thread on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import uvicorn

from agent.policy import SalesAgent
from agent.program import load_program_set
from models.asr.base import ASR
from models.audio import PCM
from models.llm.base import LLM
from models.tts.base import TTS
from models.vad.base import VAD
from server.app import create_app
from server.hub import Hub
from server.settings import Settings
from server.store import CallStore

FRAME = 320


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    settings: Settings, vad: VAD, asr: ASR, tts: TTS, llm: LLM, port: int | None = None
) -> Iterator[tuple[str, Hub]]:
    """Serve ``settings`` with already-loaded models; yields (base URL, hub)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = CallStore(settings.database_url())
    programs = load_program_set(settings.server.program)
    hub = Hub(settings, vad, asr, tts, llm, store, programs)
    for program in programs.members():
        asyncio.run(llm.prime(SalesAgent(program, llm).prompt_prefix()))
    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings, hub=hub), host="127.0.0.1", port=port, log_level="warning",
        ws_max_size=settings.server.max_frame_bytes + 1024,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}", hub
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        asyncio.run(store.aclose())


class Pacer:
    """Sends audio on a real-time schedule, as a phone line does."""

    def __init__(self) -> None:
        self.due = time.monotonic()

    async def tick(self, seconds: float) -> None:
        self.due += seconds
        await asyncio.sleep(max(0.0, self.due - time.monotonic()))


def frames(pcm: PCM, size: int = FRAME) -> Iterator[PCM]:
    for i in range(0, len(pcm), size):
        yield pcm[i : i + size]


def silence(seconds: float, rate: int = 16000) -> PCM:
    return np.zeros(int(seconds * rate), dtype=np.int16)


async def wait_idle(hub: Hub, limit_s: float = 20) -> None:
    """Earlier calls finish closing (records written) before a test opens new ones."""
    for _ in range(int(limit_s * 10)):
        if not hub.calls:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"calls still open: {list(hub.calls)}")
