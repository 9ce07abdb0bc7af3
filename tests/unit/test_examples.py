"""Every example config in examples/ loads with the loader of its command (a renamed key
or a dropped option breaks the file a newcomer copies first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.loop import load_optimize_config
from simulator.batch import load_batch_config
from simulator.evaluate_run import load_evaluate_config

EXAMPLES = Path(__file__).parents[2] / "examples"
LOADERS = {"optimize": load_optimize_config, "evaluate": load_evaluate_config,
           "batch": load_batch_config}


def test_every_example_has_a_loader() -> None:
    names = sorted(p.name for p in EXAMPLES.glob("*.toml"))
    assert names and all(n.split("-")[0] in LOADERS for n in names), names


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_each_example_loads(path: Path) -> None:
    config = LOADERS[path.name.split("-")[0]](path)
    assert config.name
