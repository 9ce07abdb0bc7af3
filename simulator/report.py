"""A batch's report: ``summary.json``, ``report.md``, ``report.html`` and PNG plots.

The tables and plots follow the first paper: per-sector intent and success-intent
distributions (its figure 2), success rate per sector, outcome rates, and the per-persona
metrics averaged per attribute group. Same dialogues in, same bytes out.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from agent.dialogue import Dialogue
from agent.occupation import SECTORS
from simulator.metrics import DEFAULT_GROUP_BY, GroupMetrics, Stats, Summary, group_metrics, summary

TOP_INTENTS = 3
"""Intents listed per sector in the table."""


@dataclass(frozen=True, slots=True)
class ReportPaths:
    summary: Path
    markdown: Path
    html: Path
    plots: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Image:
    file: str
    alt: str


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    blocks: tuple[Table | Image | str, ...]


def write_report(
    dialogues: Sequence[Dialogue],
    out_dir: Path,
    *,
    title: str,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    extra: Mapping[str, Any] | None = None,
) -> ReportPaths:
    """Write the report files into ``out_dir`` (created if missing); ``extra`` adds
    sections: a mapping value becomes its own key/value table, scalars share one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    s = summary(dialogues, group_by)
    data = s.model_dump(mode="json")
    if extra:
        data["extra"] = dict(extra)
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(data, indent=2, default=str) + "\n")

    plots: list[Path] = []
    sections = [_overall_section(s, out_dir, plots)]
    if s.overall is not None:
        if len(s.variants) > 1:
            sections.append(_variants_section(s.variants))
        sectors = s.groups.get("sector") or group_metrics(s.personas, "sector")
        sections.append(_sector_section(sectors, out_dir, plots))
        sections += [_group_section(key, s.groups[key], out_dir, plots) for key in s.groups]
    sections += _extra_sections(extra or {})

    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(render_markdown(title, sections))
    html_path.write_text(render_html(title, sections))
    return ReportPaths(summary_path, md_path, html_path, tuple(plots))


# -- sections ------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _sector_label(value: str) -> str:
    return f"{value} · {SECTORS[value]}" if value in SECTORS else value


def _top(counts: Mapping[str, int], k: int = TOP_INTENTS) -> str:
    total = sum(counts.values())
    return ", ".join(f"{i} {_pct(n / total)}" for i, n in list(counts.items())[:k]) or "—"


_METRIC_COLUMNS = ("success", "avg turns", "turns (success)", "continue micro",
                   "continue macro", "switches", "strict switches")


def _metric_cells(m: Stats) -> tuple[str, ...]:
    return (_pct(m.success_rate), _num(m.avg_turns), _num(m.avg_turns_success),
            _pct(m.continue_micro), _pct(m.continue_macro), _num(m.mean_switches),
            _num(m.mean_strict_switches))


def _overall_section(s: Summary, out_dir: Path, plots: list[Path]) -> Section:
    if s.overall is None:
        return Section("Overall", ("No dialogues.",))
    o = s.overall
    rows = [("dialogues", str(s.n_dialogues)), ("personas", str(s.n_personas)),
            *zip(_METRIC_COLUMNS, _metric_cells(o), strict=True),
            *((f"outcome: {k}", _pct(v)) for k, v in s.outcome_rates.items())]
    plots.append(_plot_outcomes(s.outcome_rates, out_dir / "outcomes.png"))
    note = ("Turns are utterances of both sides. Continue micro pools all agent thoughts; "
            "macro averages per dialogue. Strict switches also count every return from "
            "chit-chat to a product.")
    return Section("Overall", (Table(("metric", "value"), tuple(rows)), note,
                               Image("outcomes.png", "outcome rates")))


def _variants_section(variants: Mapping[str, Stats]) -> Section:
    rows = tuple((v, str(m.n_dialogues), *_metric_cells(m)) for v, m in variants.items())
    return Section("Per agent variant", (
        "The batch holds several agent programs; the sections below pool them.",
        Table(("variant", "dialogues", *_METRIC_COLUMNS), rows)))


def _sector_section(sectors: list[GroupMetrics], out_dir: Path, plots: list[Path]) -> Section:
    plots.append(_plot_success(sectors, out_dir / "success_by_sector.png"))
    plots.append(_plot_intents(sectors, out_dir / "intents_by_sector.png"))
    rows = tuple((_sector_label(g.value), str(g.n_personas), str(g.n_dialogues),
                  _pct(g.success_rate), _top(g.success_intent_counts), _top(g.intent_counts))
                 for g in sectors)
    return Section("Sectors", (
        Image("success_by_sector.png", "success rate per sector"),
        Image("intents_by_sector.png", "intent distribution per sector"),
        Table(("sector", "personas", "dialogues", "success", "top success intents",
               "top intents mentioned"), rows)))


def _group_section(key: str, groups: list[GroupMetrics], out_dir: Path,
                   plots: list[Path]) -> Section:
    name = f"turns_by_{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.png"
    plots.append(_plot_turns(key, groups, out_dir / name))
    label = _sector_label if key == "sector" else str
    rows = tuple((label(g.value), str(g.n_personas), str(g.n_dialogues), *_metric_cells(g))
                 for g in groups)
    return Section(f"By {key}", (
        "Means of per-persona values.",
        Table((key, "personas", "dialogues", *_METRIC_COLUMNS), rows),
        Image(name, f"average turns by {key}")))


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _extra_sections(extra: Mapping[str, Any]) -> list[Section]:
    scalars = tuple((str(k), _cell(v)) for k, v in extra.items() if not isinstance(v, Mapping))
    out = [Section("Extra", (Table(("key", "value"), scalars),))] if scalars else []
    out += [Section(str(k), (Table(("key", "value"),
                                   tuple((str(a), _cell(b)) for a, b in v.items())),))
            for k, v in extra.items() if isinstance(v, Mapping)]
    return out


# -- rendering -----------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {_md_cell(title)}", ""]
    for section in sections:
        lines += [f"## {_md_cell(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(map(_md_cell, block.headers)) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
            elif isinstance(block, Image):
                lines.append(f"![{_md_cell(block.alt)}]({block.file})")
            else:
                lines.append(_md_cell(block))
            lines.append("")
    return "\n".join(lines)


_CSS = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}"
        "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
        "th{background:#f2f2f2}img{max-width:100%}")


def render_html(title: str, sections: Sequence[Section]) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    for section in sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append("<table><thead><tr>"
                             + "".join(f"<th>{e(h)}</th>" for h in block.headers)
                             + "</tr></thead><tbody>")
                parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                          for row in block.rows]
                parts.append("</tbody></table>")
            elif isinstance(block, Image):
                parts.append(f'<p><img src="{e(block.file)}" alt="{e(block.alt)}"></p>')
            else:
                parts.append(f"<p>{e(block)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# -- plots (matplotlib objects, no pyplot: no global state, no display) ----------------------
def _text(label: str) -> str:
    """A label as matplotlib shows it literally ($ would start mathtext)."""
    return label.replace("$", r"\$")


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no version: same bytes
    return path


def _plot_outcomes(rates: Mapping[str, float], path: Path) -> Path:
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar([_text(k) for k in rates], list(rates.values()), color="#4c72b0")
    ax.bar_label(bars, labels=[_pct(v) for v in rates.values()], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of dialogues")
    ax.set_title("Outcomes")
    ax.tick_params(axis="x", labelrotation=30)
    return _save(fig, path)


def _plot_success(sectors: Sequence[GroupMetrics], path: Path) -> Path:
    fig = Figure(figsize=(8, 0.45 * len(sectors) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    labels = [_text(_sector_label(g.value)) for g in sectors]
    bars = ax.barh(labels, [g.success_rate for g in sectors], color="#55a868")
    ax.bar_label(bars, labels=[f"{_pct(g.success_rate)} (n={g.n_dialogues})" for g in sectors],
                 fontsize=8, padding=3)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)
    ax.set_xlabel("success rate (mean over personas)")
    ax.set_title("Success rate per sector")
    return _save(fig, path)


def _plot_intents(sectors: Sequence[GroupMetrics], path: Path) -> Path:
    """The paper's figure 2: per sector, the share of each intent among the intents
    mentioned and among the successes (mentioned intents where a sector has none)."""
    totals: dict[str, int] = {}
    for g in sectors:
        for counts in (g.intent_counts, g.success_intent_counts):
            for intent, n in counts.items():
                totals[intent] = totals.get(intent, 0) + n
    intents = sorted(totals, key=lambda i: (-totals[i], i))
    cmap = colormaps["tab20"]
    colors = {i: cmap(k % 20) for k, i in enumerate(intents)}
    fig = Figure(figsize=(12, 0.5 * len(sectors) + 2.2), layout="constrained")
    panels = fig.subplots(1, 2)
    for ax, which in zip(panels, ("success", "mentioned"), strict=True):
        labels = []
        for row, g in enumerate(sectors):
            counts = g.intent_counts if which == "mentioned" else g.success_intent_counts
            fallback = which == "success" and not counts
            counts = g.intent_counts if fallback else counts
            labels.append(_text(g.value + (" (mentioned)" if fallback else "")))
            total, left = sum(counts.values()), 0.0
            for intent in intents:
                share = counts.get(intent, 0) / total if total else 0.0
                if share:
                    ax.barh(row, share, left=left, color=colors[intent])
                    left += share
        # Sector names only once, on the left; the right panel's rows line up with them.
        ax.set_yticks(range(len(sectors)), labels)
        ax.tick_params(axis="y", labelleft=which == "success")
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share")
        ax.set_title("success intents" if which == "success" else "intents mentioned")
    handles = [Patch(color=colors[i]) for i in intents]
    fig.legend(handles, [_text(i) for i in intents], loc="outside lower center",
               ncols=min(len(intents), 6) or 1, fontsize=8)
    fig.suptitle("Intent distribution per sector")
    return _save(fig, path)


def _plot_turns(key: str, groups: Sequence[GroupMetrics], path: Path) -> Path:
    fig = Figure(figsize=(8, 0.5 * len(groups) + 1.9), layout="constrained")
    ax = fig.add_subplot()
    rows = range(len(groups))
    for shift, label, values, color in (
        (-0.2, "all dialogues", [g.avg_turns for g in groups], "#4c72b0"),
        (0.2, "successful", [g.avg_turns_success for g in groups], "#55a868"),
    ):
        bars = ax.barh([r + shift for r in rows], [v or 0.0 for v in values], height=0.4,
                       label=label, color=color)
        ax.bar_label(bars, labels=[_num(v) for v in values], fontsize=7, padding=2)
    ax.set_yticks(list(rows), [_text(g.value) for g in groups])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15 * max(g.avg_turns for g in groups) + 0.5)
    ax.set_xlabel("average turns (utterances, mean over personas)")
    ax.set_title(_text(f"Average turns by {key}"))
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    return _save(fig, path)
