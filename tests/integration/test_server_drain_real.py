"""SIGTERM on a real `salesvoice serve` process: live calls are told to end, their
records are complete, and the socket closes with 1001 (going away)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import websockets

from tests.integration.server_harness import free_port

pytestmark = pytest.mark.real


async def test_sigterm_drains_live_calls_and_flushes_their_records(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SALESVOICE_DATA_DIR": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "serve", "--port", str(port),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(1200):  # models load and the prompt is primed
            try:
                ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/call")
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("server did not come up")
        await ws.send(json.dumps({"type": "start", "version": 1,
                                  "caller": {"caller_id": "+15550100007"}}))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready"
        await ws.send(np.zeros(320, dtype=np.int16).tobytes())
        proc.send_signal(signal.SIGTERM)
        messages = []
        try:
            async for m in ws:
                if isinstance(m, str):
                    messages.append(json.loads(m))
        except websockets.ConnectionClosed:
            pass
        assert ws.close_code == 1001
        assert messages[-1] == {"type": "end", "reason": "server_shutdown", "outcome": None}
        # uvicorn re-raises the signal once shut down, so the exit status says SIGTERM.
        assert await asyncio.wait_for(proc.wait(), 60) in (0, -signal.SIGTERM)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    db = sqlite3.connect(tmp_path / "calls.db")
    end_reason = db.execute(
        "SELECT end_reason FROM calls WHERE id = ?", (ready["call_id"],)
    ).fetchone()
    assert end_reason == ("server_shutdown",)
