"""The record of an Algorithm 1 run: one ``Measured`` per program version, in order, kept
in ``lineage.jsonl`` (rewritten whole after every step, so a crash leaves the last one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.dialogue import Dialogue
from agent.program import ProgramSet
from optimizer.attitude import AttitudeChain
from optimizer.judge import JudgeScores


@dataclass
class Measured:
    """One program version's numbers."""

    version: str
    parent: str | None
    created_by: str
    iteration: int
    program_file: str
    heldout_success: float | None = None
    heldout_n: int = 0
    train_success: float | None = None
    train_n: int = 0
    tau: float | None = None
    """Acceptance rate on the training calls (judge's verdict when judged)."""
    h_avg: float | None = None
    h_norm: float | None = None
    judge_means: dict[str, float] = field(default_factory=dict)
    segments: dict[str, str] = field(default_factory=dict)
    """Segment → program version, for a stratified set."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


@dataclass
class OptimizeResult:
    """A finished run: its lineage, the final programs and the last iteration's evidence."""

    run_dir: Path
    lineage: list[Measured]
    stopped: str
    """Why the loop ended: "target" (τ ≥ θ and H ≥ H_basic) or "iterations"."""
    final: ProgramSet
    best: Measured
    h_basic: float | None
    train_dialogues: list[Dialogue]
    chains: list[AttitudeChain]
    scores: dict[str, JudgeScores]
    elapsed_s: float

    @property
    def improvement(self) -> float | None:
        first, best = self.lineage[0].heldout_success, self.best.heldout_success
        return None if first is None or best is None else best - first


def write_lineage(run_dir: Path, lineage: Sequence[Measured]) -> None:
    """``run_dir/lineage.jsonl``: one line per version, replaced atomically."""
    path = run_dir / "lineage.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(m.to_dict()) + "\n" for m in lineage))
    tmp.replace(path)
