"""``salesvoice bench calls``: the console table and the latency plot of a result."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _pair(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "-"
    return f"{s['p50']:.2f} / {s['p95']:.2f}"


def report(result: dict[str, Any], console: Console, plot: Path | None) -> None:
    """Print one row per protocol and concurrency; write the plot when asked."""
    table = Table(title="bench calls, measured at the caller: p50 / p95 (s)")
    for col in ("protocol", "conc.", "calls (failed)", "greeting", "v2v 1st turn",
                "v2v later turns", "unanswered", "barge-in stop", "interrupt/clear",
                "barge-ins missed / not stopped", "server v2v", "RSS MiB/call"):
        table.add_column(col, justify="right")
    for lv in result["levels"]:
        rss = lv["rss"]
        table.add_row(
            lv["protocol"], str(lv["concurrency"]), f"{lv['calls']} ({lv['failed_calls']})",
            _pair(lv["greeting_s"]), _pair(lv["voice_to_voice_first_turn_s"]),
            _pair(lv["voice_to_voice_later_turns_s"]), f"{lv['unanswered']}/{lv['turns']}",
            _pair(lv["barge_in_stop_s"]), _pair(lv["barge_in_flush_s"]),
            f"{lv['barge_ins_missed']} / {lv['barge_ins_not_stopped']} of {lv['barge_ins']}",
            _pair(lv["server_voice_to_voice_s"]),
            f"{rss['per_call_mib']:.0f}" if rss else "-",
        )
    console.print(table)
    console.print(f"server RSS before any call: {result['server_rss_baseline_mib']:.0f} MiB; "
                  "per call = (peak during the level - idle before it) / concurrency")
    if plot is not None:
        write_plot(result, plot)
        console.print(f"wrote {plot}")


def write_plot(result: dict[str, Any], path: Path) -> None:
    """Voice-to-voice latency distribution (ECDF) per concurrency, one panel per protocol;
    first caller turns marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v2v: dict[str, dict[int, list[tuple[float, bool]]]] = defaultdict(lambda: defaultdict(list))
    for call in result["calls"]:
        for t in call["turns"]:
            if t["voice_to_voice_s"] is not None:
                v2v[call["protocol"]][call["concurrency"]].append(
                    (t["voice_to_voice_s"], t["turn"] == 1))
    protocols = list(result["config"]["protocols"])
    fig, axes = plt.subplots(1, len(protocols), figsize=(6 * len(protocols), 4.2),
                             sharex=True, squeeze=False)
    for ax, protocol in zip(axes[0], protocols, strict=True):
        for c in sorted(lv["concurrency"] for lv in result["levels"]
                        if lv["protocol"] == protocol):
            points = sorted(v2v[protocol][c])
            if not points:
                ax.plot([], [], label=f"{c} at a time: no answered turn")
                continue
            xs = [x for x, _ in points]
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            # From 0 at the first value, so that a level with one turn still shows.
            line, = ax.step([xs[0], *xs], [0.0, *ys], where="post",
                            label=f"{c} at a time (n={len(xs)})")
            first = [(x, y) for (x, f), y in zip(points, ys, strict=True) if f]
            if first:
                ax.plot(*zip(*first, strict=True), "o", color=line.get_color(), markersize=5)
        ax.set_title(f"{protocol}: voice-to-voice at the caller (dots: first turn)")
        ax.set_xlabel("end of caller speech → first agent audio (s)")
        ax.set_ylabel("fraction of turns")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
