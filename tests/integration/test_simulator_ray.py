"""``--ray``: a batch spread over Ray actors on a real local cluster gives the same
dialogues as the local runner, each stored once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from simulator.batch import (
    AgentSettings,
    BatchConfig,
    PersonaSet,
    Toolkit,
    UserSettings,
    local_runner,
    personas_for,
    run_batch,
)
from simulator.cluster import ray_runner
from simulator.store import DialogueLog

CONFIG = BatchConfig(
    name="ray", dialogues_per_persona=3, workers=2, personas=PersonaSet(count=20, seed=3),
    user=UserSettings(kind="programmatic"), agent=AgentSettings(kind="rule"))


@pytest.fixture
def local_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


async def test_ray_batch_matches_the_local_run_and_stores_each_dialogue_once(
        local_cluster: None, tmp_path: Path) -> None:
    personas = await personas_for(CONFIG, None)
    with DialogueLog(tmp_path / "ray.jsonl") as log:
        result = await run_batch(CONFIG, personas, log, ray_runner("auto", CONFIG, None,
                                                                    actors=2))  # type: ignore[arg-type]
    assert (result.done, result.failed) == (60, 0), result.errors
    assert set(result.per_worker) == {0, 1}  # both actors worked
    kit = await Toolkit.build(CONFIG, None)  # type: ignore[arg-type]
    with DialogueLog(tmp_path / "local.jsonl") as log:
        await run_batch(CONFIG, personas, log, local_runner(kit, 2))
    on_ray = {d.id: d for d in DialogueLog(tmp_path / "ray.jsonl").read()}
    local = {d.id: d for d in DialogueLog(tmp_path / "local.jsonl").read()}
    assert len((tmp_path / "ray.jsonl").read_text().splitlines()) == 60
    assert on_ray.keys() == local.keys()
    assert all(on_ray[i].outcome == local[i].outcome and
               [t.text for t in on_ray[i].turns] == [t.text for t in local[i].turns]
               for i in local)
    with DialogueLog(tmp_path / "ray.jsonl") as log:  # a rerun has nothing left to send
        again = await run_batch(CONFIG, personas, log, ray_runner("auto", CONFIG, None))  # type: ignore[arg-type]
    assert (again.done, again.skipped) == (0, 60)
