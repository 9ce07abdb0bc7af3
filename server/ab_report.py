"""An experiment's report for people: Markdown, self-contained HTML and a PNG, all drawn
from the one Analysis JSON (``agent.ab_analysis``) that ``ab report --json`` and the
dashboard show, so no number here is computed twice.

The first line says plainly whether the experiment has decided anything yet: "not enough
data yet" until every arm reached the planned size or a comparison crossed the sequential
(always-valid) boundary.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from matplotlib.figure import Figure

from agent.stats import Estimate
from simulator.report import Image, Section, Table, pct_ci, render_html, render_markdown
from simulator.report_plots import error_bars, pct, save, text

Format = Literal["md", "html", "png", "json"]
FORMATS: tuple[Format, ...] = ("md", "html", "png", "json")
NOT_YET = "not enough data yet"

STATISTICS_NOTE = (
    "The unit is the caller (the unit of randomisation): a caller's later calls add to "
    "their one outcome. Rates carry 95 % Wilson intervals; a difference the Newcombe hybrid "
    "score interval. p (fixed) is the pooled two-proportion z-test, valid only when read "
    "once at the planned size; p (always valid) is the mixture sequential test (mSPRT), "
    "valid however often the report is read. With several arms each is compared with the "
    "control at alpha divided by the number of comparisons (Bonferroni). P(beats control) "
    "is the Bayesian probability under uniform priors: a secondary view, not a decision "
    "rule. Sample-ratio mismatch: chi-square test of each weight setting's units against "
    "its weights, flagged below p = 0.001.")


# -- numbers as text -------------------------------------------------------------------------
def _estimate(row: Mapping[str, Any], value: str = "rate") -> Estimate | None:
    if row.get(value) is None or row.get("low") is None or row.get("high") is None:
        return None
    return Estimate(float(row[value]), float(row["low"]), float(row["high"]),
                    int(row.get("units", 0)))


def _p(p: float | None) -> str:
    return "—" if p is None else f"{p:.3g}"


def _points(d: Mapping[str, Any], key: str = "diff") -> str:
    """A rate difference in points with its interval: "+2.1 pt (-1.0 to +5.0)"."""
    if d.get(key) is None:
        return "—"
    low, high = d.get("low"), d.get("high")
    within = "" if low is None or high is None else f" ({100 * low:+.1f} to {100 * high:+.1f})"
    return f"{100 * d[key]:+.1f} pt{within}"


def _is_rate(guardrail: str) -> bool:
    return guardrail.endswith("_rate")


def _guardrail_value(name: str, g: Mapping[str, Any]) -> str:
    if g.get("value") is None:
        return "—"
    if _is_rate(name):
        e = _estimate(g, "value")
        return pct_ci(e) if e is not None else pct(g["value"])
    within = ("" if g.get("low") is None or g.get("high") is None
              else f" ({g['low']:.3g} to {g['high']:.3g})")
    return f"{g['value']:.3g}{within}"


def _guardrail_diff(name: str, g: Mapping[str, Any]) -> str:
    if g.get("diff") is None:
        return "—"
    if _is_rate(name):
        return _points(g)
    within = ("" if g.get("low") is None or g.get("high") is None
              else f" ({g['low']:+.3g} to {g['high']:+.3g})")
    return f"{g['diff']:+.3g}{within}"


# -- what it says ----------------------------------------------------------------------------
def headline(a: Mapping[str, Any]) -> str:
    """The report's first line: the verdict, and why it is (not yet) one."""
    plan = a["plan"]
    verdict = str(a["verdict"])
    if verdict == NOT_YET:
        fewest = min((arm["units"] for arm in a["arms"]), default=0)
        return (f"{NOT_YET}: {fewest} of the planned {plan['units_per_arm']} callers in the "
                f"smallest arm ({100 * plan['progress']:.0f} %), and no comparison has crossed "
                "the sequential boundary.")
    how = {"sequential": "by the always-valid sequential test",
           "planned sample size": "at the planned sample size"}.get(
        str(a.get("decided_by")), "")
    return f"{verdict}" + (f" ({how})." if how else ".")


def _verdict_lines(a: Mapping[str, Any]) -> list[str]:
    lines = [headline(a)]
    for c in a["comparisons"]:
        holds = "significant" if c.get("significant") else "not significant"
        lines.append(
            f"{c['arm']} minus {c['vs']}: {_points(c)}; always-valid p = "
            f"{_p(c.get('p_always_valid'))} ({holds}); P({c['arm']} beats {c['vs']}) = "
            f"{_p(c.get('prob_beats'))}.")
    breaches = [f"{c['arm']}: {name}" for c in a["comparisons"]
                for name, g in c.get("guardrails", {}).items() if g.get("breached")]
    if breaches:
        lines.append("Guardrail breached (worse than the control, interval above 0): "
                     + ", ".join(breaches) + ".")
    flagged = [str(s["epoch"]) for s in a.get("srm", []) if s.get("flagged")]
    if flagged:
        lines.append(f"Sample-ratio mismatch in weight setting {', '.join(flagged)}: the "
                     "arms did not get the callers their weights promise; find out why "
                     "before trusting any difference.")
    if a.get("status") == "stopped":
        lines.append("The experiment is stopped: no new callers are assigned.")
    return lines


def sections(a: Mapping[str, Any], plot: str | None = None) -> list[Section]:
    """The report's sections; ``plot`` is the image's file name or data URI."""
    arms = a["arms"]
    per_arm = Table(("arm", "weight", "callers", "conversions", "conversion (95 % Wilson)"),
                    tuple((arm["arm"] + (" (control)" if arm["arm"] == a["control"] else ""),
                           f"{arm.get('weight', 0):g}", str(arm["units"]),
                           str(arm["conversions"]), pct_ci(_estimate(arm)))
                          for arm in arms))
    comparisons = Table(
        ("arm", "vs", "difference (95 %)", "p (fixed)", "p (always valid)", "P(beats)",
         "significant"),
        tuple((c["arm"], c["vs"], _points(c), _p(c.get("p_fixed")),
               _p(c.get("p_always_valid")), _p(c.get("prob_beats")),
               "yes" if c.get("significant") else "no") for c in a["comparisons"]))
    out = [
        Section("Verdict", tuple(_verdict_lines(a))),
        Section("Conversion per arm", (per_arm, *((Image(plot, "conversion per arm and "
                                                         "always-valid p over looks"),)
                                                  if plot else ()))),
        Section(f"Comparisons with the control ({a['control']})", (comparisons,)),
        _guardrail_section(a),
        _plan_section(a["plan"]),
        _srm_section(a.get("srm", [])),
        _exclusion_section(a.get("excluded", {})),
        _looks_section(a),
        Section("Statistics", (STATISTICS_NOTE, f"generated {a.get('generated_at', '')}")),
    ]
    return out


def _guardrail_section(a: Mapping[str, Any]) -> Section:
    diffs = {c["arm"]: c.get("guardrails", {}) for c in a["comparisons"]}
    rows = []
    for arm in a["arms"]:
        for name, g in arm.get("guardrails", {}).items():
            d = diffs.get(arm["arm"], {}).get(name)
            breached = "—" if d is None or d.get("breached") is None else (
                "BREACHED" if d["breached"] else "no")
            rows.append((arm["arm"], name, _guardrail_value(name, g),
                         "—" if d is None else _guardrail_diff(name, d), breached))
    if not rows:
        return Section("Guardrails", ("The experiment watches no guardrail.",))
    return Section("Guardrails (lower is better; breached: worse than the control with the "
                   "interval above 0)", (
                       Table(("arm", "guardrail", "value (95 %)", "minus control (95 %)",
                              "breached"), tuple(rows)),))


def _plan_section(plan: Mapping[str, Any]) -> Section:
    power_now = plan.get("power_now")
    return Section("Plan", (Table(("baseline", "minimum detectable effect", "alpha", "power",
                                   "callers per arm", "progress", "power now"), ((
        pct(plan["baseline"]), f"{100 * plan['mde']:+.1f} pt", f"{plan['alpha']:g}",
        f"{plan['power']:g}", str(plan["units_per_arm"]), pct(plan["progress"]),
        "—" if power_now is None else pct(power_now)),)),))


def _srm_section(srm: Sequence[Mapping[str, Any]]) -> Section:
    rows = tuple((str(s["epoch"]), " / ".join(map(str, s["counts"])),
                  " / ".join(f"{x:.1f}" for x in s["expected"]), f"{s['chi2']:.3g}",
                  _p(s["p"]), "FLAGGED" if s["flagged"] else "no") for s in srm)
    if not rows:
        return Section("Sample-ratio mismatch", ("No callers assigned yet.",))
    return Section("Sample-ratio mismatch (per weight setting; flagged when p < 0.001)", (
        Table(("weight setting", "callers", "expected", "chi2", "p", "flagged"), rows),))


def _exclusion_section(excluded: Mapping[str, Any]) -> Section:
    return Section("Excluded from the analysis", (Table(("why", "count"), (
        ("forced arm (QA calls)", str(excluded.get("forced", 0))),
        ("crossover calls (a caller's later call in another arm)",
         str(excluded.get("crossovers", 0))),
    )), f"{excluded.get('no_caller_id_units', 0)} callers without a caller id count as one "
        "unit per call (they cannot be recognised on a second call)."))


def _looks_section(a: Mapping[str, Any]) -> Section:
    names = [arm["arm"] for arm in a["arms"]]
    rows = tuple((str(look["day"]), " / ".join(map(str, look["units"])),
                  " / ".join(map(str, look["conversions"])), _p(look["p_always_valid"]))
                 for look in a.get("looks", []))
    if not rows:
        return Section("Looks", ("No look yet.",))
    return Section("Looks (end of each UTC day, cumulative; the last is now)", (Table(
        ("day", "callers (" + " / ".join(names) + ")", "conversions",
         f"p (always valid: {looks_label(a)})"), rows),
        f"The experiment decides when this p falls below alpha = {a['plan']['alpha']:g}; "
        "reading it every day does not raise the false-winner rate."))


def looks_label(a: Mapping[str, Any]) -> str:
    """What a look's always-valid p is: the one comparison's, or with several the smallest
    times their number (Bonferroni), so either way it decides at alpha."""
    c = a["comparisons"]
    if len(c) == 1:
        return f"{c[0]['arm']} vs {c[0]['vs']}"
    return f"smallest of {len(c)} comparisons x {len(c)} (Bonferroni)"


# -- the figure ------------------------------------------------------------------------------
def plot(a: Mapping[str, Any], path: Path) -> Path:
    """Left: conversion per arm with its Wilson interval; right: the always-valid p of each
    comparison over the looks, with the line it must cross."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    rates, looks = fig.subplots(1, 2)
    arms = a["arms"]
    estimates = [_estimate(arm) or Estimate(0.0, 0.0, 0.0, 0) for arm in arms]
    rates.bar([text(f"{arm['arm']}\nn={arm['units']}") for arm in arms],
              [e.value for e in estimates],
              color=["#999999" if arm["arm"] == a["control"] else "#4c72b0" for arm in arms],
              yerr=error_bars(estimates), capsize=4, ecolor="#333333")
    for i, e in enumerate(estimates):  # beside the error bar, clear of it
        rates.text(i + 0.08, e.value, pct(e.value), va="bottom", fontsize=8)
    rates.set_ylim(0, min(1.0, 1.3 * max((e.high for e in estimates), default=0.1) + 0.02))
    rates.set_ylabel("conversion (95 % Wilson)")
    rates.set_title("Conversion per arm")
    days = [str(look["day"]) for look in a.get("looks", [])]
    ps = [float("nan") if look["p_always_valid"] is None else max(look["p_always_valid"], 1e-12)
          for look in a.get("looks", [])]
    looks.plot(range(len(ps)), ps, marker="o", label=text(looks_label(a)))
    looks.axhline(a["plan"]["alpha"], color="#c44e52", linestyle="--", linewidth=1,
                  label=f"alpha {a['plan']['alpha']:g}")
    looks.set_yscale("log")
    # The alpha line always in view, however far above or below it the p-values are.
    lowest = min((p for p in ps if p == p), default=1.0)
    looks.set_ylim(min(a["plan"]["alpha"] / 5, lowest / 2), 1.5)
    if days:
        step = max(1, len(days) // 8)
        looks.set_xticks(range(0, len(days), step), days[::step], rotation=30, fontsize=7)
    looks.set_ylabel("always-valid p")
    looks.set_title("Always-valid p over looks")
    looks.legend(fontsize=8)
    fig.suptitle(text(f"{a['experiment']}: {a['verdict']}"))
    return save(fig, path)


# -- files -----------------------------------------------------------------------------------
def to_markdown(a: Mapping[str, Any], plot_file: str | None = None) -> str:
    return render_markdown(title(a), sections(a, plot_file))


def to_html(a: Mapping[str, Any], png: bytes | None = None) -> str:
    """The page with its figure inlined (one file to mail or attach to a ticket)."""
    uri = None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()
    return render_html(title(a), sections(a, uri))


def title(a: Mapping[str, Any]) -> str:
    return f"Experiment {a['experiment']}: {headline(a)}"


def write_report(a: Mapping[str, Any], fmt: Format, out: Path) -> list[Path]:
    """Write the report as ``fmt`` to ``out`` (folder made); Markdown gets its figure beside
    it (``<stem>.png``). Returns the files written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(json.dumps(a, indent=2) + "\n")
        return [out]
    if fmt == "png":
        return [plot(a, out)]
    if fmt == "md":
        figure = plot(a, out.with_suffix(".png"))
        out.write_text(to_markdown(a, figure.name))
        return [out, figure]
    with tempfile.TemporaryDirectory() as tmp:
        png = plot(a, Path(tmp) / "figure.png").read_bytes()
    out.write_text(to_html(a, png))
    return [out]
