"""The worker of a call database: its engine, its clock, and the two threads every blocking
step on it runs on (``server.store.CallStore`` and the helpers that share its database).

Writes, and the short reads ordered with them, run one at a time on the writer thread, so
they land in the order they were made; bulk exports read on a thread of their own so they
never hold up live turn writes. A write queued by an async caller lands even if that
caller is cancelled (hang-up, barge-in).

    worker = StoreWorker(open_database(url, clock), clock)
    rows = await worker.run(lambda: read(worker.engine))   # in order with every write
    worker.queue(write)                                     # fire and forget; failures logged
    await worker.aclose()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine

from server.store_db import StoreError

# The call store logs under one name, whichever of its modules the record comes from.
log = logging.getLogger("server.store")
T = TypeVar("T")


class StoreWorker:
    """The engine and clock of one call database, and the threads its blocking work runs on."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        """The database URL, password hidden (for messages)."""
        self._clock = clock
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callstore")
        # Bulk exports read on their own thread so they never hold up live turn writes.
        self._exporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callstore-export")
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def now(self) -> datetime:
        """The store's clock (injected in tests)."""
        return self._clock()

    def submit(self, fn: Callable[[], T], *, bulk: bool = False) -> concurrent.futures.Future[T]:
        """Queue ``fn`` on the writer thread (``bulk``: the export thread). Raises
        StoreError once the worker is closed."""
        if self._closed:
            raise StoreError(f"the call store for {self.url} is closed")
        return (self._exporter if bulk else self._writer).submit(fn)

    def queue(self, fn: Callable[[], object]) -> None:
        """Queue ``fn`` on the writer thread without waiting for it; a failure is logged."""
        self.submit(fn).add_done_callback(_log_failure)

    async def run(self, fn: Callable[[], T], *, bulk: bool = False) -> T:
        """Run ``fn`` on the writer thread (``bulk``: the export thread) and return its result."""
        future = asyncio.wrap_future(self.submit(fn, bulk=bulk))
        try:
            # A queued write must land even if its caller is cancelled (hang-up, barge-in).
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_log_failure)
            raise

    async def aclose(self) -> None:
        """Release the database after every write queued so far, then the threads."""
        await self.run(self.engine.dispose)
        self._closed = True
        # Both workers are idle now: their threads exit without blocking the loop.
        self._writer.shutdown(wait=False)
        self._exporter.shutdown(wait=False)


def _log_failure(future: concurrent.futures.Future[Any] | asyncio.Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("call store write failed: %s", exc, exc_info=exc)
