"""Experiments as data (the model and its TOML file) and arm assignment by weighted
rendezvous hashing: shares, determinism, stability when weights change."""

from __future__ import annotations

import functools
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from scipy.stats import chisquare

from models.errors import ConfigError
from server.experiments import (
    Experiment,
    ExperimentError,
    UnknownArmError,
    assign_arm,
    assign_call,
    load_experiment,
    moved_share,
    unit_key,
)

REPO = Path(__file__).resolve().parents[2]
N = 100_000
KEYS = [f"caller:+1555{i:07d}" for i in range(N)]

TOML = """\
name = "pitch-2026-01"
description = "Early pivot to dental vs the default program"
control = "A"
guardrails = ["opt_out_rate", "voice_to_voice_p95_s"]

[[arms]]
name = "A"
program = "insurance-default"

[[arms]]
name = "B"
program = "programs/early-pivot.json"
weight = 3
llm = {llamacpp = {lora = "loras/pitch.gguf"}}

[conversion]
in_call = ["accepted"]
outcomes = ["policy_bought"]
require = "all"
window_days = 14

[plan]
baseline = 0.1
mde = 0.03
"""


def spec(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "exp", "control": "A",
        "arms": [{"name": "A", "program": "insurance-default"},
                 {"name": "B", "program": "insurance-default"}],
        "plan": {"baseline": 0.1, "mde": 0.03}}
    return {**base, **over}


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        Experiment.model_validate(data)
    return str(info.value)


def shares(weights: dict[str, float], name: str = "exp") -> list[str]:
    return list(_shares(tuple(weights.items()), name))


@functools.cache
def _shares(weights: tuple[tuple[str, float], ...], name: str) -> tuple[str, ...]:
    # Cached: several tests start from the same split (0.2 s per 100k keys and arm).
    return tuple(assign_arm(name, dict(weights), k) for k in KEYS)


def within(observed: int, p: float, n: int = N) -> bool:
    """``observed`` successes of ``n`` are within 4 standard errors of ``n * p``."""
    return abs(observed - n * p) < 4 * math.sqrt(n * p * (1 - p))


# -- the experiment model ----------------------------------------------------------------


def test_an_experiment_file_loads_with_its_arms_conversion_and_plan(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(TOML)
    exp = load_experiment(path)
    assert exp.name == "pitch-2026-01" and exp.control == "A"
    assert exp.weights == {"A": 1.0, "B": 3.0}
    assert exp.arm("B").llm == {"llamacpp": {"lora": "loras/pitch.gguf"}}
    assert exp.arm("A").llm is None and exp.arm("A").tts is None
    assert [o.value for o in exp.conversion.in_call] == ["accepted"]
    assert exp.conversion.outcomes == ["policy_bought"] and exp.conversion.require == "all"
    assert exp.conversion.window_days == 14
    assert (exp.plan.alpha, exp.plan.power, exp.plan.units_per_arm) == (0.05, 0.8, None)
    assert exp.guardrails == ["opt_out_rate", "voice_to_voice_p95_s"]
    # The spec survives the JSON round trip the store makes.
    assert Experiment.model_validate(exp.model_dump(mode="json")) == exp


def test_defaults_count_accepted_and_explicit_intent_and_watch_every_guardrail() -> None:
    exp = Experiment.model_validate(spec())
    assert [o.value for o in exp.conversion.in_call] == ["accepted", "explicit_intent"]
    assert exp.conversion.outcomes == [] and exp.conversion.require == "any"
    assert len(exp.guardrails) == 7 and "complaint_rate" in exp.guardrails


def test_unknown_keys_are_errors_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(TOML.replace('weight = 3\n', 'weight = 3\nwieght = 2\n')
                    .replace("[plan]\n", "[plan]\nsamples = 10\n"))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    message = str(info.value)
    assert str(path) in message
    assert "arms.1.wieght: unknown key" in message and "plan.samples: unknown key" in message


def test_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_experiment(bad)


@pytest.mark.parametrize(("weights", "expected"), [
    ([0.0, 0.0], "must sum to a positive number (A=0, B=0)"),
    ([-1.0, 2.0], "Input should be greater than or equal to 0"),
    ([math.inf, 1.0], "finite number"),
    ([math.nan, 1.0], "finite number"),
])
def test_weights_must_be_finite_non_negative_and_sum_to_more_than_zero(
        weights: list[float], expected: str) -> None:
    arms = [{"name": n, "program": "p", "weight": w} for n, w in zip("AB", weights, strict=True)]
    assert expected in error_of(spec(arms=arms))


def test_an_arm_of_weight_zero_is_allowed_and_takes_no_callers() -> None:
    arms = [{"name": "A", "program": "p"}, {"name": "B", "program": "p"},
            {"name": "off", "program": "p", "weight": 0}]
    exp = Experiment.model_validate(spec(arms=arms))
    assert "off" not in {assign_arm(exp.name, exp.weights, k) for k in KEYS[:2000]}


def test_control_must_be_an_arm_and_arm_names_unique_and_at_least_two() -> None:
    assert "control 'C' is not an arm (A, B)" in error_of(spec(control="C"))
    twice = [{"name": "A", "program": "p"}, {"name": "A", "program": "q"}]
    assert "arm names must be unique: A given twice" in error_of(spec(arms=twice))
    assert "at least 2 items" in error_of(spec(arms=[{"name": "A", "program": "p"}]))


def test_names_are_slugs() -> None:
    assert "'Pitch Test' is not a valid name" in error_of(spec(name="Pitch Test"))
    assert "is not a valid name" in error_of(spec(name="x" * 65))
    assert "'-A' is not a valid arm name" in error_of(
        spec(arms=[{"name": "-A", "program": "p"}, {"name": "B", "program": "p"}]))
    assert "is not a valid name" in error_of(spec(conversion={"outcomes": ["Policy Bought"]}))
    Experiment.model_validate(spec(name="pitch_2026.v2-b"))  # every allowed character


def test_conversion_needs_a_source_and_all_needs_both() -> None:
    assert "needs in_call outcomes, later outcomes, or both" in error_of(
        spec(conversion={"in_call": []}))
    assert 'require = "all" needs both' in error_of(
        spec(conversion={"require": "all", "outcomes": []}))
    assert "Input should be 'accepted'" in error_of(spec(conversion={"in_call": ["sold"]}))
    assert "unknown guardrail(s) 'latency'" in error_of(spec(guardrails=["latency"]))


def test_the_plan_must_describe_a_reachable_rate() -> None:
    assert "baseline + mde must stay below 1" in error_of(
        spec(plan={"baseline": 0.9, "mde": 0.2}))
    assert "plan\n  Field required" in error_of({k: v for k, v in spec().items() if k != "plan"})


# -- assignment --------------------------------------------------------------------------


def test_shares_match_the_weights_over_100k_callers() -> None:
    weights = {"A": 1.0, "B": 2.0, "C": 0.5, "off": 0.0}
    counts = Counter(shares(weights))
    assert "off" not in counts
    total = sum(weights.values())
    names = ["A", "B", "C"]
    for name in names:
        assert within(counts[name], weights[name] / total), (name, counts)
    # sha256 is fixed, so this p-value is too: not flaky, only a check of the split.
    observed = [counts[n] for n in names]
    assert chisquare(observed, [N * weights[n] / total for n in names]).pvalue > 0.001, counts


def test_assignment_is_pinned_and_depends_on_the_experiment() -> None:
    # Recorded once: a change to the hashing would move every running experiment's callers.
    weights = {"A": 1.0, "B": 1.0}
    got = [assign_arm("exp", weights, k) for k in KEYS[:8]]
    assert got == PINNED, got
    other = shares(weights, name="another-exp")[:2000]
    same = sum(a == b for a, b in zip(shares(weights)[:2000], other, strict=True))
    assert within(same, 0.5, 2000), same  # independent across experiments


PINNED = ["B", "B", "B", "B", "A", "A", "B", "B"]


def test_config_order_does_not_matter() -> None:
    weights = {"A": 1.0, "B": 2.0, "C": 0.5}
    reordered = dict(reversed(list(weights.items())))
    assert shares(weights) == shares(reordered)


def test_assignment_is_the_same_in_another_process() -> None:
    keys = KEYS[:200]
    weights = {"A": 1.0, "B": 1.0, "C": 2.0}
    script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from server.experiments import assign_arm\n"
        f"print([assign_arm('exp', {weights!r}, k) for k in {keys!r}])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # hash() would differ; sha256 must not
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([assign_arm("exp", weights, k) for k in keys])


@pytest.mark.parametrize("new_c", [3.0, 1.0, 0.0])
def test_changing_one_weight_moves_callers_only_into_or_out_of_that_arm(new_c: float) -> None:
    before = shares({"A": 1.0, "B": 1.0, "C": 2.0})
    after = shares({"A": 1.0, "B": 1.0, "C": new_c})
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    if new_c > 2:
        assert all(a == "C" for _, a in moved)  # only into C
    else:
        assert all(b == "C" for b, _ in moved)  # only out of C
    share_before, share_after = 2 / 4, new_c / (2 + new_c)
    assert within(len(moved), abs(share_after - share_before)), len(moved)


@pytest.mark.parametrize("new_b", [3.0, 1 / 3, 1.5])
def test_with_two_arms_the_share_moved_is_the_change_in_share(new_b: float) -> None:
    before = shares({"A": 1.0, "B": 1.0})
    after = shares({"A": 1.0, "B": new_b})
    moved = sum(b != a for b, a in zip(before, after, strict=True))
    # The least any assignment could move: the change in B's count, exactly.
    assert moved == abs(after.count("B") - before.count("B"))
    assert within(moved, abs(new_b / (1 + new_b) - 0.5)), moved


def test_moved_share_is_exact_for_two_arms_and_matches_the_hash_for_three() -> None:
    assert moved_share({"A": 1, "B": 1}, {"A": 1, "B": 3}) == pytest.approx(0.25)
    assert moved_share({"A": 1, "B": 1}, {"A": 1, "B": 1}) == pytest.approx(0.0)
    assert moved_share({"A": 1, "B": 1}, {"A": 1, "B": 0}) == pytest.approx(0.5)
    old, new = {"A": 1.0, "B": 1.0, "C": 2.0}, {"A": 2.0, "B": 1.0, "C": 0.5}
    keys = [f"caller:+1777{i:07d}" for i in range(20_000)]
    seen = sum(assign_arm("x", old, k) != assign_arm("x", new, k) for k in keys) / len(keys)
    expected = moved_share(old, new)
    assert seen == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected)
                                                             / len(keys)))
    # Not the total-variation distance (the least any assignment could move), which only
    # two arms reach.
    tv = sum(max(0.0, old[a] / 4 - new[a] / 3.5) for a in old)
    assert expected > tv + 0.01


def test_weights_that_cannot_split_are_refused() -> None:
    with pytest.raises(ExperimentError, match="sum to a positive number"):
        assign_arm("exp", {"A": 0.0, "B": 0.0}, "caller:1")
    with pytest.raises(ExperimentError, match="finite numbers >= 0; A is not"):
        assign_arm("exp", {"A": -1.0, "B": 1.0}, "caller:1")


def test_a_call_is_keyed_by_its_normalized_caller_id_or_else_its_call_id() -> None:
    exp = Experiment.model_validate(spec())
    one = assign_call(exp, exp.weights, "+1 (555) 010-0199", "c1")
    assert one.unit_key == "caller:+15550100199" and one.how == "assigned"
    assert assign_call(exp, exp.weights, "+15550100199", "c2").arm == one.arm
    assert one.arm == assign_arm("exp", exp.weights, "caller:+15550100199")
    anonymous = [assign_call(exp, exp.weights, caller, f"call-{i}")
                 for i, caller in enumerate([None, "  "] * 20)]
    assert {a.how for a in anonymous} == {"no_caller_id"}
    assert anonymous[0].unit_key == "call:call-0" and unit_key("  ", "x") == "call:x"
    assert {a.arm for a in anonymous} == {"A", "B"}  # randomised per call


def test_a_forced_arm_is_recorded_as_forced_and_an_unknown_one_refused() -> None:
    exp = Experiment.model_validate(spec())
    forced = assign_call(exp, {"A": 1.0, "B": 0.0}, "+15550100199", "c1", forced="B")
    assert (forced.arm, forced.how, forced.unit_key) == ("B", "forced", "caller:+15550100199")
    with pytest.raises(UnknownArmError, match="unknown arm 'C' of experiment 'exp'; its arms: "
                                              "A, B"):
        assign_call(exp, exp.weights, None, "c2", forced="C")
