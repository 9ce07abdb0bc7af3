"""``salesvoice ab``: create, status, weights, report and stop on a temporary SQLite call
store seeded with synthetic calls; the report's numbers against statsmodels/scipy; clear
errors for bad input; the offline run through ``salesvoice evaluate``."""

from __future__ import annotations

import asyncio
import json
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scipy import integrate
from scipy.stats import beta, chisquare
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from agent.ab_stats import sample_size_msprt
from agent.dialogue import CallerProfile
from server.ab_simulate import describe, effects, evaluate_config
from server.cli import main
from server.cli_ab import parse_weights
from server.experiments import How, assign_arm, load_experiment, unit_key
from server.outcomes import OutcomeRow
from server.store import CallStore
from server.store_ab import ExperimentStore

EXAMPLE = Path(__file__).parents[2] / "examples" / "experiment.toml"
NAME = "pitch"
EXPERIMENT = f"""\
name = "{NAME}"
control = "A"
guardrails = ["opt_out_rate", "call_seconds", "voice_to_voice_p95_s"]

[[arms]]
name = "A"
program = "insurance-default"

[[arms]]
name = "B"
program = "insurance-default"

[conversion]
in_call = ["accepted"]
outcomes = ["policy_bought"]

[plan]
baseline = 0.1
mde = 0.03
"""


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("SALESVOICE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("SALESVOICE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@dataclass
class Seeded:
    """What was planted per arm: units and conversions (as the analysis should count them)."""

    units: dict[str, int] = field(default_factory=lambda: {"A": 0, "B": 0})
    conversions: dict[str, int] = field(default_factory=lambda: {"A": 0, "B": 0})
    opted_out: dict[str, int] = field(default_factory=lambda: {"A": 0, "B": 0})
    forced: int = 0
    keys: list[str] = field(default_factory=list)


def experiment_file(folder: Path, text: str = EXPERIMENT, name: str = "exp.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def seed(data_dir: Path, exp_path: Path, *, callers: int = 240, forced: int = 3) -> Seeded:
    """Create the experiment five days ago and plant its calls over those days: callers
    assigned by the real hash; in arm A every 10th converts on the call, in B every 10th
    and every 12th later (a CRM outcome by caller id); every 25th opts out; ``forced`` QA
    calls in B that all convert; two calls without caller id."""
    data_dir.mkdir(parents=True, exist_ok=True)
    start = datetime.now(UTC) - timedelta(days=5)
    now = [start]
    exp = load_experiment(exp_path)
    planted = Seeded()

    def clock() -> datetime:
        return now[0]

    async def run() -> None:
        async with CallStore(f"sqlite:///{data_dir / 'calls.db'}", clock=clock) as store:
            experiments = ExperimentStore(store)
            await experiments.create(exp)
            later: list[OutcomeRow] = []
            plan: list[tuple[str, str | None, str | None]] = [
                (f"c{i}", f"+1555{i:07d}", None) for i in range(callers)]
            plan += [(f"nocid{i}", None, None) for i in range(2)]
            plan += [(f"qa{i}", f"+1666{i:07d}", "B") for i in range(forced)]
            for i, (call_id, caller_id, forced_arm) in enumerate(plan):
                now[0] = start + timedelta(days=4.5 * i / len(plan))
                key = unit_key(caller_id, call_id)
                arm = forced_arm or assign_arm(NAME, exp.weights, key)
                how: How = "forced" if forced_arm else "assigned" if caller_id else "no_caller_id"
                await store.start_call(call_id, "live", CallerProfile(caller_id=caller_id),
                                       "v1", arm, "browser")
                await experiments.assign(call_id, NAME, arm, how, key, 0)
                await store.add_turn(call_id, 0, "hello", "hi", False,
                                     {"voice_to_voice_s": 0.8 + (i % 5) / 10})
                n = planted.units[arm]
                in_call = forced_arm is not None or n % 10 == 0
                opted = not forced_arm and n % 25 == 7
                now[0] += timedelta(seconds=60 + i % 30)
                await store.finish_call(call_id, "opted_out" if opted else
                                        "accepted" if in_call else "goodbye", None, "hangup")
                if forced_arm:
                    planted.forced += 1
                    continue
                crm = arm == "B" and n % 12 == 5 and caller_id is not None
                if crm:
                    later.append(OutcomeRow(row=len(later) + 1, caller_id=caller_id,
                                            outcome="policy_bought", value=420.0,
                                            time=now[0] + timedelta(hours=3)))
                planted.units[arm] += 1
                planted.conversions[arm] += in_call or crm
                planted.opted_out[arm] += opted
                if caller_id:
                    planted.keys.append(key)
            now[0] = start + timedelta(days=4.6)
            assert (await experiments.add_outcomes(later, "crm")).added == len(later)

    asyncio.run(run())
    return planted


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


# -- the report's numbers are the textbook ones ------------------------------------------------
def test_report_json_equals_statsmodels_and_scipy_on_the_same_counts(
        tmp_path: Path, environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = seed(environment, experiment_file(tmp_path))
    code, out = run_cli(capsys, "ab", "report", NAME, "--json")
    assert code == 0
    a = json.loads(out)
    arms = {x["arm"]: x for x in a["arms"]}
    for arm in ("A", "B"):
        n, k = planted.units[arm], planted.conversions[arm]
        assert (arms[arm]["units"], arms[arm]["conversions"]) == (n, k)
        low, high = proportion_confint(k, n, method="wilson")
        assert arms[arm]["rate"] == pytest.approx(k / n, abs=1e-6)
        assert (arms[arm]["low"], arms[arm]["high"]) == pytest.approx((low, high), abs=1e-6)
        opt = arms[arm]["guardrails"]["opt_out_rate"]
        o_low, o_high = proportion_confint(planted.opted_out[arm], n, method="wilson")
        assert (opt["low"], opt["high"]) == pytest.approx((o_low, o_high), abs=1e-6)
    (n_a, k_a), (n_b, k_b) = ((planted.units[x], planted.conversions[x]) for x in "AB")
    [c] = a["comparisons"]
    assert c["diff"] == pytest.approx(k_b / n_b - k_a / n_a, abs=1e-6)
    _, p = proportions_ztest([k_b, k_a], [n_b, n_a])
    assert c["p_fixed"] == pytest.approx(p, abs=1e-6)
    low, high = confint_proportions_2indep(k_b, n_b, k_a, n_a, method="newcomb",
                                           compare="diff")
    assert (c["low"], c["high"]) == pytest.approx((low, high), abs=1e-6)
    pa, pb = beta(1 + k_a, 1 + n_a - k_a), beta(1 + k_b, 1 + n_b - k_b)
    p_beats, _ = integrate.quad(lambda x: pa.pdf(x) * pb.sf(x), 0, 1, epsabs=1e-12)
    assert c["prob_beats"] == pytest.approx(p_beats, abs=1e-6)
    [s] = a["srm"]
    chi2 = chisquare([n_a, n_b])  # equal weights: equal expected counts
    assert (s["chi2"], s["p"]) == pytest.approx((chi2.statistic, chi2.pvalue), abs=1e-6)
    effect = proportion_effectsize(0.13, 0.10)
    assert a["plan"]["units_per_arm_fixed"] == math.ceil(
        NormalIndPower().solve_power(effect, alpha=0.05, power=0.8, ratio=1))
    # The size that ends "not enough data yet" is the always-valid test's (larger).
    assert a["plan"]["units_per_arm"] == sample_size_msprt(0.10, 0.13, tau=0.03)
    assert a["excluded"] == {"forced": planted.forced, "crossovers": 0,
                             "no_caller_id_units": 2}
    assert a["verdict"] == "not enough data yet"
    assert len(a["looks"]) >= 5  # one per UTC day since the start, and now


def test_forced_qa_calls_count_only_when_asked(
        tmp_path: Path, environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = seed(environment, experiment_file(tmp_path), callers=60, forced=4)
    _, out = run_cli(capsys, "ab", "report", NAME, "--format", "json")
    without = {x["arm"]: x for x in json.loads(out)["arms"]}
    _, out = run_cli(capsys, "ab", "report", NAME, "--json", "--include-forced")
    with_qa = json.loads(out)
    assert with_qa["excluded"]["forced"] == 0
    b = next(x for x in with_qa["arms"] if x["arm"] == "B")
    assert b["units"] == without["B"]["units"] + planted.forced
    assert b["conversions"] == without["B"]["conversions"] + planted.forced


# -- files -------------------------------------------------------------------------------------
def test_report_writes_markdown_html_and_png_files(
        tmp_path: Path, environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(environment, experiment_file(tmp_path), callers=80)
    code, out = run_cli(capsys, "ab", "report", NAME, "--format", "md", "--out",
                        str(tmp_path / "r" / "report.md"))
    assert code == 0 and "not enough data yet" in out
    md = (tmp_path / "r" / "report.md").read_text()
    assert md.splitlines()[0].startswith(f"# Experiment {NAME}: not enough data yet")
    assert (tmp_path / "r" / "report.png").read_bytes().startswith(b"\x89PNG")
    code, out = run_cli(capsys, "ab", "report", NAME, "--format", "html", "--out",
                        str(tmp_path / "r.html"))
    assert code == 0 and "data:image/png;base64," in (tmp_path / "r.html").read_text()
    code, out = run_cli(capsys, "ab", "report", NAME, "--format", "png")  # default place
    default = environment / "experiments" / NAME / "report.png"
    assert code == 0 and str(default) in out and default.read_bytes().startswith(b"\x89PNG")
    code, out = run_cli(capsys, "ab", "report", NAME)  # Markdown to the terminal
    assert code == 0 and out.startswith(f"# Experiment {NAME}: not enough data yet")


# -- the life of an experiment -----------------------------------------------------------------
def test_create_status_weights_stop_through_the_cli(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "ab", "create", "--config", str(EXAMPLE))
    assert code == 0, out
    size = sample_size_msprt(0.10, 0.13, tau=0.03)  # the always-valid test decides
    assert f"plan: {size} callers per arm" in out
    assert "experiment tuned-vs-base is running" in out
    code, out = run_cli(capsys, "ab", "status")
    assert code == 0
    assert "tuned-vs-base" in out and "running" in out and f"0 % of {size}" in out
    assert "base (1), tuned (1)" in out
    code, out = run_cli(capsys, "ab", "weights", "tuned-vs-base", "tuned=3")
    assert code == 0
    assert "weights base=1, tuned=3 from now on (weight setting 1" in out
    assert "In expectation 25.0 % of callers get another arm" in out
    code, out = run_cli(capsys, "ab", "status", "tuned-vs-base")
    assert "base (1), tuned (3)" in out
    code, out = run_cli(capsys, "ab", "stop", "tuned-vs-base")
    assert code == 0 and "experiment tuned-vs-base is stopped" in out
    code, out = run_cli(capsys, "ab", "status")
    assert "stopped" in out


def test_weights_change_says_how_many_returning_callers_move(
        tmp_path: Path, environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = seed(environment, experiment_file(tmp_path), callers=120, forced=0)
    moving = sum(assign_arm(NAME, {"A": 1, "B": 1}, k) != assign_arm(NAME, {"A": 1, "B": 4}, k)
                 for k in planted.keys)
    assert moving > 0
    code, out = run_cli(capsys, "ab", "weights", NAME, "B=4")
    assert code == 0
    assert (f"of the {len(planted.keys)} returning callers seen so far, {moving} would"
            in out)
    assert "In expectation 30.0 % of callers" in out  # B: 1/2 -> 4/5


@pytest.mark.parametrize(("argv", "message"), [
    (["ab", "report", "nope"], "no experiment 'nope' (salesvoice ab status lists them)"),
    (["ab", "status", "nope"], "no experiment 'nope'"),
    (["ab", "stop", "nope"], "no experiment 'nope'"),
    (["ab", "weights", "nope", "A=1"], "no experiment 'nope'"),
    (["ab", "weights", NAME, "C=1"], "unknown arm 'C' of experiment 'pitch'; its arms: A, B"),
    (["ab", "weights", NAME, "A=0", "B=0"], "must sum to a positive number"),
    (["ab", "weights", NAME, "A=-1"], "finite numbers >= 0"),
    (["ab", "weights", NAME, "A:1"], "weight 'A:1': write ARM=NUMBER"),
    (["ab", "weights", NAME, "A=lots"], "weight 'A=lots': write ARM=NUMBER"),
])
def test_bad_input_is_a_clear_error(argv: list[str], message: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "ab", "create", "--config", str(experiment_file(tmp_path)))[0] == 0
    code, out = run_cli(capsys, *argv)
    assert code == 2
    assert message in " ".join(out.split())


def test_a_used_name_a_second_running_experiment_and_a_bad_file_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = experiment_file(tmp_path)
    assert run_cli(capsys, "ab", "create", "--config", str(path))[0] == 0
    code, out = run_cli(capsys, "ab", "create", "--config", str(path))
    assert code == 2 and "an experiment named 'pitch' already exists" in out
    other = experiment_file(tmp_path, EXPERIMENT.replace(f'"{NAME}"', '"other"', 1), "o.toml")
    code, out = run_cli(capsys, "ab", "create", "--config", str(other))
    assert code == 2 and "experiment 'pitch' is running; stop it first" in " ".join(out.split())
    assert run_cli(capsys, "ab", "stop", NAME)[0] == 0
    code, out = run_cli(capsys, "ab", "stop", NAME)
    assert code == 2 and "already stopped" in out
    assert run_cli(capsys, "ab", "create", "--config", str(other))[0] == 0
    bad = experiment_file(tmp_path, "colour = 'red'\n" + EXPERIMENT, "bad.toml")
    code, out = run_cli(capsys, "ab", "create", "--config", str(bad))
    assert code == 2 and "colour: unknown key" in out
    missing = experiment_file(tmp_path, EXPERIMENT.replace(
        'program = "insurance-default"', 'program = "no-such-program"', 1), "m.toml")
    code, out = run_cli(capsys, "ab", "create", "--config", str(missing))
    assert code == 2 and "arm 'A': agent program 'no-such-program' not found" in out


# -- weight changes ----------------------------------------------------------------------------
def test_weights_parse_arm_equals_number() -> None:
    assert parse_weights(["A=1", "B=2.5"]) == {"A": 1.0, "B": 2.5}


# -- the example and the offline run -----------------------------------------------------------
def test_the_example_experiment_loads_and_its_programs_exist() -> None:
    from agent.program import load_program_set

    exp = load_experiment(EXAMPLE)
    assert exp.control in exp.weights and len(exp.arms) == 2
    for arm in exp.arms:
        load_program_set(arm.program)


def test_simulate_runs_the_arms_through_evaluate_and_sizes_the_live_test(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "ab", "simulate", "--config", str(EXAMPLE), "--personas",
                        "8", "--agent", "rule", "--out", str(tmp_path / "run"))
    assert code == 0, out
    text = " ".join(out.split())
    assert "tuned vs base on simulated callers: +0.0 points of success" in text
    assert "8 personas" in text
    assert "The interval includes 0" in text
    assert "No difference at all: no live sample size would detect it" in text
    assert "the rule agent uses no LLM" in text
    assert "no later outcomes (policy_bought)" in text
    assert len((tmp_path / "run" / "dialogues.jsonl").read_text().splitlines()) == 16


def test_a_simulated_effect_is_sized_at_the_plans_baseline_and_alpha(tmp_path: Path) -> None:
    from agent.program import load_program
    from simulator.evaluate import evaluate
    from simulator.evaluate_bench import World, planted_program
    from simulator.users import load_world

    three = EXPERIMENT.replace('in_call = ["accepted"]\n', "") + (
        '[[arms]]\nname = "C"\nprogram = "insurance-default"\n')
    exp = load_experiment(experiment_file(tmp_path, three))
    config = evaluate_config(exp, personas=5, seed=1, agent="rule", out=None)
    assert list(config.arms) == ["A", "B", "C"] and config.baseline == "A"
    assert config.batch(Path("/tmp/d")).user.kind == "programmatic"
    # The planted world's own strategy against the hand-written table: a real difference.
    world = load_world()
    base = load_program("insurance-default")
    fast = World(world.model_copy(update={"wording": "plain"}), "lexicon")
    dialogues = asyncio.run(fast.dialogues(
        {"A": base, "B": planted_program(world, base), "C": base}, personas=120, seed=4))
    ev = evaluate(dialogues, baseline="A", n_boot=200)
    found = effects(exp, ev)
    assert [e.arm for e in found] == ["B", "C"]
    b = found[0]
    assert b.metric == "success" and b.delta == ev.arm("B").vs_baseline["success"]
    assert b.delta.value != 0
    # Live: the simulated difference from the plan's 10 %, at alpha / 2 (two comparisons).
    n = sample_size_msprt(0.1, 0.1 + b.delta.value, alpha=0.025, power=0.8, tau=exp.plan.mde)
    fixed = NormalIndPower().solve_power(proportion_effectsize(0.1 + b.delta.value, 0.1),
                                         alpha=0.025, power=0.8, ratio=1)
    assert b.live_units_per_arm == n > math.ceil(fixed)
    assert found[1].live_units_per_arm is None  # identical arms: identical calls
    said = " ".join(describe(exp, found))
    assert f"that difference needs {n} callers per arm" in said
    assert "C vs A on simulated callers: +0.0 points" in said
