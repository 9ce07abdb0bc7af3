"""``--ray ADDRESS``: spread a batch over a Ray cluster.

Each Ray actor builds its own models once (``Toolkit``) and runs the dialogues it is
given; the driver keeps ``workers`` dialogues in flight per actor and appends every
finished one to the store as it arrives, exactly as the local runner does. Install with
``pip install 'salesvoice[ray]'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agent.dialogue import Dialogue
from models.errors import MissingExtraError
from simulator.batch import BatchConfig, Runner, SimSettings, Toolkit, WorkItem, run_item


class _Worker:
    """The actor body: one Toolkit, many dialogues."""

    def __init__(self, config: BatchConfig, settings: SimSettings) -> None:
        self._config = config
        self._settings = settings
        self._kit: Toolkit | None = None
        self._lock = asyncio.Lock()

    async def run(self, item: WorkItem) -> str:
        async with self._lock:
            if self._kit is None:
                self._kit = await Toolkit.build(self._config, self._settings)
        return (await run_item(self._kit, item)).to_json()


def ray_runner(address: str, config: BatchConfig, settings: SimSettings,
               actors: int | None = None) -> Runner:
    """Items run on Ray actors (one per node CPU pair unless ``actors`` is given)."""
    try:
        import ray as typed_ray
    except ImportError as exc:
        raise MissingExtraError("--ray", "ray", "ray") from exc
    ray: Any = typed_ray  # its stubs do not cover actors of async classes

    async def run(items: list[WorkItem]) -> AsyncIterator[
            tuple[int, WorkItem, Dialogue | BaseException]]:
        if not ray.is_initialized():
            ray.init(address=None if address == "local" else address,
                     include_dashboard=False, log_to_driver=False)
        n = actors or max(1, int(ray.cluster_resources().get("CPU", 2)) // 2)
        actor = ray.remote(_Worker).options(num_cpus=1, max_concurrency=config.workers)
        pool = [actor.remote(config, settings) for _ in range(n)]
        pending: dict[Any, tuple[int, WorkItem]] = {}
        queue = list(items)
        try:
            while queue or pending:
                while queue and len(pending) < n * config.workers:
                    load = [0] * n
                    for a, _ in pending.values():
                        load[a] += 1
                    k = load.index(min(load))
                    item = queue.pop(0)
                    pending[pool[k].run.remote(item)] = (k, item)
                done, _ = await asyncio.to_thread(ray.wait, list(pending), num_returns=1)
                ref = done[0]
                k, item = pending.pop(ref)
                try:
                    out: Dialogue | BaseException = Dialogue.from_json(
                        await asyncio.to_thread(ray.get, ref))
                except Exception as exc:  # reported; the item stays undone for a rerun
                    out = exc
                yield k, item, out
        finally:
            for actor in pool:
                ray.kill(actor)

    return run
