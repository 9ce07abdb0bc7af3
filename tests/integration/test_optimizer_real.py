"""One short Algorithm 1 iteration on the embedded LLM: the product agent talks to MADS
users, the same model labels attitudes, judges the calls and rewrites the SOP; the new
version is measured on selection personas and lands in the lineage and the report; the
start (and the chosen version, if any) meet the report personas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from agent.program import load_program
from optimizer.app import run_optimize
from optimizer.loop import OptimizeConfig
from server.settings import Settings

pytestmark = pytest.mark.real


@pytest.mark.timeout(1200)
async def test_one_real_iteration_makes_a_new_program_version_lineage_and_report(
        settings: Settings, tmp_path: Path) -> None:
    config = OptimizeConfig.model_validate({
        # H_basic out of reach: the one iteration always evolves, even when both
        # simulated callers happen to accept (τ = 1.0 stopped the loop on target).
        "name": "real-k1", "iterations": 1, "theta": 1.0, "h_basic": 1e6,
        "simulation": {"mode": "text", "dialogues_per_persona": 1, "max_utterances": 4,
                       "workers": 2, "user": {"kind": "mads"}, "agent": {"kind": "llm"}},
        "train": {"count": 2, "seed": 31}, "select": {"count": 1, "seed": 32},
        "report": {"count": 1, "seed": 33},
        "summary": {"enabled": True}, "judge": {"enabled": True},
        "evolve": {"sop": True, "strategy": "off"}, "output": str(tmp_path / "run"),
    })
    console = Console(record=True, width=160)
    result, paths = await run_optimize(config, settings, console)
    p0 = load_program(config.program)
    assert result.lineage[0].version == p0.version
    assert len(result.lineage) == 2, console.export_text()
    child = result.lineage[1]
    assert child.parent == p0.version and child.created_by == "optimizer.evolve"
    program = load_program(child.program_file)
    assert program.sop.startswith("Business SOP") and "Step 1" in program.sop
    assert program.greeting == p0.greeting and program.system_prompt == p0.system_prompt
    first = result.lineage[0]
    assert first.train_n == 2 and first.select_n == child.select_n == 1
    assert result.report.arms[0].arm == "start"  # the report personas
    assert first.h_avg is not None and first.tau is not None and first.judge_means
    lines = [json.loads(line) for line in (tmp_path / "run" / "lineage.jsonl").open()]
    assert [m["version"] for m in lines] == [first.version, child.version]
    summary = json.loads(paths.summary.read_text())
    assert summary["lineage"][1]["version"] == child.version
    assert "coa" in summary["last_iteration"] and "judge" in summary["last_iteration"]
    assert "Chain-of-Attitude" in paths.markdown.read_text()
    print(console.export_text()[-1500:])
    print("SOP:", program.sop)
