"""Algorithm 1 end to end on the programmatic environment, through the real path: the
strategy lever learns the planted truth, the evolved version is chosen on selection
personas by a paired interval and its gain reported on others; the LLM levers (attitudes,
judge, SOP) through a scripted FakeLLM: lineage, the interval stopping rule, new versions,
report files."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from agent.dialogue import CallerProfile, Dialogue, Turn
from agent.program import AgentProgram, ProgramSet, load_program, load_program_set
from models.errors import ConfigError
from models.llm.base import LLMRequest
from models.llm.fake import FakeLLM
from optimizer.attitude import AttitudeChain, load_attitudes
from optimizer.batches import Batches
from optimizer.loop import (
    OptimizeConfig,
    Optimizer,
    load_optimize_config,
    optimize,
)
from optimizer.report import write_optimize_report
from optimizer.segments import StratifySettings, segment_route
from simulator.batch import Toolkit, personas_for

PROGRAMMATIC = {"mode": "text", "dialogues_per_persona": 1, "max_utterances": 20, "workers": 1,
                "user": {"kind": "programmatic", "world": "planted"},
                "agent": {"kind": "rule"}}
TRAIN_SIZE = 20
"""Grid personas per occupation to learn from: where the exploration finds every sector's
planted top-2 (measured in test_optimizer_planted.py)."""
MEASURE_SIZE = 8
"""Grid personas per occupation for the selection and the report sets (192 each)."""


def planted_config(tmp: Path, seed: int = 0, **changes: Any) -> OptimizeConfig:
    """The real path: the rule agent is not told the occupation (the optimizer's default)."""
    data: dict[str, Any] = {
        "name": "planted", "iterations": 1, "theta": 0.95, "simulation": PROGRAMMATIC,
        "train": {"grid": True, "per_occupation": TRAIN_SIZE, "seed": seed},
        "select": {"grid": True, "per_occupation": MEASURE_SIZE, "seed": seed + 100},
        "report": {"grid": True, "per_occupation": MEASURE_SIZE, "seed": seed + 200},
        "summary": {"enabled": False}, "judge": {"enabled": False},
        "evolve": {"sop": False, "strategy": "explore"}, "output": str(tmp / "run"),
    }
    data.update(changes)
    return OptimizeConfig.model_validate(data)


def persona_ids(run_dir: Path, pattern: str) -> set[str]:
    return {json.loads(line)["metadata"]["persona_id"]
            for path in (run_dir / "dialogues").glob(pattern) for line in path.open()}


@pytest.mark.parametrize("seed", [0, 1])
def test_algorithm_1_chooses_on_selection_personas_and_reports_the_gain_on_others(
        tmp_path: Path, seed: int) -> None:
    # Sales counted by the callers' own verdicts (the agent's reading: the next test).
    config = planted_config(tmp_path, seed, outcome="truth")
    result = asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]  # no models
    assert result.stopped == "iterations" and len(result.lineage) == 2
    first, evolved = result.lineage
    assert first.version == load_program("insurance-default").version
    assert evolved.parent == first.version and evolved.created_by == "optimizer.attributes"
    assert first.select_n == evolved.select_n == 24 * MEASURE_SIZE
    # Chosen on the selection personas: paired, the whole interval above 0.
    d = evolved.difference
    print(f"seed {seed}: selection {first.select} -> {evolved.select}; paired {d}")
    assert evolved.versus == first.version and d is not None and d.n == 24 * MEASURE_SIZE
    assert d.low > 0 and evolved.improved and result.chosen is evolved
    assert result.chosen_program.version == evolved.version == result.final.version
    # Reported on personas that neither trained nor chose it: both arms, paired.
    gain = result.gain
    print(f"seed {seed}: report personas {gain}")
    assert [a.arm for a in result.report.arms] == ["start", "chosen"]
    assert result.report.paired_personas == 24 * MEASURE_SIZE
    assert gain is not None and gain.low > 0.05
    # Three disjoint persona sets, each in its own stores.
    train = persona_ids(result.run_dir, "train-1*.jsonl") | persona_ids(result.run_dir,
                                                                        "explore-*.jsonl")
    select = persona_ids(result.run_dir, "select-*.jsonl")
    report = persona_ids(result.run_dir, "report*.jsonl")
    assert len(select) == len(report) == 24 * MEASURE_SIZE and len(train) == 24 * TRAIN_SIZE
    assert not train & select and not train & report and not select & report
    # The lineage file lists every version with its intervals; every program is on disk.
    lines = [json.loads(line) for line in (result.run_dir / "lineage.jsonl").open()]
    assert [m["version"] for m in lines] == [m.version for m in result.lineage]
    assert set(lines[1]["select"]) == {"value", "low", "high", "n"}
    assert lines[1]["difference"]["method"] == "newcombe-paired+mcnemar-exact"
    assert lines[0]["train"]["n"] == 24 * TRAIN_SIZE and lines[0]["tau"] == lines[0]["select"]
    assert all(Path(m["program_file"]).is_file() for m in lines)
    assert load_program(lines[-1]["program_file"]).version == lines[-1]["version"]
    paths = asyncio.run(write_optimize_report(result, load_attitudes(), first=load_program(),
                                              llm=None))
    report_md = paths.markdown.read_text()
    assert evolved.version in report_md and "What changed" in report_md
    assert "## Gain on the report personas" in report_md and "an improvement" in report_md
    assert "## Report personas: Verdict" in report_md
    summary = json.loads(paths.summary.read_text())
    assert summary["chosen"]["version"] == evolved.version
    assert summary["gain"]["low"] == pytest.approx(gain.low)
    assert all(p.stat().st_size > 1000 for p in paths.plots)


def test_on_the_agents_own_reading_a_version_is_chosen_only_when_its_interval_clears_zero(
        tmp_path: Path) -> None:
    """The real path throughout: outcomes as the agent detected them. Its detector misses
    most accepts, so the same gain reads smaller: whichever way the selection goes, the
    decision follows the interval and the report says what was chosen."""
    small = {"grid": True, "per_occupation": 4}
    config = planted_config(tmp_path, iterations=2, train={**small, "seed": 0},
                            select={**small, "seed": 100}, report={**small, "seed": 200})
    assert config.outcome == "detected"
    result = asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]
    chosen = result.lineage[0]
    for m in result.lineage[1:]:
        assert m.difference is not None and m.versus == chosen.version
        assert m.improved == (m.difference.low > 0)
        chosen = m if m.improved else chosen
    assert result.chosen is chosen
    arms = [a.arm for a in result.report.arms]
    assert arms == (["start"] if chosen is result.lineage[0] else ["start", "chosen"])
    assert result.report.outcome_source == "detected" and result.report.confusion


def test_a_rerun_reuses_the_dialogues_already_simulated(tmp_path: Path) -> None:
    config = planted_config(tmp_path,
                            train={"grid": True, "per_occupation": 4, "seed": 0},
                            select={"grid": True, "per_occupation": 2, "seed": 7},
                            report={"grid": True, "per_occupation": 2, "seed": 8})
    asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]
    stores = sorted((tmp_path / "run" / "dialogues").glob("*.jsonl"))
    before = [p.read_text() for p in stores]
    asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]
    assert sorted((tmp_path / "run" / "dialogues").glob("*.jsonl")) == stores
    assert [p.read_text() for p in stores] == before  # nothing simulated twice


def test_a_rerun_with_another_simulation_or_persona_set_is_refused_not_mixed(
        tmp_path: Path) -> None:
    small = {"grid": True, "per_occupation": 2}
    sets = {"train": {**small, "seed": 0}, "select": {**small, "seed": 7},
            "report": {**small, "seed": 8}}
    asyncio.run(optimize(planted_config(tmp_path, **sets), None, tmp_path))  # type: ignore[arg-type]
    stores = {p: p.read_text() for p in (tmp_path / "run" / "dialogues").glob("*.jsonl")}
    wording = planted_config(tmp_path, **sets, simulation={**PROGRAMMATIC, "max_utterances": 8})
    with pytest.raises(ConfigError, match=r"other settings \(simulation changed\)"):
        asyncio.run(optimize(wording, None, tmp_path))  # type: ignore[arg-type]
    other_report = planted_config(tmp_path, **{**sets, "report": {**small, "seed": 9}})
    with pytest.raises(ConfigError, match=r"\(report changed\)"):
        asyncio.run(optimize(other_report, None, tmp_path))  # type: ignore[arg-type]
    assert {p: p.read_text() for p in stores} == stores  # nothing touched
    # More iterations or workers are the same design: the rerun goes on.
    more = planted_config(tmp_path, **sets, iterations=2,
                          simulation={**PROGRAMMATIC, "workers": 3})
    asyncio.run(optimize(more, None, tmp_path))  # type: ignore[arg-type]


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
    bad.write_text('name = "x"\n[heldout]\ncount = 4\n')
    with pytest.raises(ConfigError, match=r"\[heldout\] is now \[select\].*\[report\]"):
        load_optimize_config(bad)
    with pytest.raises(ConfigError, match="nothing to evolve"):
        asyncio.run(optimize(planted_config(tmp_path, evolve={"sop": False}), None,  # type: ignore[arg-type]
                             tmp_path))


@pytest.mark.parametrize(("a", "b"), [("train", "select"), ("train", "report"),
                                      ("select", "report")])
def test_overlapping_persona_sets_are_refused(tmp_path: Path, a: str, b: str) -> None:
    same = {"grid": True, "per_occupation": 2, "seed": 42}
    config = planted_config(tmp_path, **{a: same, b: same})
    with pytest.raises(ConfigError, match=rf"\[{a}\] and \[{b}\] personas overlap"):
        asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]


# -- the LLM levers, scripted ----------------------------------------------------------------
class Scripted:
    """Answers like the three LLM roles would, from the request's schema and prompt."""

    def __init__(self, accept: bool, tag: str = "") -> None:
        self.accept = accept
        self.tag = tag  # in every SOP it writes: other tags, other children
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
                "points": ["Ask what the caller does for a living."],
                "key_notes": f"Be brief{self.tag}."}
        return json.dumps({"reflection": "Callers left after wrong pitches.", "steps": [
            step, {**step, "phase": "Pitch"}, {**step, "phase": f"Close {self.calls['evolve']}"}]})


async def run_scripted(config: OptimizeConfig, script: Scripted) -> Any:
    probe = config.batch("probe", config.train, {"p": config.program})
    kit = await Toolkit.build(probe, None)  # type: ignore[arg-type]  # programmatic: no models
    kit.llm = FakeLLM(script)
    run_dir = config.run_dir(Path("."))
    run_dir.mkdir(parents=True, exist_ok=True)  # a rerun resumes the run directory
    return await Optimizer(config, kit, run_dir).run()


def llm_config(tmp: Path, **changes: Any) -> OptimizeConfig:
    return planted_config(tmp, **{
        "train": {"count": 6, "seed": 1}, "select": {"count": 6, "seed": 2},
        "report": {"count": 6, "seed": 3}, "summary": {"enabled": True},
        "judge": {"enabled": True}, "evolve": {"sop": True, "strategy": "off"}, **changes})


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
    trained = result.lineage[:2]  # the last version was measured on selection personas only
    assert all(m.tau is not None and (m.tau.value, m.tau.n) == (0.0, 6) for m in trained)
    assert all(m.h_avg is not None and m.h_avg.low < m.h_avg.value < m.h_avg.high
               for m in trained)
    assert all(m.judge_means["efficiency"] == 1 and m.judge_means["mean"] == 2 for m in trained)
    assert result.lineage[0].h_avg is not None
    assert result.h_basic == result.lineage[0].h_avg.value
    # judged: each iterated version's 6 selection calls (τ), and its 6 training calls
    # (the SOP lever learns from them)
    assert script.calls["evolve"] == 2 and script.calls["judge"] == 2 * (6 + 6)
    assert len(result.chains) == 6


def test_scripted_llm_levers_stop_once_the_interval_of_tau_clears_theta(
        tmp_path: Path) -> None:
    script = Scripted(accept=True)
    result = asyncio.run(run_scripted(llm_config(tmp_path / "a", theta=0.5, h_basic=0.0),
                                      script))
    tau = result.lineage[0].tau
    assert result.stopped == "target" and len(result.lineage) == 1
    assert tau is not None and tau.value == 1.0 and 0.5 < tau.low < 0.7  # 6 of 6 personas
    assert script.calls["evolve"] == 0
    # τ = 100 % over six personas is no evidence that τ ≥ 70 %: the loop goes on.
    script = Scripted(accept=True)
    result = asyncio.run(run_scripted(llm_config(tmp_path / "b", theta=0.7, h_basic=0.0),
                                      script))
    assert result.stopped == "iterations" and script.calls["evolve"] == 1



def test_tau_is_measured_on_the_selection_calls_not_the_training_calls(
        tmp_path: Path) -> None:
    # 8 training personas, 5 selection personas: τ's unit count says which calls it read.
    sizes = {"train": {"count": 8, "seed": 1}, "select": {"count": 5, "seed": 2}}
    script = Scripted(accept=False)
    result = asyncio.run(run_scripted(llm_config(tmp_path / "a", **sizes), script))
    first = result.lineage[0]
    assert first.tau is not None and first.tau.n == 5 and first.train_n == 8
    assert first.judge_means["mean"] == 2
    assert script.calls["judge"] == 5 + 8  # τ on selection; training calls for the SOP lever
    # The strategy lever does not read the judge: only the selection calls are judged.
    script = Scripted(accept=False)
    result = asyncio.run(run_scripted(llm_config(
        tmp_path / "b", evolve={"sop": False, "strategy": "observed"}, **sizes), script))
    assert result.lineage[0].tau is not None and result.lineage[0].tau.n == 5
    assert script.calls["judge"] == 5 and result.scores == {}
    # Without the judge, τ is the success on the selection personas.
    config = planted_config(tmp_path / "c", outcome="truth",
                            train={"grid": True, "per_occupation": 4, "seed": 0},
                            select={"grid": True, "per_occupation": 2, "seed": 7},
                            report={"grid": True, "per_occupation": 2, "seed": 8})
    first = asyncio.run(optimize(config, None, tmp_path)).lineage[0]  # type: ignore[arg-type]
    assert first.tau == first.select and first.tau is not None and first.tau.n == 48
    assert first.train is not None and first.train.n == 96


def test_a_rerun_whose_evolution_made_other_children_neither_reuses_nor_mixes_their_calls(
        tmp_path: Path) -> None:
    # An LLM evolution rarely repeats itself: the rerun's scripted SOPs differ, and so do
    # its children. The strategy lever makes the child worth choosing (the report arm):
    # told the occupation, the rule agent follows its new table from the first pitch.
    told = {**PROGRAMMATIC, "agent": {"kind": "rule", "share_occupation": True}}
    config = planted_config(
        tmp_path, iterations=2, outcome="truth", simulation=told,
        evolve={"sop": True, "strategy": "explore"},
        train={"grid": True, "per_occupation": 10, "seed": 0},
        select={"grid": True, "per_occupation": 4, "seed": 100},
        report={"grid": True, "per_occupation": 4, "seed": 200})
    before = asyncio.run(run_scripted(config, Scripted(accept=False, tag=", warmly")))
    after = asyncio.run(run_scripted(config, Scripted(accept=False, tag=", plainly")))
    old, new = [m.version for m in before.lineage], [m.version for m in after.lineage]
    assert old[0] == new[0] and not set(old[1:]) & set(new[1:])
    # Iteration 2 trained the rerun's child only, on each training persona once.
    assert {d.program_version for d in after.train_dialogues} == {new[1]}
    assert len(after.train_dialogues) == 24 * 10
    # The report's "chosen" arm is the rerun's chosen version, simulated for it.
    chosen = after.chosen_program.version
    assert chosen in new[1:] and after.gain is not None
    reported = [json.loads(line) for path in (after.run_dir / "dialogues").glob("report*.jsonl")
                for line in path.open()]
    mine = [d for d in reported if d["program_version"] == chosen]
    assert len(mine) == 24 * 4 == after.report.paired_personas


def test_a_store_made_by_another_program_under_the_same_variant_name_is_refused(
        tmp_path: Path) -> None:
    config = planted_config(tmp_path, train={"count": 3, "seed": 1})

    async def run() -> None:
        kit = await Toolkit.build(config.batch("probe", config.train, {"p": config.program}),
                                  None)  # type: ignore[arg-type]  # programmatic: no models
        batches = Batches(kit, config.batch, tmp_path, share_occupation=False,
                          status=lambda _: None)
        people = await personas_for(config.batch("train", config.train, {"p": config.program}),
                                    None)
        p0 = first_program()
        first = await batches.simulate("arm", config.train, {"arm": p0}, people)
        assert {d.program_version for d in first} == {p0.version} and len(first) == 3
        assert await batches.simulate("arm", config.train, {"arm": p0}, people) == first
        other = p0.evolve("test", sop="Step 1: Listen first.")
        with pytest.raises(ConfigError, match=rf"variant 'arm' is now program {other.version}"):
            await batches.simulate("arm", config.train, {"arm": other}, people)

    asyncio.run(run())

# -- stratified evolution --------------------------------------------------------------------
def test_stratified_by_sector_gives_each_sector_its_own_program_picked_at_call_time(
        tmp_path: Path) -> None:
    # A segment program is picked when the call starts, from the sector the agent is told
    # (CRM data): untold, every caller would get the default program.
    told = {**PROGRAMMATIC, "agent": {"kind": "rule", "share_occupation": True}}
    config = planted_config(tmp_path, stratify={"by": "sector"}, simulation=told,
                            outcome="truth", train={"grid": True, "per_occupation": 10,
                                                    "seed": 0})
    result = asyncio.run(optimize(config, None, tmp_path))  # type: ignore[arg-type]
    first, evolved = result.lineage
    final = result.final
    sectors = set("AJKPQR")
    assert final.route == {s: s for s in sectors} and set(evolved.segments) == sectors
    for sector in sectors:  # each learned from its own sector's calls
        program = final.pick(sector)
        assert program is final.programs[sector] and program.parent == first.version
        assert program.strategy[sector] != first_program().strategy[sector], sector
    assert final.pick("Z") is final.default and final.pick(None) is final.default
    # Selection callers met their own sector's program.
    selected = [json.loads(line) for path in (result.run_dir / "dialogues").glob(
        f"select-{evolved.version}.*.jsonl") for line in path.open()]
    assert len(selected) == evolved.select_n == 24 * MEASURE_SIZE
    assert all(d["program_version"] == final.pick(d["caller"]["sector"]).version
               for d in selected)
    assert evolved.difference is not None and evolved.difference.low > 0.15
    assert result.chosen is evolved and result.gain is not None and result.gain.low > 0.15
    # The set is one file, loaded the way the server loads a program.
    loaded = load_program_set(evolved.program_file)
    assert isinstance(loaded, ProgramSet) and loaded.version == final.version == evolved.version


def first_program() -> AgentProgram:
    return load_program("insurance-default")


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
