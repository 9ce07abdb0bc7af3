"""An evaluation's report: ``evaluation.json`` for scripts, ``report.md``/``report.html``
for people, a PNG of every arm's difference from the baseline with its interval."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from agent.stats import Estimate
from simulator.evaluate import METRICS, PRIMARY, Delta, Evaluation, Interval
from simulator.report import Image, Section, Table, pct_ci, render_html, render_markdown

_BY_NAME = {m.name: m for m in METRICS}


def _interval(name: str, i: Interval) -> str:
    if _BY_NAME[name].kind == "rate":
        return pct_ci(Estimate(i.value, i.low, i.high, i.n))
    return f"{i.value:.3g} ({i.low:.3g} to {i.high:.3g})"


def _delta(name: str, d: Delta) -> str:
    scale, unit = (100, " pt") if _BY_NAME[name].kind == "rate" else (1, "")
    return (f"{scale * d.value:+.3g}{unit} ({scale * d.low:+.3g} to {scale * d.high:+.3g}), "
            f"p={d.p:.3g}")


def verdict(ev: Evaluation, arm: str) -> str:
    """One sentence a reader can act on, about the primary metric: a direction only when
    the interval excludes 0 *and* the paired test (Holm-adjusted with several arms)
    rejects at 5 %."""
    d = ev.arm(arm).vs_baseline.get(PRIMARY)
    if d is None:
        return f"{arm}: no persona met both arms; nothing to compare."
    p = d.p if d.p_holm is None else d.p_holm
    holm_note = "" if d.p_holm is None else f", Holm p={p:.3g}"
    said = f"({_delta(PRIMARY, d)}{holm_note}, {d.n} paired personas"
    if not d.covers_zero and p < 0.05:
        side = "higher" if d.value > 0 else "lower"
        return f"{arm} vs {ev.baseline}: success is {side} {said})."
    if not d.covers_zero or p < 0.05:
        return (f"{arm} vs {ev.baseline}: borderline, the interval and the paired test "
                f"disagree {said}); treat as no difference shown.")
    size = (f"; this many personas detect a difference of about "
            f"{100 * ev.detectable_difference:.0f} points with 80 % power"
            if ev.detectable_difference else "")
    return f"{arm} vs {ev.baseline}: no difference shown in success {said}{size})."


def sections(ev: Evaluation, plot: str | None) -> list[Section]:
    arms = [a.arm for a in ev.arms]
    names = [m.name for m in METRICS if any(m.name in a.metrics for a in ev.arms)]
    per_arm = Table(("metric", *arms), tuple(
        (_BY_NAME[n].label, *(_interval(n, a.metrics[n]) if n in a.metrics else "-"
                              for a in ev.arms)) for n in names))
    others = ev.arms[1:]
    diffs = Table(("metric", *(f"{a.arm} minus {ev.baseline}" for a in others)), tuple(
        (_BY_NAME[n].label, *(_delta(n, a.vs_baseline[n]) if n in a.vs_baseline else "-"
                              for a in others)) for n in names))
    method = {d.method for a in others for d in a.vs_baseline.values()}
    out = [
        Section("Verdict", tuple(verdict(ev, a.arm) for a in others)),
        Section("Per arm (95 % intervals)", (
            per_arm,
            f"{ev.paired_personas} personas met every arm; {ev.dialogues_per_persona:g} "
            f"dialogues per persona and arm; outcomes {ev.outcome_source} "
            "(detected: the agent's reading; truth: the simulated user's own verdict).")),
        Section("Differences from the baseline (paired by persona, 95 % intervals)", (
            diffs, "methods: " + ", ".join(sorted(method)) + (
                "; with several dialogues per persona a difference is the mean of the "
                "personas' own differences, while a per-arm rate pools the dialogues"
                if ev.dialogues_per_persona > 1 else ""),
            *((Image(plot, "differences from the baseline"),) if plot else ()))),
        Section("Outcomes per arm", (Table(("arm", "outcome", "dialogues"), tuple(
            (a.arm, o, str(k)) for a in ev.arms for o, k in a.outcomes.items())),)),
    ]
    if ev.confusion:
        detected = sorted({d for a in ev.arms for row in a.confusion.values() for d in row})
        agreement = ("" if ev.detector_agreement is None
                     else f"Over all arms the agent read {100 * ev.detector_agreement:.1f} % "
                          "of outcomes as the user meant them.")
        out.append(Section(
            "Outcome detector per arm: the user's truth (rows) vs the agent's reading", (
                Table(("arm", "truth", *detected), tuple(
                    (a.arm, t, *(str(row.get(d, 0)) for d in detected))
                    for a in ev.arms for t, row in a.confusion.items())), agreement)))
    return out


def _plot(ev: Evaluation, path: Path) -> Path | None:
    rows = [(a.arm, n, d) for a in ev.arms[1:] for n, d in a.vs_baseline.items()
            if _BY_NAME[n].kind == "rate"]
    if not rows:
        return None
    fig = Figure(figsize=(7, 0.5 * len(rows) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    ys = range(len(rows))
    values = [100 * d.value for _, _, d in rows]
    errors = [[100 * (d.value - d.low) for _, _, d in rows],
              [100 * (d.high - d.value) for _, _, d in rows]]
    ax.errorbar(values, list(ys), xerr=errors, fmt="o", color="#4c72b0", capsize=4)
    ax.axvline(0, color="#999", linewidth=1)
    ax.set_yticks(list(ys), [f"{arm}: {_BY_NAME[n].label}" for arm, n, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f"difference from {ev.baseline} (points, 95 % interval)")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def write_evaluation(ev: Evaluation, out_dir: Path, *, title: str) -> tuple[Path, Path, Path]:
    """(report.md, report.html, evaluation.json) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = _plot(ev, out_dir / "differences.png")
    secs = sections(ev, plot.name if plot else None)
    md, page, data = out_dir / "report.md", out_dir / "report.html", out_dir / "evaluation.json"
    md.write_text(render_markdown(title, secs))
    page.write_text(render_html(title, secs))
    data.write_text(ev.model_dump_json(indent=2) + "\n")
    return md, page, data
