"""The optimizer's reports: ``summary.json`` with every number, ``report.md`` and
``report.html`` with the tables, and PNG plots, next to each other.

``analyze`` runs the analyses on any dialogues (simulated batches or exported live call
records: they share one format); ``write_optimize_report`` adds the lineage of an
Algorithm 1 run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from agent.dialogue import Dialogue
from agent.program import AgentProgram, ProgramSet
from agent.stats import Difference, Estimate
from models.errors import SalesvoiceError
from models.llm.base import LLM
from optimizer.attitude import (
    AttitudeChain,
    AttitudeClassifier,
    AttitudeSpace,
    by_group,
    chain_from_dialogue,
)
from optimizer.attitude_report import coa_section, plot_groups, plot_transitions
from optimizer.attitude_stats import summarize_chains, transition_counts, transition_matrix
from optimizer.attribute_report import attribute_report
from optimizer.judge import Judge, JudgeScores, evaluation_summary
from optimizer.lineage import OptimizeResult
from optimizer.strategies import (
    StrategyClassifier,
    StrategyUse,
    load_strategies,
    plot_strategy_bars,
    strategy_section,
    strategy_table,
)
from simulator.evaluate_report import sections as evaluation_sections
from simulator.metrics import persona_id
from simulator.report import (
    Image,
    ReportPaths,
    Section,
    Table,
    pct_ci,
    render_html,
    render_markdown,
)
from simulator.report_plots import error_bars

log = logging.getLogger(__name__)
Tick = Callable[[str, int, int], None]
"""Progress: what is running, done, total."""


@dataclass
class Analysis:
    data: dict[str, Any]
    sections: list[Section]
    plots: list[Path]


def write_files(out_dir: Path, title: str, data: dict[str, Any], sections: Sequence[Section],
                plots: Sequence[Path]) -> ReportPaths:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = out_dir / "summary.json"
    summary.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md, html = out_dir / "report.md", out_dir / "report.html"
    md.write_text(render_markdown(title, sections))
    html.write_text(render_html(title, sections))
    return ReportPaths(summary, md, html, tuple(plots))


async def coa_chains(dialogues: Sequence[Dialogue], llm: LLM | None, space: AttitudeSpace,
                     tick: Tick | None = None) -> list[AttitudeChain]:
    """Each dialogue's attitude chain: read from labelled turns when present (live call
    records labelled once), else classified by the LLM; failures are logged and left out."""
    classifier = AttitudeClassifier(llm, space) if llm is not None else None
    chains: list[AttitudeChain] = []
    for n, d in enumerate(dialogues, 1):
        chain = chain_from_dialogue(d)
        if chain is None and classifier is not None:
            try:
                chain = await classifier.classify(d)
            except SalesvoiceError as exc:
                log.warning("attitudes of %s not classified: %s", d.id, exc)
        if chain is not None:
            chains.append(chain)
        if tick:
            tick("chain-of-attitude", n, len(dialogues))
    return chains


async def analyze(dialogues: Sequence[Dialogue], out_dir: Path, *, llm: LLM | None,
                  space: AttitudeSpace, group_by: str = "sector", baseline: str | None = None,
                  coa: bool = True, judge: bool = True, strategies: bool = True,
                  chains: Sequence[AttitudeChain] | None = None,
                  scores: dict[str, JudgeScores] | None = None,
                  tick: Tick | None = None) -> Analysis:
    """Chain-of-Attitude per group, the judge, persuasion strategies per group and the
    attribute analysis, as numbers, sections and plots (written into ``out_dir``, which
    must exist)."""
    data: dict[str, Any] = {"dialogues": len(dialogues), "group_by": group_by}
    sections: list[Section] = []
    plots: list[Path] = []
    by_id = {d.id: d for d in dialogues}
    if coa:
        got = list(chains) if chains is not None else await coa_chains(dialogues, llm, space,
                                                                       tick)
        if got:
            groups = by_group(((by_id[c.dialogue_id], c) for c in got if c.dialogue_id in by_id),
                              group_by)
            groups = {"all": got, **groups} if len(groups) > 1 else {"all": got}
            summary = summarize_chains(groups, space, baseline=baseline, persona_of={
                d.id: persona_id(d) for d in dialogues})
            data["coa"] = summary.to_dict()
            heat = plot_transitions(transition_matrix(transition_counts(got, space)), space,
                                    out_dir / "coa_transitions.png",
                                    f"Attitude transitions ({len(got)} dialogues)")
            plots.append(heat)
            blocks = list(coa_section(summary, heat.name).blocks)
            if len(groups) > 2:
                small = plot_groups({g: transition_matrix(transition_counts(c, space))
                                     for g, c in groups.items() if g != "all"}, space,
                                    out_dir / f"coa_by_{group_by}.png",
                                    f"Attitude transitions by {group_by}")
                plots.append(small)
                blocks.append(Image(small.name, f"attitude transitions by {group_by}"))
            sections.append(Section("Chain-of-Attitude", tuple(blocks)))
        else:
            sections.append(Section("Chain-of-Attitude", ("No dialogue could be labelled.",)))
    if judge and (llm is not None or scores):
        if scores is None:
            assert llm is not None
            scores = await Judge(llm).score_all(dialogues)
        ev = evaluation_summary(dialogues, scores)
        data["judge"] = ev.data
        sections.append(ev.section)
    if strategies and llm is not None:
        table = load_strategies()
        classifier = StrategyClassifier(llm, table)
        uses: list[tuple[Dialogue, list[StrategyUse]]] = []
        for n, d in enumerate(dialogues, 1):
            try:
                uses.append((d, await classifier.classify(d)))
            except SalesvoiceError as exc:
                log.warning("strategies of %s not classified: %s", d.id, exc)
            if tick:
                tick("persuasion strategies", n, len(dialogues))
        grouped: dict[str, list[list[StrategyUse]]] = {"all": [u for _, u in uses]}
        grouped.update(by_group(((d, u) for d, u in uses), group_by))
        st = strategy_table(grouped, table)
        data["strategies"] = st
        bars = plot_strategy_bars({g: s["counts"] for g, s in st["groups"].items()},
                                  out_dir / "strategies.png", table)
        plots.append(bars)
        sections.append(strategy_section(st, bars.name))
    attrs = attribute_report(dialogues)
    data["attributes"] = attrs.data
    sections += list(attrs.sections)
    return Analysis(data, sections, plots)


# -- the Algorithm 1 run ---------------------------------------------------------------------
def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _h(e: Estimate | None) -> str:
    return "—" if e is None else f"{e.value:.3f} ({e.low:.3f} to {e.high:.3f})"


def _points(d: Difference | None) -> str:
    if d is None:
        return "—"
    return (f"{100 * d.value:+.1f} pt ({100 * d.low:+.1f} to {100 * d.high:+.1f}), "
            f"p {d.p:.3g}")


def plot_lineage(result: OptimizeResult, path: Path) -> Path:
    """Success and τ on the selection personas per version, with 95 % error bars; the
    chosen version starred."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(result.lineage)))
    for shift, label, marker, values in (
        (-0.06, "success, selection personas", "o-", [m.select for m in result.lineage]),
        (0.06, "τ, selection personas", "s--", [m.tau for m in result.lineage]),
    ):
        shown = [(x + shift, e) for x, e in zip(xs, values, strict=True) if e is not None]
        if shown:
            ax.errorbar([x for x, _ in shown], [e.value for _, e in shown],
                        yerr=error_bars([e for _, e in shown]), fmt=marker, capsize=3,
                        label=label)
    chosen = next(i for i, m in enumerate(result.lineage) if m is result.chosen)
    if result.chosen.select is not None:
        ax.plot([chosen - 0.06], [result.chosen.select.value], "*", markersize=14,
                color="#dd8452", label="chosen version")
    ax.set_xticks(xs, [f"{m.iteration}\n{m.version}" for m in result.lineage], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate (95 % CI)")
    ax.set_title("Program versions (Algorithm 1)")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def _lineage_rows(result: OptimizeResult) -> tuple[tuple[str, ...], ...]:
    return tuple((
        str(m.iteration), m.version, m.parent or "—", m.created_by,
        f"{pct_ci(m.select)} [{m.select_n}]",
        "—" if m.versus is None else f"{_points(m.difference)} vs {m.versus}",
        "yes" if m is result.chosen else "",
        f"{pct_ci(m.train)} [{m.train_n}]" if m.train_n else "—",
        pct_ci(m.tau), _h(m.h_avg), _num(m.h_norm), _num(m.judge_means.get("mean")),
    ) for m in result.lineage)


def _gain_text(result: OptimizeResult) -> str:
    gain = result.gain
    if gain is None:
        return ("No version improved on the start on the selection personas: the start "
                "is handed back, and the report personas measure it alone.")
    shown = "an improvement" if gain.low > 0 else (
        "no difference shown (the interval covers 0)" if gain.covers_zero else "worse")
    return (f"Gain of the chosen version over the start on the report personas, which "
            f"took no part in training or choosing: {_points(gain)}, {gain.n} paired "
            f"personas ({gain.method}): {shown}.")


def _program_section(first: AgentProgram, final: ProgramSet) -> Section:
    """How ``final`` (the chosen set) differs from the start."""
    blocks: list[Table | Image | str] = []
    for name, program in [("all callers", final.default), *sorted(final.programs.items())]:
        if name != "all callers":
            sectors = ", ".join(s for s, seg in sorted(final.route.items()) if seg == name)
            blocks.append(f"Segment {name} (sectors {sectors}): program {program.version}.")
        if program.sop != first.sop:
            lines = [line for line in program.sop.splitlines() if line.strip()] or ["(none)"]
            blocks.append(Table((f"SOP (playbook) for {name}",), tuple((line,) for line in lines)))
        changed = sorted(s for s in set(first.strategy) | set(program.strategy)
                         if first.strategy.get(s) != program.strategy.get(s))
        if changed:
            def cell(p: AgentProgram, s: str) -> str:
                e = p.strategy.get(s)
                return ", ".join(e.intents) if e else "—"

            blocks.append(Table(("sector", "before", f"after ({name})", "rationale"), tuple(
                (s, cell(first, s), cell(program, s),
                 program.strategy[s].rationale if s in program.strategy else "")
                for s in changed)))
    return Section("What changed", tuple(blocks) or ("Nothing: the chosen version is P0.",))


async def write_optimize_report(result: OptimizeResult, space: AttitudeSpace, *,
                                first: AgentProgram, llm: LLM | None, strategies: bool = True,
                                tick: Tick | None = None) -> ReportPaths:
    out_dir = result.run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    lineage_plot = plot_lineage(result, out_dir / "lineage.png")
    overview = Section("Algorithm 1", (
        Table(("iteration", "version", "parent", "created by",
               "success, selection personas [dialogues]", "paired difference", "chosen",
               "training success, descriptive [dialogues]", "τ", "H_avg", "H_norm",
               "judge mean"),
              _lineage_rows(result)),
        "Rates with 95 % intervals, the persona as the unit. A version is chosen when "
        "its success on the selection personas beats the version chosen before it, "
        "paired persona by persona, with the whole interval above 0; the run stops at "
        "the target when τ (on the selection personas too) has its lower bound at θ or "
        "above and H_avg (of the training calls) its upper bound at H_basic or above. "
        "Training success is descriptive only: each version was evolved from calls on "
        f"those very personas. Stopped: {result.stopped}. H_basic: "
        f"{_num(result.h_basic)}. Chosen: {result.chosen.version}. Elapsed "
        f"{result.elapsed_s:.0f} s.",
        Image(lineage_plot.name, "success and τ per version, 95 % intervals"),
    ))
    gain = Section("Gain on the report personas", (_gain_text(result),))
    report_sections = [Section(f"Report personas: {s.title}", s.blocks)
                       for s in evaluation_sections(result.report, None)]
    final_sections = [overview, gain, *report_sections,
                      _program_section(first, result.chosen_program)]
    analysis = await analyze(result.train_dialogues, out_dir, llm=llm, space=space,
                             chains=result.chains, scores=result.scores or None,
                             coa=bool(result.chains), judge=bool(result.scores),
                             strategies=strategies and llm is not None, tick=tick)
    data = {
        "stopped": result.stopped, "h_basic": result.h_basic,
        "chosen": result.chosen.to_dict(),
        "gain": None if result.gain is None else asdict(result.gain),
        "report": result.report.model_dump(mode="json"),
        "lineage": [m.to_dict() for m in result.lineage],
        "final_program": result.final.version,
        "chosen_program": result.chosen_program.version,
        "segments": {seg: p.version for seg, p in result.chosen_program.programs.items()},
        "route": result.chosen_program.route,
        "last_iteration": analysis.data,
    }
    final_sections += [Section(f"Last training iteration: {s.title}", s.blocks)
                       for s in analysis.sections]
    return write_files(out_dir, f"Optimization {result.run_dir.name}", data, final_sections,
                       [lineage_plot, *analysis.plots])
