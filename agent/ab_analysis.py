"""The analysis of one A/B experiment: what ``salesvoice ab report --json`` and the dashboard
show (pure: units in, an ``Analysis`` out; no store, no clock of its own).

The verdict rests on the always-valid (mSPRT) p-value alone, Bonferroni over the comparisons
with control, so looking every day does not inflate false winners. Reaching the planned
sample size without crossing that boundary ends in "no difference shown"; the fixed-horizon
p-value is shown beside it, never used to decide (adding it at the planned size would take
the A/A false-winner rate past alpha). So the planned size and the power are the mSPRT's
(``sample_size_msprt``, about twice the fixed-horizon z-test's, which the plan shows as
``units_per_arm_fixed`` for reference): at the z-test's size the test that decides would
find the planned effect well under half the time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from agent.ab_stats import SRM, msprt_plan, msprt_pvalues, prob_beats, ratio_diff, ratio_mean, srm
from agent.stats import rate, two_rates

NOT_ENOUGH = "not enough data yet"
# The watchable guardrails, by how they are measured; lower is better for every one.
_RATES = ("opt_out_rate", "complaint_rate")
_RATIOS = ("compliance_hits_per_turn", "call_seconds", "turns_per_call")
_PERCENTILES = {"voice_to_voice_p50_s": 50.0, "voice_to_voice_p95_s": 95.0}
GUARDRAILS = (*_RATES, *_RATIOS, *_PERCENTILES)
NO_DIFFERENCE = "no difference shown"
_DAY = timedelta(days=1)
_Ints = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Unit:
    """One caller (the unit of randomisation) in one arm of an experiment.

    ``converted_at`` is when its conversion became known (None: not converted);
    ``call_seconds`` has one length per finished call, ``v2v`` one voice-to-voice latency
    per agent turn that has one."""

    key: str
    arm: str
    first_at: datetime
    epoch: int
    converted_at: datetime | None = None
    opted_out: bool = False
    complained: bool = False
    calls: int = 1
    turns: int = 0
    compliance_hits: int = 0
    call_seconds: list[float] = field(default_factory=list)
    v2v: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Epoch:
    """One weight setting of an experiment, in force from ``since``."""

    epoch: int
    weights: dict[str, float]
    since: datetime


@dataclass(frozen=True, slots=True)
class UnitsData:
    """Everything ``analyze`` needs from the store (``ExperimentStore.units``): the units
    counted, the epochs, and how many forced calls, crossover calls and units without a
    caller id there were."""

    units: list[Unit]
    epochs: list[Epoch]
    excluded_forced: int = 0
    crossovers: int = 0
    no_caller_id: int = 0


class SupportsModelDump(Protocol):
    def model_dump(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Analysis:
    """The result; ``to_json`` is the shape the report and the dashboard render. A look's
    ``p_always_valid`` is the family's: the smallest comparison's times their number."""

    experiment: str
    status: str
    control: str
    verdict: str
    decided_by: str | None
    arms: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    plan: dict[str, Any]
    srm: list[dict[str, Any]]
    excluded: dict[str, int]
    looks: list[dict[str, Any]]
    generated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities become null)."""
        return {
            "experiment": self.experiment, "status": self.status, "control": self.control,
            "verdict": self.verdict, "decided_by": self.decided_by,
            "arms": _clean(self.arms), "comparisons": _clean(self.comparisons),
            "plan": _clean(self.plan), "srm": _clean(self.srm), "excluded": dict(self.excluded),
            "looks": _clean(self.looks), "generated_at": self.generated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    arms: tuple[str, ...]
    weights: dict[str, float]
    control: str
    baseline: float
    mde: float
    alpha: float
    power: float
    units_per_arm: int | None
    guardrails: tuple[str, ...]
    status: str
    started_at: datetime | None


def analyze(spec: Mapping[str, Any] | SupportsModelDump, data: UnitsData, *, now: datetime,
            status: str | None = None, tau: float | None = None) -> Analysis:
    """Analyse an experiment's units as of ``now`` (aware).

    ``spec`` is the experiment (a mapping or a pydantic model: name, arms with name and
    weight, control, plan with baseline/mde/alpha/power and optional units_per_arm,
    guardrails, optional status/started_at/created_at; or a stored record of it, with the
    experiment under "spec"); ``status`` overrides its status. Looks start at the UTC day of
    started_at, else of the first epoch.
    ``tau``, the mSPRT mixture scale, defaults to the plan's mde.
    """
    _aware(now, "now")
    sp = _parse_spec(spec)
    index = {arm: i for i, arm in enumerate(sp.arms)}
    by_arm: list[list[Unit]] = [[] for _ in sp.arms]
    for u in data.units:
        if u.arm not in index:
            raise ValueError(f"unit {u.key!r} is in arm {u.arm!r}, which experiment "
                             f"{sp.name!r} does not have (arms: {', '.join(sp.arms)})")
        _aware(u.first_at, f"unit {u.key!r} first_at")
        if u.converted_at is not None:
            _aware(u.converted_at, f"unit {u.key!r} converted_at")
        by_arm[index[u.arm]].append(u)
    epochs = sorted(data.epochs, key=lambda e: e.epoch)
    per_epoch = Counter((u.epoch, u.arm) for u in data.units)
    unknown = {e for e, _ in per_epoch} - {e.epoch for e in epochs}
    if unknown:
        raise ValueError(f"units of experiment {sp.name!r} name epochs {sorted(unknown)} "
                         "that are not among its epochs")
    weights = dict(epochs[-1].weights) if epochs else sp.weights
    treatments = [a for a in sp.arms if a != sp.control]
    m = max(1, len(treatments))
    level = sp.alpha / m
    tau = sp.mde if tau is None else tau

    cutoffs, days = _look_times(sp, data, epochs, now)
    counts = [_counts_at(units, cutoffs) for units in by_arm]  # per arm: (units, conv) arrays
    c = index[sp.control]
    totals = [(sum(u.converted_at is not None for u in units), len(units)) for units in by_arm]

    arms = [{"arm": arm, **_rate_row(*totals[i]), "weight": float(weights.get(arm, 0.0)),
             "guardrails": arm_guardrails(by_arm[i], sp.guardrails)}
            for i, arm in enumerate(sp.arms)]
    comparisons: list[dict[str, Any]] = []
    look_p = np.ones(len(cutoffs))  # the family's: smallest comparison p times m
    for arm in treatments:
        t = index[arm]
        looks = list(zip(counts[c][1].tolist(), counts[c][0].tolist(),
                         counts[t][1].tolist(), counts[t][0].tolist(), strict=True))
        p_av = msprt_pvalues(looks, tau=tau)
        look_p = np.minimum(look_p, np.asarray(p_av) * m)
        comparisons.append({
            "arm": arm, "vs": sp.control, **_diff_row(*totals[c], *totals[t]),
            "p_always_valid": p_av[-1], "prob_beats": prob_beats(*totals[c], *totals[t]),
            "significant": p_av[-1] < level,
            "guardrails": compare_guardrails(by_arm[c], by_arm[t], sp.guardrails)})

    fewest = min(n for _, n in totals)
    plan = {"baseline": sp.baseline, "mde": sp.mde, "alpha": sp.alpha, "power": sp.power,
            **msprt_plan(sp.baseline, sp.baseline + sp.mde, fewest, alpha=level,
                         power=sp.power, tau=tau, units_per_arm=sp.units_per_arm)}
    winners = [(cmp["arm"] if cmp["diff"] > 0 else sp.control,
                sp.control if cmp["diff"] > 0 else cmp["arm"])
               for cmp in comparisons if cmp["significant"]]
    if winners:
        verdict, decided_by = "; ".join(f"{w} beats {lo}" for w, lo in winners), "sequential"
    elif comparisons and fewest >= plan["units_per_arm"]:
        verdict, decided_by = NO_DIFFERENCE, "planned sample size"
    else:
        verdict, decided_by = NOT_ENOUGH, None
    return Analysis(
        experiment=sp.name, status=status or sp.status, control=sp.control, verdict=verdict,
        decided_by=decided_by, arms=arms, comparisons=comparisons, plan=plan,
        srm=[_epoch_srm(e, sp.arms, per_epoch) for e in epochs],
        excluded={"forced": data.excluded_forced, "crossovers": data.crossovers,
                  "no_caller_id_units": data.no_caller_id},
        looks=[{"day": day.isoformat(), "units": [int(a[0][j]) for a in counts],
                "conversions": [int(a[1][j]) for a in counts],
                "p_always_valid": min(1.0, float(look_p[j]))} for j, day in enumerate(days)],
        generated_at=now)


def _rate_row(k: int, n: int) -> dict[str, Any]:
    est = rate(k, n) if n else None
    return {"units": n, "conversions": k, "rate": est.value if est else None,
            "low": est.low if est else None, "high": est.high if est else None}


def _diff_row(k_c: int, n_c: int, k_t: int, n_t: int) -> dict[str, Any]:
    d = two_rates(k_c, n_c, k_t, n_t) if n_c and n_t else None
    return {"diff": d.value if d else None, "low": d.low if d else None,
            "high": d.high if d else None, "p_fixed": d.p if d else None}


def _parse_spec(spec: Mapping[str, Any] | SupportsModelDump) -> _Spec:
    raw: Mapping[str, Any] = spec if isinstance(spec, Mapping) else spec.model_dump()
    if "arms" not in raw and isinstance(raw.get("spec"), Mapping):
        raw = {**raw["spec"], **{k: v for k, v in raw.items() if k != "spec"}}  # a record
    name = str(raw.get("name", "?"))
    arms_raw = raw.get("arms") or []
    arms = tuple(str(_get(a, "name")) for a in arms_raw)
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise ValueError(f"experiment {name!r} needs at least two arms with distinct names, "
                         f"got {list(arms)}")
    control = str(raw.get("control") or arms[0])
    if control not in arms:
        raise ValueError(f"control arm {control!r} is not an arm of experiment {name!r}")
    plan = raw.get("plan") or {}
    baseline, mde = float(_get(plan, "baseline")), float(_get(plan, "mde"))
    if not (0 <= baseline and mde > 0 and baseline + mde <= 1):
        raise ValueError(f"plan of {name!r}: need 0 <= baseline, mde > 0 and baseline + mde"
                         f" <= 1, got baseline {baseline} and mde {mde}")
    guardrails = tuple(str(g) for g in raw.get("guardrails") or ())
    for g in guardrails:
        if g not in GUARDRAILS:
            raise ValueError(f"unknown guardrail {g!r} in {name!r}; known: "
                             f"{', '.join(GUARDRAILS)}")
    upa = _get(plan, "units_per_arm", None)
    started = raw.get("started_at") or raw.get("created_at")
    if isinstance(started, str):
        started = datetime.fromisoformat(started)
    return _Spec(
        name=name, arms=arms,
        weights={str(_get(a, "name")): float(_get(a, "weight", 1.0)) for a in arms_raw},
        control=control, baseline=baseline, mde=mde,
        alpha=float(_get(plan, "alpha", 0.05)), power=float(_get(plan, "power", 0.8)),
        units_per_arm=int(upa) if upa else None, guardrails=guardrails,
        status=str(raw.get("status") or "running"),
        started_at=started if isinstance(started, datetime) else None)


def _get(obj: Any, key: str, default: Any = ...) -> Any:
    value = obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)
    if value is ...:
        raise ValueError(f"experiment spec is missing {key!r}")
    return value


def _aware(t: datetime, what: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} is a naive datetime ({t.isoformat()}); pass an aware time")


def _look_times(sp: _Spec, data: UnitsData, epochs: Sequence[Epoch],
                now: datetime) -> tuple[list[float], list[date]]:
    """Cut-off times (POSIX seconds) of the looks: the end of each UTC day from the start
    before ``now``, then ``now`` itself (taking every unit, whatever its time says)."""
    candidates: Iterable[datetime] = (
        [sp.started_at] if sp.started_at else
        [epochs[0].since] if epochs else [u.first_at for u in data.units])
    start = min(candidates, default=now)
    cutoffs: list[float] = []
    days: list[date] = []
    day = start.astimezone(UTC).date()
    end = datetime.combine(day + _DAY, time(), UTC)
    while end < now:
        cutoffs.append(end.timestamp())
        days.append(day)
        day, end = day + _DAY, end + _DAY
    cutoffs.append(math.inf)
    days.append(now.astimezone(UTC).date())
    return cutoffs, days


def _counts_at(units: Sequence[Unit], cutoffs: Sequence[float]) -> tuple[_Ints, _Ints]:
    """Cumulative (units, conversions) of one arm at each cut-off."""
    first = np.sort(np.array([u.first_at.timestamp() for u in units], dtype=np.float64))
    # A conversion counts once both the unit and its conversion are known.
    conv = np.sort(np.array([max(u.first_at, u.converted_at).timestamp() for u in units
                             if u.converted_at is not None], dtype=np.float64))
    cut = np.asarray(cutoffs, dtype=np.float64)
    return (np.searchsorted(first, cut, side="right"), np.searchsorted(conv, cut, side="right"))


def arm_guardrails(units: Sequence[Unit], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each watched guardrail of one arm: {"value", "low", "high"} (95 %; None where the
    arm has no data, and for percentiles, which are reported without an interval)."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        value = low = high = None
        if name in _RATES and units:
            est = rate(sum(map(_FLAGS[name], units)), len(units))
            value, low, high = est.value, est.low, est.high
        elif name in _RATIOS:
            sums, counts = _ratio_parts(units, name)
            if any(counts):
                r = ratio_mean(sums, counts)
                value, low, high = r.value, r.low, r.high
        else:
            latencies = [x for u in units for x in u.v2v]
            if latencies:
                value = float(np.percentile(latencies, _PERCENTILES[name]))
        out[name] = {"value": value, "low": low, "high": high}
    return out


def compare_guardrails(control: Sequence[Unit], treatment: Sequence[Unit],
                       names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Treatment minus control of each watched guardrail: {"diff", "low", "high",
    "breached"}; breached when the whole 95 % interval lies above 0 (worse). Rates: Newcombe;
    ratios: delta method over units; percentiles: the difference only, never breached."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        diff = low = high = None
        if name in _RATES and control and treatment:
            d = two_rates(sum(map(_FLAGS[name], control)), len(control),
                          sum(map(_FLAGS[name], treatment)), len(treatment))
            diff, low, high = d.value, d.low, d.high
        elif name in _RATIOS:
            (s1, c1), (s2, c2) = _ratio_parts(control, name), _ratio_parts(treatment, name)
            if sum(x > 0 for x in c1) >= 2 and sum(x > 0 for x in c2) >= 2:
                d = ratio_diff(s1, c1, s2, c2)
                diff, low, high = d.value, d.low, d.high
        else:
            a, b = arm_guardrails(control, [name]), arm_guardrails(treatment, [name])
            if a[name]["value"] is not None and b[name]["value"] is not None:
                diff = b[name]["value"] - a[name]["value"]
        out[name] = {"diff": diff, "low": low, "high": high,
                     "breached": low is not None and low > 0}
    return out


_FLAGS = {"opt_out_rate": lambda u: u.opted_out, "complaint_rate": lambda u: u.complained}


def _ratio_parts(units: Sequence[Unit], name: str) -> tuple[list[float], list[float]]:
    """Per unit (numerator, denominator) of a ratio guardrail."""
    if name == "compliance_hits_per_turn":
        return [float(u.compliance_hits) for u in units], [float(u.turns) for u in units]
    if name == "call_seconds":
        return [math.fsum(u.call_seconds) for u in units], [float(len(u.call_seconds))
                                                            for u in units]
    return [float(u.turns) for u in units], [float(u.calls) for u in units]


def _epoch_srm(epoch: Epoch, arms: Sequence[str],
               per_epoch: Counter[tuple[int, str]]) -> dict[str, Any]:
    counts = [per_epoch[(epoch.epoch, a)] for a in arms]
    res: SRM = srm(counts, [float(epoch.weights.get(a, 0.0)) for a in arms])
    return {"epoch": epoch.epoch, "counts": list(res.counts), "expected": list(res.expected),
            "chi2": res.chi2, "p": res.p, "flagged": res.flagged}


def _clean(value: Any) -> Any:
    """Copy with non-finite floats as None (JSON has no NaN) and numpy scalars as Python."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
