"""A batch's report: ``summary.json``, ``report.md``, ``report.html`` and PNG plots.

The tables and plots follow the first paper: per-sector intent and success-intent
distributions (its figure 2), success rate per sector, outcome rates, and the per-persona
metrics averaged per attribute group. Same dialogues in, same bytes out.

Every rate carries its 95 % interval with the *persona* as the unit (``persona_rate``):
Wilson when each persona had one dialogue, else a bootstrap that resamples personas,
since one persona's dialogues are not independent trials.

Markdown gets plain text (with Markdown's own metacharacters backslash-escaped, so a
persona value cannot inject markup); HTML gets HTML-escaped text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.dialogue import Dialogue
from agent.stats import Estimate, persona_rate
from simulator.metrics import (
    DEFAULT_GROUP_BY,
    UNKNOWN,
    DialogueMetrics,
    GroupMetrics,
    Stats,
    Summary,
    dialogue_metrics,
    group_metrics,
    summary,
)
from simulator.report_plots import (
    num,
    pct,
    plot_intents,
    plot_outcomes,
    plot_success,
    plot_turns,
    sector_label,
)

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


# -- rates with intervals ------------------------------------------------------------------
def by_persona(metrics: Sequence[DialogueMetrics],
               value: Callable[[DialogueMetrics], float]) -> list[list[float]]:
    """One list of values per persona (sorted by persona id, so the bootstrap is stable)."""
    out: dict[str, list[float]] = {}
    for m in metrics:
        out.setdefault(m.persona_id, []).append(value(m))
    return [out[p] for p in sorted(out)]


def pct_ci(e: Estimate | None) -> str:
    """"41.7% (22.1 to 64.1)": the rate and its 95 % interval."""
    if e is None:
        return "—"
    return f"{100 * e.value:.1f}% ({100 * e.low:.1f} to {100 * e.high:.1f})"


def _success(metrics: Sequence[DialogueMetrics], *, persona_mean: bool = False) -> Estimate:
    return persona_rate(by_persona(metrics, lambda m: float(m.success)),
                        persona_mean=persona_mean)


# -- the report ------------------------------------------------------------------------------
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

    metrics = [dialogue_metrics(d) for d in dialogues]
    plots: list[Path] = []
    sections = [_overall_section(s, metrics, out_dir, plots)]
    if s.overall is not None:
        if len(s.variants) > 1:
            sections.append(_variants_section(s.variants, metrics))
        sectors = s.groups.get("sector") or group_metrics(s.personas, "sector")
        sections.append(_sector_section(sectors, metrics, out_dir, plots))
        sections += [_group_section(key, s.groups[key], metrics, out_dir, plots)
                     for key in s.groups]
    sections += _extra_sections(extra or {})

    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(render_markdown(title, sections))
    html_path.write_text(render_html(title, sections))
    return ReportPaths(summary_path, md_path, html_path, tuple(plots))


# -- sections ------------------------------------------------------------------------------
def _top(counts: Mapping[str, int], k: int = TOP_INTENTS) -> str:
    total = sum(counts.values())
    return ", ".join(f"{i} {pct(n / total)}" for i, n in list(counts.items())[:k]) or "—"


_METRIC_COLUMNS = ("success (95% CI)", "avg turns", "turns (success)", "continue micro",
                   "continue macro", "switches", "strict switches")
_CI_NOTE = ("Rates carry a 95 % interval with the persona as the unit: Wilson with one "
            "dialogue per persona, else a bootstrap over personas.")


def _metric_cells(m: Stats, success: Estimate) -> tuple[str, ...]:
    return (pct_ci(success), num(m.avg_turns), num(m.avg_turns_success),
            pct(m.continue_micro), pct(m.continue_macro), num(m.mean_switches),
            num(m.mean_strict_switches))


def _is_outcome(outcome: str) -> Callable[[DialogueMetrics], float]:
    def value(m: DialogueMetrics) -> float:
        return float((m.outcome.value if m.outcome else "none") == outcome)

    return value


def _in_group(metrics: Sequence[DialogueMetrics], key: str,
              value: str) -> list[DialogueMetrics]:
    return [m for m in metrics if m.groups.get(key, UNKNOWN) == value]


def _overall_section(s: Summary, metrics: Sequence[DialogueMetrics], out_dir: Path,
                     plots: list[Path]) -> Section:
    if s.overall is None:
        return Section("Overall", ("No dialogues.",))
    o = s.overall
    outcomes = {k: persona_rate(by_persona(metrics, _is_outcome(k))) for k in s.outcome_rates}
    rows = [("dialogues", str(s.n_dialogues)), ("personas", str(s.n_personas)),
            *zip(_METRIC_COLUMNS, _metric_cells(o, _success(metrics)), strict=True),
            *((f"outcome: {k} (95% CI)", pct_ci(e)) for k, e in outcomes.items())]
    plots.append(plot_outcomes(outcomes, out_dir / "outcomes.png"))
    note = ("Turns are utterances of both sides. Continue micro pools all agent thoughts; "
            "macro averages per dialogue. Strict switches also count every return from "
            "chit-chat to a product. " + _CI_NOTE)
    return Section("Overall", (Table(("metric", "value"), tuple(rows)), note,
                               Image("outcomes.png", "outcome rates")))


def _variants_section(variants: Mapping[str, Stats],
                      metrics: Sequence[DialogueMetrics]) -> Section:
    rows = tuple((v, str(m.n_dialogues),
                  *_metric_cells(m, _success([d for d in metrics if d.variant == v])))
                 for v, m in variants.items())
    return Section("Per agent variant", (
        "The batch holds several agent programs; the sections below pool them. Variants "
        "met the same personas: compare them paired (salesvoice evaluate), not by these "
        "separate intervals.",
        Table(("variant", "dialogues", *_METRIC_COLUMNS), rows)))


def _sector_section(sectors: list[GroupMetrics], metrics: Sequence[DialogueMetrics],
                    out_dir: Path, plots: list[Path]) -> Section:
    success = [_success(_in_group(metrics, "sector", g.value), persona_mean=True)
               for g in sectors]
    plots.append(plot_success(sectors, success, out_dir / "success_by_sector.png"))
    plots.append(plot_intents(sectors, out_dir / "intents_by_sector.png"))
    rows = tuple((sector_label(g.value), str(g.n_personas), str(g.n_dialogues), pct_ci(e),
                  _top(g.success_intent_counts), _top(g.intent_counts))
                 for g, e in zip(sectors, success, strict=True))
    return Section("Sectors", (
        Image("success_by_sector.png", "success rate per sector"),
        Image("intents_by_sector.png", "intent distribution per sector"),
        Table(("sector", "personas", "dialogues", "success (95% CI)", "top success intents",
               "top intents mentioned"), rows)))


def _group_section(key: str, groups: list[GroupMetrics], metrics: Sequence[DialogueMetrics],
                   out_dir: Path, plots: list[Path]) -> Section:
    name = f"turns_by_{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.png"
    plots.append(plot_turns(key, groups, out_dir / name))
    label = sector_label if key == "sector" else str
    rows = tuple((label(g.value), str(g.n_personas), str(g.n_dialogues),
                  *_metric_cells(g, _success(_in_group(metrics, key, g.value),
                                             persona_mean=True)))
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
_MD_META = re.compile(r"[\\`*\[\]<>|]|&(?=#?\w+;)")
"""What Markdown would read as markup in running text or a table cell: backslash escapes,
code, emphasis, links, raw HTML, cell breaks, and an ``&`` that would start an entity."""


def md_text(text: str) -> str:
    """Plain text as Markdown shows it literally, on one line."""
    return _MD_META.sub(lambda m: "\\" + m.group(0), " ".join(text.split()))


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {md_text(title)}", ""]
    for section in sections:
        lines += [f"## {md_text(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(map(md_text, block.headers)) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(map(md_text, row)) + " |" for row in block.rows]
            elif isinstance(block, Image):
                lines.append(f"![{md_text(block.alt)}]({block.file})")
            else:
                lines.append(md_text(block))
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
