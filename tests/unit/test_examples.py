"""Every example config in examples/ loads with the loader of its command (a renamed key
or a dropped option breaks the file a newcomer copies first)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest

from optimizer.loop import load_optimize_config
from server.experiments import load_experiment
from simulator.batch import load_batch_config
from simulator.evaluate_run import load_evaluate_config


class Named(Protocol):
    @property
    def name(self) -> str: ...


EXAMPLES = Path(__file__).parents[2] / "examples"
# Keyed by the file name up to its first "-": `evaluate-llm.toml`, `experiment.toml`.
LOADERS: dict[str, Callable[[Path], Named]] = {
    "optimize": load_optimize_config, "evaluate": load_evaluate_config,
    "batch": load_batch_config, "experiment": load_experiment}


def _kind(path: Path) -> str:
    return path.stem.split("-")[0]


def test_every_example_has_a_loader() -> None:
    paths = sorted(EXAMPLES.glob("*.toml"))
    assert paths and all(_kind(p) in LOADERS for p in paths), [p.name for p in paths]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_each_example_loads(path: Path) -> None:
    config = LOADERS[_kind(path)](path)
    assert config.name
