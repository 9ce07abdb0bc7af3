"""What a soak measured: per-window latency, memory/fd/task trends with their slope after
warm-up, calls and turns lost (``summarize_soak``), and the printed table (``report``).
The soak itself (callers, sampling) is ``server.bench_soak``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

from agent.compliance import normalize_caller_id
from server.bench_calls import spread

if TYPE_CHECKING:
    from server.bench_soak import CallRecord, Sample, SoakBench

TASKS_METRIC = "salesvoice_asyncio_tasks"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per hour; None under 3 points."""
    if len(points) < 3:
        return None
    t, v = np.array(points, dtype=np.float64).T
    if np.ptp(t) == 0:
        return None
    return float(np.polyfit(t / 3600, v, 1)[0])


def summarize_soak(soak: SoakBench, records: Sequence[CallRecord], samples: Sequence[Sample],
                   stored: dict[str, dict[str, Any]], log_errors: list[str],
                   elapsed_s: float) -> dict[str, Any]:
    """The soak's verdict (pure: the callers' records and the server's, in)."""
    by_caller_id = {normalize_caller_id(d["caller_id"]): d for d in stored.values()
                    if d.get("caller_id")}
    lost: list[dict[str, Any]] = []
    for r in records:
        detail = stored.get(r.call_id) if r.call_id else None
        kept = {t["index"] for t in detail["turns"]} if detail else set()
        if missing := sorted(set(r.seen_turns) - kept):
            lost.append({"call_id": r.call_id, "caller_id": r.caller_id, "turns": missing})
    twilio = [r for r in records if r.protocol == "twilio"]
    twilio_missing = [r.caller_id for r in twilio
                      if normalize_caller_id(r.caller_id) not in by_caller_id]
    unfinished = [c for c, d in stored.items() if d.get("finished_at") is None]
    stored_turns = sum(len(d["turns"]) for d in stored.values())
    counted = [s.turns_total for s in samples if s.turns_total is not None]
    errors = [s.errors_total for s in samples if s.errors_total is not None]
    server_counted = counted[-1] - counted[0] if len(counted) > 1 else None
    error_growth = errors[-1] - errors[0] if len(errors) > 1 else None
    bad_closes = [{"caller_id": r.caller_id, "protocol": r.protocol, "kind": r.kind,
                   "close_code": r.close_code,
                   "error": r.error or ("no close from the server after the hang-up"
                                        if r.close_code is None else None)}
                  for r in records if not r.completed]

    windows = []
    n_windows = max(1, int(np.ceil(elapsed_s / soak.window_s)))
    for w in range(n_windows):
        lo, hi = w * soak.window_s, (w + 1) * soak.window_s
        v2v = [v for r in records for t, v in r.v2v if lo <= t < hi]
        rss = [s.rss_mib for s in samples if lo <= s.t_s < hi and s.rss_mib is not None]
        windows.append({"from_s": lo, "to_s": min(hi, elapsed_s), **{
            f"v2v_{k}": v for k, v in spread(v2v).items()},
            "calls_started": sum(lo <= r.started_s < hi for r in records),
            "rss_mib_mean": float(np.mean(rss)) if rss else None})
    firsts = [w for w in windows if w["v2v_n"]]
    p95_first = firsts[0]["v2v_p95"] if firsts else None
    p95_last = firsts[-1]["v2v_p95"] if firsts else None
    after = [(s.t_s, s.rss_mib) for s in samples
             if s.t_s >= soak.warmup_s and s.rss_mib is not None]
    fds = [(s.t_s, float(s.fds)) for s in samples if s.t_s >= soak.warmup_s and s.fds is not None]
    tasks = [(s.t_s, float(s.tasks)) for s in samples
             if s.t_s >= soak.warmup_s and s.tasks is not None]
    return {
        "config": soak.model_dump(mode="json"),
        "elapsed_s": elapsed_s,
        "calls": {
            "made": len(records), "completed": sum(r.completed for r in records),
            "by_kind": {k: sum(r.kind == k for r in records)
                        for k in ("normal", "hang_up", "slow_reader")},
            "by_protocol": {p: sum(r.protocol == p for r in records) for p in soak.protocols},
            "not_completed": bad_closes,
            "stored": len(stored), "stored_unfinished": unfinished,
            "twilio_not_stored": twilio_missing,
        },
        "turns": {
            "client_seen": sum(len(r.seen_turns) for r in records),
            "stored": stored_turns,
            "server_counted": server_counted,
            "lost": sum(len(x["turns"]) for x in lost), "lost_detail": lost,
            "server_counted_not_stored": (None if server_counted is None
                                          else server_counted - stored_turns),
        },
        "server_errors": {"errors_total_growth": error_growth,
                          "log_errors": len(log_errors), "log_examples": log_errors[:10]},
        "latency_windows": windows,
        "v2v_p95_first_window_s": p95_first, "v2v_p95_last_window_s": p95_last,
        "v2v_p95_last_over_first": (p95_last / p95_first if p95_first and p95_last
                                    else None),
        "rss_mib": {"first": next((s.rss_mib for s in samples if s.rss_mib), None),
                    "last": next((s.rss_mib for s in reversed(samples) if s.rss_mib), None),
                    "max": max((s.rss_mib for s in samples if s.rss_mib), default=None),
                    "slope_after_warmup_mib_per_hour": slope_per_hour(after)},
        "fds": {"max": max((int(v) for _, v in fds), default=None),
                "slope_after_warmup_per_hour": slope_per_hour(fds)},
        "tasks": {"max": max((int(v) for _, v in tasks), default=None),
                  "slope_after_warmup_per_hour": slope_per_hour(tasks),
                  "note": None if tasks else f"the server exports no {TASKS_METRIC} gauge"},
        "samples": [asdict(s) for s in samples],
        "records": [{k: v for k, v in asdict(r).items() if k != "v2v"} for r in records],
    }


def report(result: dict[str, Any], console: Console) -> None:
    """The headline and the per-window table."""
    c, t, e = result["calls"], result["turns"], result["server_errors"]
    console.print(
        f"[bold]soak[/] {result['elapsed_s'] / 60:.1f} min: calls {c['completed']}/{c['made']} "
        f"completed ({c['by_kind']}), turns seen {t['client_seen']}, stored {t['stored']}, "
        f"[{'green' if not t['lost'] else 'red'}]lost {t['lost']}[/], server errors "
        f"{e['errors_total_growth']} (+{e['log_errors']} in the log)")
    rss = result["rss_mib"]
    console.print(f"RSS {_fmt(rss['first'])} → {_fmt(rss['last'])} MiB (max {_fmt(rss['max'])}),"
                  f" slope after warm-up {rss['slope_after_warmup_mib_per_hour']} MiB/h; fds max "
                  f"{result['fds']['max']}; tasks max {result['tasks']['max']}")
    table = Table("window", "turns", "v2v p50 s", "v2v p95 s", "calls started", "RSS MiB")
    for w in result["latency_windows"]:
        table.add_row(f"{w['from_s'] / 60:.1f}-{w['to_s'] / 60:.1f} min", str(w["v2v_n"]),
                      _num(w["v2v_p50"]), _num(w["v2v_p95"]), str(w["calls_started"]),
                      _fmt(w["rss_mib_mean"]))
    console.print(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
