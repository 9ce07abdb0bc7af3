"""``salesvoice evaluate``: paired comparison on planted worlds through the real path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize

from agent.dialogue import Dialogue
from agent.program import AgentProgram, load_program
from agent.stats import rate
from agent.textfeatures import BUCKETS
from agent.thought_head import FIELDS, FieldHead, ThoughtHead
from models.embed import FakeEmbedder
from models.errors import ConfigError, ModelRuntimeError
from server.cli import main
from simulator.agents import HeadReader
from simulator.evaluate import (
    PRIMARY,
    detectable_difference,
    evaluate,
    outcome_of,
    recommended_personas,
    truth_of,
)
from simulator.evaluate_bench import World, check, closest_subset, plant, planted_program
from simulator.evaluate_report import verdict, write_evaluation
from simulator.evaluate_run import EvaluateConfig, check_disjoint, load_evaluate_config
from simulator.persona import PersonaSampler, load_spec
from simulator.users import load_world

PLANTED_WORLD = load_world()
BASE = load_program("insurance-default")
PLANTED = planted_program(PLANTED_WORLD, BASE)
# Callers who name their job and say yes in stock phrases, read by the phrase lexicon: the
# real path (job not told, outcomes detected) at a millisecond a dialogue. The benchmark
# runs the varied wording with the learned reader.
FAST = World(PLANTED_WORLD.model_copy(update={"wording": "plain"}), "lexicon")


async def simulate_arms(programs: dict[str, AgentProgram], *, personas: int,
                        seed: int) -> list[Dialogue]:
    return await FAST.dialogues(programs, personas=personas, seed=seed)


async def test_every_persona_meets_every_arm_and_the_agent_is_not_told_the_job() -> None:
    dialogues = await simulate_arms({"a": BASE, "b": PLANTED}, personas=30, seed=3)
    assert len(dialogues) == 60
    assert all(d.caller.occupation is None and d.caller.sector is None for d in dialogues)
    assert all(d.metadata["llm"] is None for d in dialogues)  # no LLM spoke: none named
    ev = evaluate(dialogues, baseline="a", n_boot=200)
    assert [a.arm for a in ev.arms] == ["a", "b"]
    assert ev.paired_personas == 30 and ev.dialogues_per_persona == 1


async def test_success_interval_and_paired_test_equal_statsmodels_on_the_same_counts() -> None:
    dialogues = await simulate_arms({"base": BASE, "planted": PLANTED}, personas=120, seed=4)
    ev = evaluate(dialogues, baseline="base", n_boot=200)
    won: dict[str, dict[str, bool]] = {"base": {}, "planted": {}}
    for d in dialogues:
        won[str(d.variant)][str(d.metadata["persona_id"])] = (
            outcome_of(d, "detected") in ("accepted", "explicit_intent"))
    people = sorted(won["base"])
    k = sum(won["planted"].values())
    lo, hi = proportion_confint(k, len(people), method="wilson")
    got = ev.arm("planted").metrics[PRIMARY]
    assert got.value == pytest.approx(k / len(people))
    assert (got.low, got.high) == pytest.approx((lo, hi), abs=1e-9)
    table = [[sum(won["base"][p] and won["planted"][p] for p in people),
              sum(won["base"][p] and not won["planted"][p] for p in people)],
             [sum(not won["base"][p] and won["planted"][p] for p in people),
              sum(not won["base"][p] and not won["planted"][p] for p in people)]]
    d = ev.arm("planted").vs_baseline[PRIMARY]
    assert d.p == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-9)
    assert d.value == pytest.approx((table[1][0] - table[0][1]) / len(people))
    assert d.low > 0  # the planted strategy wins by ~40 points: no doubt at 120 personas


async def test_detected_outcomes_are_compared_with_the_users_truth() -> None:
    dialogues = await simulate_arms({"a": BASE, "b": PLANTED}, personas=60, seed=5)
    ev = evaluate(dialogues, n_boot=200)
    assert sum(sum(row.values()) for row in ev.confusion.values()) == len(dialogues)
    assert all(truth_of(d) == (d.outcome.value if d.outcome else "none") for d in dialogues)
    truth = evaluate(dialogues, source="truth", n_boot=200)
    # The truth counts every explicit intent as success; the agent's lexicon misses some.
    for arm in ("a", "b"):
        assert truth.arm(arm).metrics[PRIMARY].value >= ev.arm(arm).metrics[PRIMARY].value
    assert ev.detector_agreement is not None and 0 < ev.detector_agreement <= 1


async def test_a_planted_ten_point_difference_is_detected_at_the_recommended_size() -> None:
    """The bar of issue 14 at smoke scale (`salesvoice bench evaluate` runs it in full):
    fails when the detection rate is clearly below 80 % (Wilson upper bound under it)."""
    reverted = await plant(FAST, BASE, 0.10, personas=3000, seed=1)
    worse = planted_program(PLANTED_WORLD, BASE, keep_base=reverted, version="reverted")
    arms = {"reverted": worse, "planted": PLANTED}
    truth = evaluate(await FAST.dialogues(arms, personas=2500, seed=2), baseline="reverted",
                     n_boot=200)
    planted = truth.arms[1].vs_baseline[PRIMARY].value
    assert planted == pytest.approx(0.10, abs=0.03)
    n = recommended_personas(truth.arms[0].metrics[PRIMARY].value, planted)
    result = await check(FAST, arms, personas=n, replicates=10, expect="higher",
                         first_seed=1000)
    assert rate(result.hits, result.replicates).high >= 0.80, result


async def test_identical_arms_hold_identical_calls_and_cover_zero() -> None:
    """Common random numbers: every arm meets the same user, so two identical programs
    make the same calls and the interval covers 0 in every replicate. Fails if anything
    of the arm's name reaches a dialogue."""
    twin = PLANTED.model_copy(update={"version": "twin"})
    dialogues = await simulate_arms({"planted": PLANTED, "twin": twin}, personas=60, seed=7)
    calls: dict[str, dict[str, list[str]]] = {"planted": {}, "twin": {}}
    for d in dialogues:
        calls[str(d.variant)][str(d.metadata["persona_id"])] = [t.text for t in d.turns]
    assert calls["planted"] == calls["twin"]
    result = await check(FAST, {"planted": PLANTED, "twin": twin}, personas=150,
                         replicates=5, expect="same", first_seed=5000)
    assert result.hits == result.replicates == 5, result


async def test_different_programs_meet_the_same_user() -> None:
    """Paired by common random numbers: the user's first answer (before any pitch) is the
    same in both arms, while the calls part where the programs' strategies differ."""
    dialogues = await simulate_arms({"base": BASE, "planted": PLANTED}, personas=60, seed=8)
    first: dict[str, dict[str, str]] = {"base": {}, "planted": {}}
    whole: dict[str, dict[str, list[str]]] = {"base": {}, "planted": {}}
    for d in dialogues:
        people = str(d.metadata["persona_id"])
        users = [t.text for t in d.turns if t.speaker == "user"]
        first[str(d.variant)][people] = users[0]
        whole[str(d.variant)][people] = [t.text for t in d.turns]
    assert first["base"] == first["planted"]
    assert sum(whole["base"][p] != whole["planted"][p] for p in whole["base"]) >= 10


def test_planting_picks_the_sectors_whose_gains_sum_closest_to_the_target() -> None:
    gains = {"A": 0.07, "B": 0.05, "C": 0.02, "D": 0.01, "E": -0.01}
    assert closest_subset(gains, 0.10) == ["A", "C", "D"]
    assert closest_subset(gains, 0.10, most=2) == ["A", "C"]
    assert closest_subset(gains, 0.0) == []


def test_the_recommended_size_is_statsmodels_power_solution() -> None:
    h = proportion_effectsize(0.5, 0.4)
    expected = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1)
    assert recommended_personas(0.4, 0.1) == int(-(-expected // 1))
    d = detectable_difference(0.4, recommended_personas(0.4, 0.1))
    assert d is not None and d == pytest.approx(0.1, abs=0.002)


async def test_report_writes_markdown_html_png_and_json(tmp_path: Path) -> None:
    dialogues = await simulate_arms({"base": BASE, "planted": PLANTED}, personas=40, seed=6)
    md, page, data = write_evaluation(evaluate(dialogues, n_boot=200), tmp_path,
                                      title="planted")
    text = md.read_text()
    assert "planted vs base: success is higher" in text
    assert "&#x27;" not in text and "&amp;" not in text
    assert (tmp_path / "differences.png").stat().st_size > 1000
    assert "<table>" in page.read_text()
    loaded = json.loads(data.read_text())
    assert loaded["baseline"] == "base" and len(loaded["arms"]) == 2


def test_config_rejects_unknown_keys_and_a_baseline_that_is_not_an_arm(tmp_path: Path) -> None:
    bad = tmp_path / "e.toml"
    bad.write_text('name = "x"\narms = { a = "insurance-default", b = "insurance-default" }\n'
                   'colour = "red"\n')
    with pytest.raises(ConfigError, match="colour: unknown key"):
        load_evaluate_config(bad)
    bad.write_text('name = "x"\nbaseline = "c"\n'
                   'arms = { a = "insurance-default", b = "insurance-default" }\n')
    with pytest.raises(ConfigError, match="baseline 'c' is not an arm"):
        load_evaluate_config(bad)
    bad.write_text('name = "x"\narms = { a = "insurance-default" }\n')
    with pytest.raises(ConfigError, match="arms"):
        load_evaluate_config(bad)


def test_personas_used_for_training_or_selection_are_refused(tmp_path: Path) -> None:
    people = PersonaSampler(load_spec("insurance"), 1).sample(5)
    used = tmp_path / "train.jsonl"
    used.write_text("\n".join(p.model_dump_json() for p in people[:2]) + "\n")
    with pytest.raises(ConfigError, match="2 evaluation personas were already used"):
        check_disjoint(people, [str(used)])
    check_disjoint(PersonaSampler(load_spec("insurance"), 9001).sample(5), [str(used)])


def test_evaluate_run_resumes_and_reports_through_the_cli(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "eval.toml"
    config.write_text(f"""
name = "cli"
arms = {{ base = "insurance-default", same = "insurance-default" }}
output = "{tmp_path / 'run'}"
[personas]
count = 25
seed = 9001
[simulation]
user = {{ kind = "programmatic" }}
agent = {{ kind = "rule" }}
""")
    assert main(["evaluate", "run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "same vs base" in out
    store = tmp_path / "run" / "dialogues.jsonl"
    assert len(store.read_text().splitlines()) == 50
    assert main(["evaluate", "run", "--config", str(config)]) == 0
    assert "0 dialogues run, 50 already" in capsys.readouterr().out
    assert len(store.read_text().splitlines()) == 50
    report = tmp_path / "run" / "report" / "evaluation.json"
    assert json.loads(report.read_text())["paired_personas"] == 25
    # Other personas in the same run folder would mix two designs: refused, nothing run.
    config.write_text(config.read_text().replace("count = 25", "count = 30"))
    assert main(["evaluate", "run", "--config", str(config)]) == 2
    assert "other settings (personas changed)" in capsys.readouterr().out
    assert len(store.read_text().splitlines()) == 50


def test_evaluate_plan_prints_the_size(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["evaluate", "plan", "--baseline-rate", "0.4", "--difference", "0.1"]) == 0
    assert f"{recommended_personas(0.4, 0.1)} personas" in capsys.readouterr().out


def test_evaluation_config_defaults_to_the_real_path() -> None:
    c = EvaluateConfig.model_validate({"name": "x", "arms": {"a": "insurance-default",
                                                             "b": "insurance-default"}})
    batch = c.batch(Path("/tmp/data"))
    assert batch.agent.share_occupation is False
    assert batch.dialogues_per_persona == 1
    assert c.outcome == "detected"


def test_an_arm_can_change_program_fields_and_bad_fields_are_named() -> None:
    from simulator.evaluate_run import Arm, arm_program

    single = arm_program(Arm(set={"decoding.mode": "single"}))
    assert single.decoding.mode == "single" and single.parent == BASE.version
    assert single.version != BASE.version
    with pytest.raises(ConfigError, match="no field 'bogus'"):
        arm_program(Arm(set={"decoding.bogus": 1}))
    with pytest.raises(ConfigError, match="invalid"):
        arm_program(Arm(set={"decoding.mode": "telepathy"}))


class _BrokenEmbedder(FakeEmbedder):
    """An embedder whose model fails mid-run."""

    def _embed(self, texts):  # type: ignore[no-untyped-def]
        raise RuntimeError("onnxruntime: out of memory")


async def test_a_failing_head_fails_every_waiting_dialogue_and_hangs_none() -> None:
    fields = {name: FieldHead(["?", "x"], np.zeros((2, 2 * 8 + BUCKETS)), np.zeros(2))
              for name in FIELDS}
    reader = HeadReader(ThoughtHead(_BrokenEmbedder(dim=8), fields))
    results = await asyncio.wait_for(asyncio.gather(
        *(reader("Hi", f"line {k}") for k in range(3)), return_exceptions=True), timeout=5)
    assert all(isinstance(r, ModelRuntimeError) and "out of memory" in str(r) for r in results)


async def test_three_arms_get_holm_adjusted_p_values_and_a_verdict_each() -> None:
    twin = PLANTED.model_copy(update={"version": "twin"})
    dialogues = await simulate_arms({"base": BASE, "planted": PLANTED, "twin": twin},
                                    personas=80, seed=8)
    ev = evaluate(dialogues, baseline="base", n_boot=200)
    deltas = [ev.arm(a).vs_baseline[PRIMARY] for a in ("planted", "twin")]
    assert all(d.p_holm is not None and d.p <= d.p_holm <= 1 for d in deltas)
    _, expected, _, _ = multipletests([d.p for d in deltas], method="holm")
    assert [d.p_holm for d in deltas] == pytest.approx(list(expected), rel=1e-9)
    for arm in ("planted", "twin"):
        assert verdict(ev, arm).startswith(f"{arm} vs base: ")
        assert "Holm p=" in verdict(ev, arm)


async def test_a_single_persona_gets_rates_but_no_invented_interval_for_means() -> None:
    dialogues = await simulate_arms({"base": BASE, "planted": PLANTED}, personas=1, seed=9)
    ev = evaluate(dialogues, baseline="base", n_boot=200)
    base = ev.arm("base").metrics
    assert base[PRIMARY].n == 1
    assert "turns" not in base and "turns" not in ev.arm("planted").vs_baseline
    assert PRIMARY in ev.arm("planted").vs_baseline  # a 2x2 table of one pair still exists
