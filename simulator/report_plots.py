"""The batch report's plots (matplotlib objects, no pyplot: no global state, no display).

Every rate is drawn with its 95 % interval as an error bar; the same bytes for the same
inputs (no software version in the PNG metadata).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from agent.occupation import SECTORS
from agent.stats import Estimate
from simulator.metrics import GroupMetrics


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def sector_label(value: str) -> str:
    return f"{value} · {SECTORS[value]}" if value in SECTORS else value


def text(label: str) -> str:
    """A label as matplotlib shows it literally ($ would start mathtext)."""
    return label.replace("$", r"\$")


def error_bars(estimates: Sequence[Estimate]) -> list[list[float]]:
    """matplotlib's ``yerr``/``xerr``: distances below and above each value."""
    return [[max(0.0, e.value - e.low) for e in estimates],
            [max(0.0, e.high - e.value) for e in estimates]]


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no version: same bytes
    return path


def plot_outcomes(rates: Mapping[str, Estimate], path: Path) -> Path:
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    values = list(rates.values())
    bars = ax.bar([text(k) for k in rates], [e.value for e in values], color="#4c72b0",
                  yerr=error_bars(values), capsize=3, ecolor="#333333")
    ax.bar_label(bars, labels=[pct(e.value) for e in values], fontsize=8, padding=2)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("share of dialogues (95 % CI)")
    ax.set_title("Outcomes")
    ax.tick_params(axis="x", labelrotation=30)
    return save(fig, path)


def plot_success(sectors: Sequence[GroupMetrics], intervals: Sequence[Estimate],
                 path: Path) -> Path:
    fig = Figure(figsize=(8, 0.45 * len(sectors) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    labels = [text(sector_label(g.value)) for g in sectors]
    ax.barh(labels, [e.value for e in intervals], color="#55a868",
            xerr=error_bars(intervals), capsize=3, ecolor="#333333")
    for row, (g, e) in enumerate(zip(sectors, intervals, strict=True)):
        ax.text(e.high + 0.02, row, f"{pct(g.success_rate)} (n={g.n_personas} personas)",
                va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.5)
    ax.set_xlabel("success rate (mean over personas, 95 % CI)")
    ax.set_title("Success rate per sector")
    return save(fig, path)


def plot_intents(sectors: Sequence[GroupMetrics], path: Path) -> Path:
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
            labels.append(text(g.value + (" (mentioned)" if fallback else "")))
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
    fig.legend(handles, [text(i) for i in intents], loc="outside lower center",
               ncols=min(len(intents), 6) or 1, fontsize=8)
    fig.suptitle("Intent distribution per sector")
    return save(fig, path)


def plot_turns(key: str, groups: Sequence[GroupMetrics], path: Path) -> Path:
    fig = Figure(figsize=(8, 0.5 * len(groups) + 1.9), layout="constrained")
    ax = fig.add_subplot()
    rows = range(len(groups))
    for shift, label, values, color in (
        (-0.2, "all dialogues", [g.avg_turns for g in groups], "#4c72b0"),
        (0.2, "successful", [g.avg_turns_success for g in groups], "#55a868"),
    ):
        bars = ax.barh([r + shift for r in rows], [v or 0.0 for v in values], height=0.4,
                       label=label, color=color)
        ax.bar_label(bars, labels=[num(v) for v in values], fontsize=7, padding=2)
    ax.set_yticks(list(rows), [text(g.value) for g in groups])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15 * max(g.avg_turns for g in groups) + 0.5)
    ax.set_xlabel("average turns (utterances, mean over personas)")
    ax.set_title(text(f"Average turns by {key}"))
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    return save(fig, path)
