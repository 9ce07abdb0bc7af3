"""The server under test for ``salesvoice bench calls``: the real ``salesvoice serve`` in
a subprocess on a free loopback port, its health, idle state and memory (from /proc)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from models.errors import SalesvoiceError
from server.bench_calls import CallsBench


class ServerStartError(SalesvoiceError):
    """The server under test did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` and its descendants (MiB); 0 once the process is gone."""
    total_kb, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            children = [c.read_text() for c in Path(f"/proc/{p}/task").glob("*/children")]
        except OSError:
            continue
        if m := re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE):
            total_kb += int(m.group(1))
        stack += [int(c) for text in children for c in text.split()]
    return total_kb / 1024


@dataclass(frozen=True, slots=True)
class Served:
    base_url: str
    pid: int
    token: str


def _salesvoice() -> list[str]:
    """The ``salesvoice`` command of this environment."""
    script = Path(sys.executable).parent / "salesvoice"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "server.cli"]


@asynccontextmanager
async def serving(bench: CallsBench, config: Path | None, workdir: Path,
                  console: Console) -> AsyncIterator[Served]:
    """``salesvoice serve`` on a free loopback port with its own data directory (the
    bench's calls stay out of the real call store); stopped with SIGTERM."""
    port, token = free_port(), secrets.token_hex(8)
    env = {**os.environ,
           "SALESVOICE_DATA_DIR": str(workdir / "data"),
           "SALESVOICE_SERVER__AUTH_TOKEN": token,
           "SALESVOICE_SERVER__MAX_CONCURRENT_CALLS": str(max(bench.concurrency)),
           "SALESVOICE_SERVER__RECORD_AUDIO": "false"}
    if bench.program is not None:
        env["SALESVOICE_SERVER__PROGRAM"] = bench.program
    cmd = [*_salesvoice(), *(["--config", str(config)] if config else []),
           "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with console.status(f"starting the server ({' '.join(cmd[-5:])}): loading models, "
                            "priming the agent's prompt and greeting..."):
            await _wait_healthy(base, proc, log_path, bench.startup_timeout_s)
        yield Served(base, proc.pid, token)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # drains: live calls end, records complete
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_healthy(base: str, proc: asyncio.subprocess.Process, log: Path,
                        limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise ServerStartError(
                    f"the server exited with {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).json().get("status") == "ok":
                    return
            await asyncio.sleep(0.5)
    raise ServerStartError(f"no healthy server at {base} within {limit_s:.0f} s (log: {log})")


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:]


async def _active_calls(base: str) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        return int((await http.get("/healthz")).json()["active_calls"])


async def wait_idle(base: str, limit_s: float = 30) -> None:
    """Earlier calls finish closing before a level's idle memory is read."""
    for _ in range(int(limit_s / 0.2)):
        if not await _active_calls(base):
            return
        await asyncio.sleep(0.2)


class RssSampler:
    """Samples the server's RSS while a level runs."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss_mib(self.pid))
            await asyncio.sleep(self.every_s)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait({self._task})
        self.peak = max(self.peak, tree_rss_mib(self.pid))
