"""Chain-of-Attitude in a report: the per-group summary as a section (MADS Table 1) and
heatmaps of transition matrices (MADS figure 2; matplotlib objects, no pyplot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from numpy.typing import ArrayLike, NDArray

from optimizer.attitude import AttitudeSpace
from optimizer.attitude_stats import CoASummary, GroupCoA, square_matrix
from simulator.report import Image, Section, Table


def coa_section(summary: CoASummary, image: str | None = None) -> Section:
    """The summary as a report section (MADS Table 1), with an optional heatmap file."""
    base = summary.groups.get(summary.baseline) if summary.baseline is not None else None

    def change(g: GroupCoA) -> str:
        if base is None or g is base or base.h_norm == 0:
            return "—"
        return f"{100 * (g.h_norm / base.h_norm - 1):+.1f}%"

    rows = tuple(
        (name, str(g.n_dialogues), str(g.n_transitions), f"{g.h_avg:.4f}", f"{g.h_norm:.4f}",
         change(g), "—" if g.js is None else f"{g.js:.4f}",
         _accepted(g)) for name, g in summary.groups.items())
    note = (f"Attitude space {summary.space} ({len(summary.states)} states). H_avg: mean "
            f"row entropy of the transition matrix (nats, max ln {len(summary.states)}); "
            f"H_norm = H_avg / ln |S|; JS: divergence of the joint transition distribution "
            f"from the baseline {summary.baseline or '(none)'}. Accepted: share of the "
            "dialogues the classifier judged, with its 95 % Wilson interval over them.")
    blocks: list[Table | Image | str] = [
        Table(("group", "dialogues", "transitions", "H_avg", "H_norm", "H_norm vs baseline",
               "JS", "accepted"), rows), note]
    if image is not None:
        blocks.append(Image(image, "attitude transition matrices"))
    return Section("Chain-of-Attitude", tuple(blocks))


def _accepted(g: GroupCoA) -> str:
    if g.acceptance_rate is None or g.acceptance_interval is None:
        return "—"
    low, high = g.acceptance_interval
    return f"{100 * g.acceptance_rate:.1f}% ({100 * low:.1f} to {100 * high:.1f})"


# -- plots (matplotlib objects, no pyplot) --------------------------------------------------
def _heatmap(ax: Axes, matrix: NDArray[np.float64], space: AttitudeSpace,
             annotate: bool) -> AxesImage:
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = range(len(space.names))
    ax.set_xticks(ticks, space.names, rotation=90, fontsize=7)
    ax.set_yticks(ticks, space.names, fontsize=7)
    ax.set_xlabel("attitude at round t")
    ax.set_ylabel("attitude at round t-1")
    groups = [s.group for s in space.states]
    for k in range(1, len(groups)):
        if groups[k] != groups[k - 1]:
            ax.axhline(k - 0.5, color="black", linewidth=0.8)
            ax.axvline(k - 0.5, color="black", linewidth=0.8)
    if annotate:
        for (i, j), value in np.ndenumerate(matrix):
            if value > 0:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if value > 0.6 else "black")
    return image


def plot_transitions(matrix: ArrayLike, space: AttitudeSpace, path: Path,
                     title: str = "Attitude transitions") -> Path:
    """A heatmap of one transition matrix (MADS figure 2) with its non-zero values,
    coarse groups separated."""
    t = square_matrix(matrix)
    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    ax = fig.add_subplot()
    fig.colorbar(_heatmap(ax, t, space, annotate=True), ax=ax, label="P(next attitude | attitude)")
    ax.set_title(title, parse_math=False)
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no version: same bytes
    return path


def plot_groups(matrices: Mapping[str, ArrayLike], space: AttitudeSpace, path: Path,
                title: str = "Attitude transitions by group", ncols: int = 2) -> Path:
    """Small multiples of several groups' transition matrices on one colour scale
    (without the single heatmap's cell values, which would not be legible)."""
    if not matrices:
        raise ValueError("no groups to plot")
    ncols = min(ncols, len(matrices))
    nrows = math.ceil(len(matrices) / ncols)
    fig = Figure(figsize=(6.5 * ncols, 6.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    images = []
    for k, (ax, (group, matrix)) in enumerate(zip(axes, matrices.items(), strict=False)):
        images.append(_heatmap(ax, square_matrix(matrix), space, annotate=False))
        ax.set_title(f"({chr(ord('a') + k)}) {group}", parse_math=False)  # as in MADS fig. 2
    for ax in axes[len(matrices):]:
        ax.set_visible(False)
    fig.colorbar(images[0], ax=list(axes), label="P(next attitude | attitude)", shrink=0.6)
    fig.suptitle(title, parse_math=False)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path
