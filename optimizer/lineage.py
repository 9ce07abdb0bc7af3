"""The record of an Algorithm 1 run: one ``Measured`` per program version, in order, kept
in ``lineage.jsonl`` (rewritten whole after every step, so a crash leaves the last one).

Every rate is stored with its 95 % interval (``{"value", "low", "high", "n"}``, ``n``
counting personas) and every comparison with its paired interval and p-value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from agent.dialogue import Dialogue
from agent.program import ProgramSet
from agent.stats import Difference, Estimate
from optimizer.attitude import AttitudeChain
from optimizer.evidence import success_difference
from optimizer.judge import JudgeScores
from simulator.evaluate import Evaluation


@dataclass
class Measured:
    """One program version's numbers."""

    version: str
    parent: str | None
    created_by: str
    iteration: int
    program_file: str
    select: Estimate | None = None
    """Success on the selection personas."""
    select_n: int = 0
    """Dialogues behind ``select``."""
    versus: str | None = None
    """The version this one was compared with on the selection personas: the version
    chosen so far (its parent whenever the parent was itself an improvement)."""
    difference: Difference | None = None
    """This version minus ``versus`` in success, paired persona by persona."""
    improved: bool = False
    """``difference``'s interval lies above 0: this version became the chosen one."""
    train: Estimate | None = None
    """Success on the training calls: a description, not evidence (the version was
    evolved from the previous version's calls on these very personas); no decision
    reads it."""
    train_n: int = 0
    tau: Estimate | None = None
    """Acceptance rate on the selection calls (the judge's verdict when judged), read by
    the stopping rule; None for a version never iterated on."""
    h_avg: Estimate | None = None
    """Average attitude entropy of the training calls, jackknife interval over personas."""
    h_norm: float | None = None
    judge_means: dict[str, float] = field(default_factory=dict)
    """The judge's mean scores over the selection calls."""
    segments: dict[str, str] = field(default_factory=dict)
    """Segment → program version, for a stratified set."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> Any:
    if isinstance(value, Estimate | Difference):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class OptimizeResult:
    """A finished run: its lineage, the chosen program measured on the report personas,
    and the last iteration's evidence."""

    run_dir: Path
    lineage: list[Measured]
    stopped: str
    """Why the loop ended: "target" (see ``evidence.reached_target``), "iterations" or
    "unchanged" (evolution changed nothing)."""
    final: ProgramSet
    """The last version evolved (Algorithm 1 evolves from the latest, chosen or not)."""
    chosen: Measured
    """The version handed back: the last that improved on the one chosen before it on
    the selection personas (P0 when none did)."""
    chosen_program: ProgramSet
    report: Evaluation
    """The start and the chosen version on the report personas, paired: arms "start"
    and "chosen" (only "start" when the chosen version is the start itself)."""
    h_basic: float | None
    train_dialogues: list[Dialogue]
    chains: list[AttitudeChain]
    scores: dict[str, JudgeScores]
    """The judge's scores of ``train_dialogues`` (empty unless the SOP lever needed them)."""
    elapsed_s: float

    @property
    def gain(self) -> Difference | None:
        """Chosen minus start in success on the report personas, paired; None when the
        chosen version is the start (no gain to report)."""
        if not any(a.arm == "chosen" for a in self.report.arms):
            return None
        return success_difference(self.report, "chosen")


def write_lineage(run_dir: Path, lineage: Sequence[Measured]) -> None:
    """``run_dir/lineage.jsonl``: one line per version, replaced atomically."""
    path = run_dir / "lineage.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(m.to_dict()) + "\n" for m in lineage))
    tmp.replace(path)
