"""agent.ab_analysis on synthetic units with known counts: the report's numbers against
statsmodels/scipy, the verdict rules, the daily looks, SRM per epoch, exclusions and
guardrail breaches."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy.stats import chisquare
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from agent.ab_analysis import (
    GUARDRAILS,
    NO_DIFFERENCE,
    NOT_ENOUGH,
    Epoch,
    Unit,
    UnitsData,
    analyze,
)
from agent.ab_stats import msprt_pvalues, power_msprt, prob_beats, sample_size_msprt
from server.experiments import Experiment

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def spec(arms: tuple[str, ...] = ("A", "B"), **plan: Any) -> dict[str, Any]:
    return {"name": "greeting", "control": arms[0],
            "arms": [{"name": a, "weight": 1.0} for a in arms],
            "plan": {"baseline": 0.1, "mde": 0.03, "alpha": 0.05, "power": 0.8, **plan},
            "guardrails": list(GUARDRAILS)}


def units(arm: str, n: int, conversions: int, *, days: float = 1.0, start: datetime = T0,
          epoch: int = 0, convert_after: timedelta = HOUR, **fields: Any) -> list[Unit]:
    """n units of one arm arriving evenly over ``days``; exactly ``conversions`` of them,
    spread evenly, convert ``convert_after`` their first call."""
    out = []
    for i in range(n):
        at = start + timedelta(days=days * i / n)
        converts = (i + 1) * conversions // n != i * conversions // n
        out.append(Unit(key=f"caller:{arm}{epoch}-{i}", arm=arm, first_at=at, epoch=epoch,
                        converted_at=at + convert_after if converts else None, **fields))
    return out


def data(*groups: list[Unit], epochs: list[Epoch] | None = None, **counts: int) -> UnitsData:
    return UnitsData([u for g in groups for u in g],
                     epochs or [Epoch(0, {"A": 1.0, "B": 1.0}, T0)], **counts)


def test_report_numbers_equal_statsmodels_and_scipy_to_1e_6() -> None:
    d = data(units("A", 812, 97, days=5), units("B", 790, 120, days=5))
    out = analyze(spec(), d, now=T0 + timedelta(days=6)).to_json()
    json.dumps(out, allow_nan=False)
    for arm, (k, n) in zip(out["arms"], [(97, 812), (120, 790)], strict=True):
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (arm["units"], arm["conversions"]) == (n, k)
        assert (arm["rate"], arm["low"], arm["high"]) == pytest.approx((k / n, low, high),
                                                                       abs=1e-6)
    (cmp,) = out["comparisons"]
    low, high = confint_proportions_2indep(120, 790, 97, 812, method="newcomb", compare="diff")
    _, p = proportions_ztest([120, 97], [790, 812])
    assert (cmp["arm"], cmp["vs"]) == ("B", "A")
    assert (cmp["diff"], cmp["low"], cmp["high"], cmp["p_fixed"]) == pytest.approx(
        (120 / 790 - 97 / 812, low, high, p), abs=1e-6)
    looks = [(c[0], u[0], c[1], u[1]) for c, u in
             ((look["conversions"], look["units"]) for look in out["looks"])]
    assert cmp["p_always_valid"] == pytest.approx(msprt_pvalues(looks, tau=0.03)[-1], abs=1e-12)
    assert cmp["prob_beats"] == pytest.approx(prob_beats(97, 812, 120, 790), abs=1e-12)
    h = proportion_effectsize(0.13, 0.10)
    plan = out["plan"]
    # Planned for the test that decides (the mSPRT); the z-test's size is shown beside it.
    assert plan["units_per_arm_fixed"] == math.ceil(
        NormalIndPower().solve_power(h, alpha=0.05, power=0.8, ratio=1))
    assert plan["units_per_arm"] == sample_size_msprt(0.10, 0.13, alpha=0.05, power=0.8,
                                                      tau=0.03) == 3433
    assert plan["power_now"] == pytest.approx(power_msprt(0.10, 0.13, 790, tau=0.03),
                                              abs=1e-12)
    assert plan["progress"] == pytest.approx(790 / plan["units_per_arm"])
    (s,) = out["srm"]
    ref = chisquare([812, 790])
    assert (s["epoch"], s["counts"], s["expected"]) == (0, [812, 790], [801.0, 801.0])
    assert (s["chi2"], s["p"]) == pytest.approx((ref.statistic, ref.pvalue), abs=1e-6)


def test_looks_are_the_ends_of_utc_days_since_the_start_plus_now() -> None:
    # 40 units a day for 3 days; conversions become known 20 hours after the call, so
    # some of a day's conversions only count at the next look.
    a = units("A", 120, 30, days=3, convert_after=20 * HOUR)
    b = units("B", 120, 60, days=3, convert_after=20 * HOUR)
    now = T0 + timedelta(days=3, hours=2)
    out = analyze(spec(), data(a, b), now=now).to_json()
    assert [look["day"] for look in out["looks"]] == [
        "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]
    for look, end in zip(out["looks"], [T0.replace(hour=0) + timedelta(days=d)
                                        for d in (1, 2, 3)], strict=False):
        for i, arm in enumerate((a, b)):
            assert look["units"][i] == sum(u.first_at <= end for u in arm)
            assert look["conversions"][i] == sum(u.converted_at is not None
                                                  and u.converted_at <= end for u in arm)
    assert out["looks"][-1]["units"] == [120, 120]
    assert out["looks"][-1]["conversions"] == [30, 60]
    looks = [(x["conversions"][0], x["units"][0], x["conversions"][1], x["units"][1])
             for x in out["looks"]]
    assert [x["p_always_valid"] for x in out["looks"]] == pytest.approx(
        msprt_pvalues(looks, tau=0.03), abs=1e-12)
    assert out["generated_at"] == now.isoformat()


def test_not_enough_data_yet_before_the_planned_size_or_the_boundary() -> None:
    out = analyze(spec(), data(units("A", 100, 10), units("B", 100, 12)),
                  now=T0 + 2 * HOUR * 12).to_json()
    assert (out["verdict"], out["decided_by"]) == (NOT_ENOUGH, None)
    assert out["verdict"] == "not enough data yet"
    assert out["comparisons"][0]["significant"] is False
    assert out["plan"]["progress"] == pytest.approx(100 / 3433)
    assert out["status"] == "running"


def test_a_clear_winner_before_the_planned_size_is_decided_by_the_sequential_boundary() -> None:
    now = T0 + timedelta(days=4)
    out = analyze(spec(), data(units("A", 300, 30, days=3), units("B", 300, 75, days=3)),
                  now=now).to_json()
    assert (out["verdict"], out["decided_by"]) == ("B beats A", "sequential")
    assert out["comparisons"][0]["significant"] is True
    assert out["comparisons"][0]["p_always_valid"] < 0.05
    assert out["plan"]["progress"] < 1
    worse = analyze(spec(), data(units("A", 300, 75, days=3), units("B", 300, 30, days=3)),
                    now=now).to_json()
    assert (worse["verdict"], worse["decided_by"]) == ("A beats B", "sequential")


def test_no_difference_shown_once_every_arm_reached_the_planned_size() -> None:
    d = data(units("A", 3500, 350, days=20), units("B", 3500, 357, days=20))
    out = analyze(spec(), d, now=T0 + timedelta(days=21)).to_json()
    assert (out["verdict"], out["decided_by"]) == (NO_DIFFERENCE, "planned sample size")
    assert out["plan"]["progress"] == 1.0
    assert out["plan"]["power_now"] > 0.8
    short = analyze(spec(), data(units("A", 3500, 350), units("B", 3400, 340)),
                    now=T0 + timedelta(days=2)).to_json()
    assert short["verdict"] == NOT_ENOUGH  # one arm short of 3433
    # The fixed-horizon size is not where the always-valid test has its power.
    fixed = analyze(spec(), data(units("A", 1800, 180, days=10),
                                 units("B", 1800, 186, days=10)),
                    now=T0 + timedelta(days=11)).to_json()
    assert fixed["verdict"] == NOT_ENOUGH
    assert fixed["plan"]["units_per_arm_fixed"] == 1769 < 1800
    assert fixed["plan"]["power_now"] < 0.5


def test_a_planned_size_in_the_spec_overrides_the_computed_one() -> None:
    out = analyze(spec(units_per_arm=500), data(units("A", 500, 50), units("B", 520, 52)),
                  now=T0 + timedelta(days=2)).to_json()
    assert out["plan"]["units_per_arm"] == 500
    assert out["plan"]["units_per_arm_fixed"] == 1769
    assert (out["verdict"], out["decided_by"]) == (NO_DIFFERENCE, "planned sample size")


def test_three_arms_are_each_compared_with_control_at_a_bonferroni_level() -> None:
    n = 2000
    # B's always-valid p lands between alpha/2 and alpha: significant alone, not among two.
    k_b = next(k for k in range(200, 400)
               if 0.025 < msprt_pvalues([(200, n, k, n)], tau=0.03)[0] < 0.05)
    d = data(units("A", n, 200), units("B", n, k_b), units("C", n, 320),
             epochs=[Epoch(0, {"A": 1.0, "B": 1.0, "C": 1.0}, T0)])
    out = analyze(spec(("A", "B", "C")), d, now=T0 + 2 * HOUR * 12).to_json()
    by_arm = {c["arm"]: c for c in out["comparisons"]}
    assert set(by_arm) == {"B", "C"} and {c["vs"] for c in by_arm.values()} == {"A"}
    assert 0.025 < by_arm["B"]["p_always_valid"] < 0.05
    assert by_arm["B"]["significant"] is False
    assert by_arm["C"]["significant"] is True
    assert (out["verdict"], out["decided_by"]) == ("C beats A", "sequential")
    h = proportion_effectsize(0.13, 0.10)
    assert out["plan"]["units_per_arm_fixed"] == math.ceil(
        NormalIndPower().solve_power(h, alpha=0.025, power=0.8, ratio=1))
    assert out["plan"]["units_per_arm"] == sample_size_msprt(0.10, 0.13, alpha=0.025,
                                                             tau=0.03) == 3867
    # The look's p is the family's: the smallest comparison p times the number of them.
    assert out["looks"][-1]["p_always_valid"] == pytest.approx(
        min(1.0, 2 * by_arm["C"]["p_always_valid"]))


def test_excluded_counts_are_reported_as_given() -> None:
    d = data(units("A", 10, 1), units("B", 10, 1), excluded_forced=3, crossovers=2,
             no_caller_id=7)
    out = analyze(spec(), d, now=T0 + HOUR * 30).to_json()
    assert out["excluded"] == {"forced": 3, "crossovers": 2, "no_caller_id_units": 7}


def test_srm_is_checked_per_epoch_against_that_epochs_weights() -> None:
    epochs = [Epoch(0, {"A": 1.0, "B": 1.0}, T0),
              Epoch(1, {"A": 1.0, "B": 1.0}, T0 + timedelta(days=2)),
              Epoch(2, {"A": 1.0, "B": 3.0}, T0 + timedelta(days=4))]
    d = data(units("A", 5000, 500), units("B", 5000, 500),
             units("A", 5200, 520, start=epochs[1].since, epoch=1),
             units("B", 4800, 480, start=epochs[1].since, epoch=1),
             units("A", 2500, 250, start=epochs[2].since, epoch=2),
             units("B", 7500, 750, start=epochs[2].since, epoch=2), epochs=epochs)
    out = analyze(spec(), d, now=T0 + timedelta(days=6)).to_json()
    assert [s["epoch"] for s in out["srm"]] == [0, 1, 2]
    assert [s["flagged"] for s in out["srm"]] == [False, True, False]
    assert out["srm"][1]["counts"] == [5200, 4800]
    assert out["srm"][1]["chi2"] == pytest.approx(16.0)
    assert out["srm"][2]["expected"] == [2500.0, 7500.0]
    assert [a["weight"] for a in out["arms"]] == [1.0, 3.0]  # the current epoch's


def test_a_guardrail_is_breached_only_when_treatment_is_surely_worse() -> None:
    a = (units("A", 500, 50, opted_out=False, call_seconds=[60.0], turns=10,
               compliance_hits=2, v2v=[0.8, 1.0])
         + units("A", 500, 50, start=T0 + HOUR, opted_out=True, call_seconds=[70.0], turns=10,
                 compliance_hits=1, v2v=[0.9, 1.1])[:20])
    b = (units("B", 440, 44, opted_out=False, call_seconds=[90.0], turns=10,
               compliance_hits=0, v2v=[1.5, 1.7])
         + units("B", 500, 50, start=T0 + HOUR, opted_out=True, call_seconds=[100.0],
                 turns=10, compliance_hits=0, v2v=[1.6, 2.0])[:80])
    out = analyze(spec(), data(a, b), now=T0 + timedelta(days=2)).to_json()
    arm_a = out["arms"][0]["guardrails"]
    assert arm_a["opt_out_rate"]["value"] == pytest.approx(20 / 520)
    assert arm_a["call_seconds"]["value"] == pytest.approx((500 * 60 + 20 * 70) / 520)
    assert arm_a["voice_to_voice_p95_s"]["value"] == pytest.approx(
        np.percentile([x for u in a for x in u.v2v], 95))
    assert arm_a["voice_to_voice_p95_s"]["low"] is None
    g = out["comparisons"][0]["guardrails"]
    assert set(g) == set(GUARDRAILS)
    assert g["opt_out_rate"]["breached"] is True  # 15.4 % vs 3.8 %
    assert g["opt_out_rate"]["diff"] == pytest.approx(80 / 520 - 20 / 520)
    assert g["call_seconds"]["breached"] is True  # 30 s longer
    assert g["compliance_hits_per_turn"]["breached"] is False  # fewer hits: better
    assert g["compliance_hits_per_turn"]["high"] < 0
    assert g["complaint_rate"]["breached"] is False
    assert g["voice_to_voice_p50_s"]["diff"] > 0
    assert g["voice_to_voice_p50_s"]["breached"] is False  # percentiles: report only
    assert g["turns_per_call"]["breached"] is False  # equal


def test_the_pydantic_experiment_and_a_stored_record_shape_are_accepted() -> None:
    exp = Experiment.model_validate({
        "name": "greeting", "control": "A",
        "arms": [{"name": "A", "program": "default"}, {"name": "B", "program": "warm"}],
        "plan": {"baseline": 0.1, "mde": 0.03}, "guardrails": ["opt_out_rate"]})
    d = data(units("A", 300, 30, days=3), units("B", 300, 75, days=3))
    now = T0 + timedelta(days=4)
    from_dict = analyze(spec(), d, now=now).to_json()
    from_model = analyze(exp, d, now=now, status="stopped").to_json()
    assert from_model["status"] == "stopped"
    assert from_model["comparisons"][0]["p_always_valid"] == from_dict["comparisons"][0][
        "p_always_valid"]
    assert set(from_model["arms"][0]["guardrails"]) == {"opt_out_rate"}
    record = {"name": "greeting", "spec": exp.model_dump(), "status": "stopped",
              "started_at": T0 - timedelta(days=1)}
    from_record = analyze(record, d, now=now).to_json()
    assert from_record["status"] == "stopped"
    assert from_record["looks"][0]["day"] == "2026-11-30"  # started the day before


def test_an_empty_arm_gives_nulls_not_errors() -> None:
    out = analyze(spec(), data(units("A", 50, 5)), now=T0 + HOUR * 30).to_json()
    json.dumps(out, allow_nan=False)
    b = out["arms"][1]
    assert (b["units"], b["rate"], b["low"], b["high"]) == (0, None, None, None)
    cmp = out["comparisons"][0]
    assert (cmp["diff"], cmp["p_fixed"], cmp["p_always_valid"]) == (None, None, 1.0)
    assert cmp["guardrails"]["opt_out_rate"]["breached"] is False
    assert out["verdict"] == NOT_ENOUGH


def test_bad_input_is_refused_with_a_message_naming_it() -> None:
    with pytest.raises(ValueError, match="arm 'Z'"):
        analyze(spec(), data(units("Z", 3, 0)), now=T0 + HOUR)
    with pytest.raises(ValueError, match="naive"):
        analyze(spec(), data(units("A", 3, 0)), now=datetime(2026, 12, 2))
    with pytest.raises(ValueError, match=r"epochs \[5\]"):
        analyze(spec(), data(units("A", 3, 0, epoch=5)), now=T0 + HOUR)
    with pytest.raises(ValueError, match="guardrail 'speed'"):
        analyze({**spec(), "guardrails": ["speed"]}, data(), now=T0 + HOUR)
    with pytest.raises(ValueError, match="control arm 'X'"):
        analyze({**spec(), "control": "X"}, data(), now=T0 + HOUR)
