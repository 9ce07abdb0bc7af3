"""Algorithm 1 end to end on the programmatic environment: held-out success rises when the
strategy lever learns the planted truth; the LLM levers (attitudes, judge, SOP) through a
scripted FakeLLM: lineage, stopping rule, new versions, report files."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from agent.dialogue import CallerProfile, Dialogue, Turn
from agent.program import ProgramSet, load_program, load_program_set
from models.errors import ConfigError
from models.llm.base import LLMRequest
from models.llm.fake import FakeLLM
from optimizer.attitude import AttitudeChain, load_attitudes
from optimizer.loop import (
    OptimizeConfig,
    Optimizer,
    load_optimize_config,
    optimize,
)
from optimizer.report import write_optimize_report
from optimizer.segments import StratifySettings, segment_route
from simulator.batch import Toolkit
from simulator.users import load_world

PROGRAMMATIC = {"mode": "text", "dialogues_per_persona": 1, "max_utterances": 20, "workers": 1,
                "user": {"kind": "programmatic", "world": "planted"},
                "agent": {"kind": "rule"}}


def planted_config(tmp: Path, **changes: Any) -> OptimizeConfig:
    data: dict[str, Any] = {
        "name": "planted", "iterations": 2, "theta": 0.95, "simulation": PROGRAMMATIC,
        "train": {"grid": True, "per_occupation": 10, "seed": 0},
        "heldout": {"grid": True, "per_occupation": 8, "seed": 7},
        "summary": {"enabled": False}, "judge": {"enabled": False},
        "evolve": {"sop": False, "strategy": "explore"}, "output": str(tmp / "run"),
    }
    data.update(changes)
    return OptimizeConfig.model_validate(data)


def test_algorithm_1_with_programmatic_users_raises_held_out_success(tmp_path: Path) -> None:
    config = planted_config(tmp_path, theta=0.75)  # the evolved table passes it: 2 iterations
    result = asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]  # no models
    assert result.stopped == "target" and len(result.lineage) == 2
    first, evolved = result.lineage[0], result.lineage[1]
    assert first.version == load_program("insurance-default").version
    assert evolved.parent == first.version and evolved.created_by == "optimizer.attributes"
    assert first.heldout_n == evolved.heldout_n == 24 * 8
    # The hand-written table pitches what the planted world's sectors rarely want.
    assert first.heldout_success is not None and evolved.heldout_success is not None
    assert evolved.heldout_success - first.heldout_success > 0.25
    assert result.best.version == evolved.version and result.improvement == pytest.approx(
        evolved.heldout_success - first.heldout_success)
    # The learned table names the planted top-2 of every sector the training grid covers.
    world = load_world("planted")
    final = result.final.default
    for sector in {d.caller.sector for d in result.train_dialogues if d.caller.sector}:
        assert set(final.strategy[sector].intents) == set(world.top(sector)), sector
    # The held-out personas were never used to evolve.
    train_ids = {d.metadata["persona_id"] for d in result.train_dialogues}
    held = [json.loads(line) for line in
            (result.run_dir / "dialogues" / f"heldout-{first.version}.jsonl").open()]
    assert train_ids.isdisjoint({d["metadata"]["persona_id"] for d in held})
    # The lineage file lists every version with its scores; every program is on disk.
    lines = [json.loads(line) for line in (result.run_dir / "lineage.jsonl").open()]
    assert [m["version"] for m in lines] == [m.version for m in result.lineage]
    assert all(Path(m["program_file"]).is_file() for m in lines)
    assert load_program(lines[-1]["program_file"]).version == lines[-1]["version"]
    paths = asyncio.run(write_optimize_report(result, load_attitudes(), first=load_program(),
                                              llm=None))
    report = paths.markdown.read_text()
    assert evolved.version in report and "What changed" in report
    assert json.loads(paths.summary.read_text())["best"]["version"] == evolved.version
    assert all(p.stat().st_size > 1000 for p in paths.plots)


def test_a_rerun_reuses_the_dialogues_already_simulated(tmp_path: Path) -> None:
    config = planted_config(tmp_path, iterations=1,
                            train={"grid": True, "per_occupation": 4, "seed": 0},
                            heldout={"grid": True, "per_occupation": 2, "seed": 7})
    asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]
    store = tmp_path / "run" / "dialogues" / "train-1.jsonl"
    before = store.read_text()
    asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]
    assert store.read_text() == before  # nothing simulated twice, nothing appended


def test_levers_that_need_an_llm_are_refused_without_one(tmp_path: Path) -> None:
    config = planted_config(tmp_path, summary={"enabled": True})
    with pytest.raises(ConfigError, match="summary need an LLM"):
        asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[simulation]\nmode = "txt"\n')
    with pytest.raises(ConfigError, match=r"(?s)\[simulation\] is invalid.*mode"):
        load_optimize_config(bad)
    bad.write_text('name = "x"\nthetta = 0.4\n')
    with pytest.raises(ConfigError, match="thetta"):
        load_optimize_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_optimize_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="nothing to evolve"):
        asyncio.run(optimize(planted_config(tmp_path, evolve={"sop": False}), None,  # type: ignore[arg-type]
                             tmp_path))


def test_overlapping_held_out_personas_are_refused(tmp_path: Path) -> None:
    config = planted_config(tmp_path, heldout={"grid": True, "per_occupation": 10, "seed": 0})
    with pytest.raises(ConfigError, match="overlap"):
        asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]


# -- the LLM levers, scripted ----------------------------------------------------------------
class Scripted:
    """Answers like the three LLM roles would, from the request's schema and prompt."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.rng = random.Random(0)
        self.calls = {"coa": 0, "judge": 0, "evolve": 0}

    def __call__(self, request: LLMRequest) -> str:
        schema = request.json_schema or {}
        props = schema.get("properties", {})
        if "rounds" in props:
            self.calls["coa"] += 1
            n = props["rounds"]["minItems"]
            states = load_attitudes().names
            return json.dumps({"rounds": [{"round": i + 1, "evidence": "ok",
                                           "attitude": self.rng.choice(states)}
                                          for i in range(n)], "accepted": self.accept})
        if "authenticity" in props:
            self.calls["judge"] += 1
            return json.dumps({"reason": "fine", "authenticity": 2, "relevance": 2,
                               "consistency": 3, "efficiency": 1, "human_likeness": 2,
                               "task_success": self.accept})
        assert "steps" in props  # the optimization agent's structured SOP
        self.calls["evolve"] += 1
        step = {"phase": "Rapport", "objective": "Earn a minute.",
                "points": ["Ask what the caller does for a living."], "key_notes": "Be brief."}
        return json.dumps({"reflection": "Callers left after wrong pitches.", "steps": [
            step, {**step, "phase": "Pitch"}, {**step, "phase": f"Close {self.calls['evolve']}"}]})


async def run_scripted(config: OptimizeConfig, script: Scripted) -> Any:
    probe = config.batch("probe", config.train, {"p": config.program})
    kit = await Toolkit.build(probe, None)  # type: ignore[arg-type]  # programmatic: no models
    kit.llm = FakeLLM(script)
    run_dir = config.run_dir(Path("."))
    run_dir.mkdir(parents=True)
    return await Optimizer(config, kit, run_dir).run()


def llm_config(tmp: Path, **changes: Any) -> OptimizeConfig:
    return planted_config(
        tmp, train={"count": 6, "seed": 1}, heldout={"count": 6, "seed": 2},
        summary={"enabled": True}, judge={"enabled": True},
        evolve={"sop": True, "strategy": "off"}, **changes)


def test_scripted_llm_levers_evolve_the_sop_until_the_iterations_run_out(tmp_path: Path) -> None:
    script = Scripted(accept=False)
    result = asyncio.run(run_scripted(llm_config(tmp_path, iterations=2), script))
    assert result.stopped == "iterations"
    assert [m.created_by for m in result.lineage] == [
        "hand-written", "optimizer.evolve", "optimizer.evolve"]
    versions = [m.version for m in result.lineage]
    assert [m.parent for m in result.lineage[1:]] == versions[:-1]
    sop = result.final.default.sop
    assert sop.startswith("Business SOP\nStep 1: Rapport") and "Step 3: Close 2" in sop
    trained = result.lineage[:2]  # the last version was measured on held-out personas only
    assert all(m.tau == 0.0 and m.h_avg is not None and m.h_avg > 0 for m in trained)
    assert all(m.judge_means["efficiency"] == 1 and m.judge_means["mean"] == 2 for m in trained)
    assert result.h_basic == result.lineage[0].h_avg
    assert script.calls["evolve"] == 2 and script.calls["judge"] == 12
    assert len(result.chains) == 6


def test_scripted_llm_levers_stop_once_tau_reaches_theta(tmp_path: Path) -> None:
    script = Scripted(accept=True)
    result = asyncio.run(run_scripted(llm_config(tmp_path, theta=0.5, h_basic=0.0), script))
    assert result.stopped == "target"
    assert len(result.lineage) == 1 and result.lineage[0].tau == 1.0
    assert script.calls["evolve"] == 0


# -- stratified evolution --------------------------------------------------------------------
def test_stratified_by_sector_gives_each_sector_its_own_program_picked_at_call_time(
        tmp_path: Path) -> None:
    config = planted_config(tmp_path, iterations=1, stratify={"by": "sector"})
    result = asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]
    first, evolved = result.lineage
    final = result.final
    world = load_world("planted")
    sectors = {d.caller.sector for d in result.train_dialogues if d.caller.sector}
    assert final.route == {s: s for s in sectors} and set(evolved.segments) == sectors
    for sector in sectors:
        program = final.pick(sector)
        assert program is final.programs[sector] and program.parent == first.version
        assert set(program.strategy[sector].intents) == set(world.top(sector)), sector
    assert final.pick("Z") is final.default and final.pick(None) is final.default
    # Held-out callers met their own sector's program.
    held = [json.loads(line) for path in (result.run_dir / "dialogues").glob(
        f"heldout-{evolved.version}.*.jsonl") for line in path.open()]
    assert len(held) == evolved.heldout_n == 24 * 8
    assert all(d["program_version"] == final.pick(d["caller"]["sector"]).version for d in held)
    assert evolved.heldout_success is not None and first.heldout_success is not None
    assert evolved.heldout_success - first.heldout_success > 0.25
    # The set is one file, loaded the way the server loads a program.
    loaded = load_program_set(evolved.program_file)
    assert isinstance(loaded, ProgramSet) and loaded.version == final.version == evolved.version


def _dialogue(did: str, sector: str, pid: str) -> Dialogue:
    return Dialogue(id=did, source="simulated", program_version="p",
                    caller=CallerProfile(sector=sector), metadata={"persona_id": pid},
                    turns=[Turn(speaker="user", text="hi")])


def test_stratified_by_attitude_behaviour_clusters_sectors_that_react_alike() -> None:
    space = load_attitudes()
    cold = ("Refusal", "Resistance", "Doubt", "Refusal")
    warm = ("Interested", "Consideration", "Cooperative", "Acceptance")
    train, chains = [], []
    for n in range(12):
        sector = "AJK"[n % 3] if n < 6 else "PQR"[n % 3]
        d = _dialogue(f"d{n}", sector, f"p{n}")
        train.append(d)
        chains.append(AttitudeChain(d.id, cold if sector in "AJK" else warm, ("",) * 4, None))
    route = segment_route(train, chains, StratifySettings(by="coa", clusters=2), space)
    assert set(route) == set("AJKPQR")
    assert len({route[s] for s in "AJK"}) == 1 and len({route[s] for s in "PQR"}) == 1
    assert route["A"] != route["P"]


def test_program_set_files_validate_their_routes(tmp_path: Path) -> None:
    p0 = load_program()
    with pytest.raises(ValueError, match="without a program"):
        ProgramSet(default=p0, programs={}, route={"A": "farm"})
    one = load_program_set("insurance-default")
    assert one.version == p0.version and one.pick("A") is one.default
