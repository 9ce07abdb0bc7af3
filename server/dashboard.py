"""The operator dashboard: its page and the two data routes behind the API auth.

    GET /dashboard          the page (static HTML/JS/CSS; needs no token, its data calls do)
    GET /api/dashboard      live calls, a page of recent calls, experiments' analyses,
                            latency percentiles per time bucket, guardrails of the window
    GET /api/calls/{id}     one stored call: each turn's lines, thought, strategy, timings,
                            compliance notes

Fast on big stores: a handful of queries, each reading only the columns it needs (turn
latencies come out of the JSON column in SQL, not by parsing every row's timings), run
on a thread of their own so live turn writes never wait for the dashboard.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, case, extract, func, select
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from server.hub import Hub
from server.store import CallStore
from server.store_ab import ExperimentStore
from server.store_schema import assignments, calls, turns

STATIC = Path(__file__).parent / "static"
MAX_LIMIT = 200
MAX_HOURS = 720
MAX_BUCKETS = 48
"""The latency chart's buckets: an hour each up to 48 hours, wider beyond."""
STOPPED_SHOWN = 4
T = TypeVar("T")
_Floats = npt.NDArray[np.float64]


class BadParameter(ValueError):
    """A query parameter out of its range; the message names it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"query parameter {name!r}: {message}")
        self.name = name


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadParameter(name, f"must be between {low} and {high}, got {value}")
    return value


def _bad(exc: BadParameter) -> Response:
    return JSONResponse({"error": str(exc), "parameter": exc.name}, status_code=400)


# -- handlers -------------------------------------------------------------------------------


async def dashboard_page(request: Request) -> Response:
    """The page; its script fetches the data (and asks for the API token if needed)."""
    return FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-cache"})


async def dashboard_data(request: Request) -> Response:
    """``GET /api/dashboard?offset=0&limit=50&hours=24`` (see the module docstring)."""
    try:
        offset = _int_param(request, "offset", 0, 0, 10**9)
        limit = _int_param(request, "limit", 50, 1, MAX_LIMIT)
        hours = _int_param(request, "hours", 24, 1, MAX_HOURS)
    except BadParameter as exc:
        return _bad(exc)
    hub: Hub = request.app.state.hub
    now = datetime.now(UTC)
    live = {call_id: (call.transport, call.variant) for call_id, call in hub.calls.items()}
    window = Window.of(now, hours)
    snapshot = await _read(hub.store, lambda conn: read_snapshot(conn, window, offset, limit,
                                                                  list(live)))
    cache: AnalysisCache | None = getattr(request.app.state, "dashboard_cache", None)
    if cache is None:
        cache = request.app.state.dashboard_cache = AnalysisCache()
    experiments = await cache.analyses(ExperimentStore(hub.store), now)
    live_calls = [
        {"id": call_id, "created_at": created, "transport": live[call_id][0],
         "arm": live[call_id][1], "turns": n}
        for call_id, (created, n) in snapshot.live.items()
    ]
    live_calls.sort(key=lambda c: str(c["created_at"]), reverse=True)
    return JSONResponse({
        "now": now.isoformat(),
        "live_calls": live_calls,
        "recent_calls": {"total": snapshot.total, "offset": offset, "limit": limit,
                         "items": snapshot.recent},
        "experiments": experiments,
        "latency": snapshot.latency,
        "guardrails": snapshot.guardrails,
    }, headers={"Cache-Control": "no-store"})


async def call_detail(request: Request) -> Response:
    """``GET /api/calls/{id}``: the stored call with its turns, or 404."""
    call_id = request.path_params["id"]
    hub: Hub = request.app.state.hub
    detail = await hub.store.get_call(call_id)
    if detail is None:
        return JSONResponse({"error": f"no call {call_id!r} in the call store"}, status_code=404)
    assigned = await _read(hub.store, lambda conn: conn.execute(
        select(assignments.c.experiment, assignments.c.arm, assignments.c.how)
        .where(assignments.c.call_id == call_id)).mappings().first())
    body = detail.model_dump(mode="json")
    for turn in body["turns"]:
        info = turn["info"]
        turn["compliance"] = [str(r) for r in info.get("compliance") or []]
        turn["compliance_detail"] = info.get("compliance_detail") or []
        turn["voice_to_voice_s"] = turn["timings"].get("voice_to_voice_s")
    body["assignment"] = None if assigned is None else dict(assigned)
    body["seconds"] = _seconds(detail.created_at, detail.finished_at)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _read(store: CallStore, fn: Callable[[Connection], T]) -> T:
    # On the store's export thread: live turn writes never queue behind the dashboard
    # (SQLite WAL: this reader does not block the writer either).
    def run(engine: Engine) -> T:
        with engine.connect() as conn:
            return fn(conn)

    return await store.run(run, bulk=True)


# -- experiments ----------------------------------------------------------------------------


class AnalysisCache:
    """Each experiment's Analysis JSON, recomputed at most every ``running_ttl_s`` while it
    runs (``stopped_ttl_s`` once stopped: only late outcomes change it). Reading the units
    touches every call of the experiment; a dashboard polling every few seconds must not
    redo that each time. One per app (``app.state.dashboard_cache``)."""

    def __init__(self, *, running_ttl_s: float = 15.0, stopped_ttl_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.running_ttl_s, self.stopped_ttl_s, self._clock = running_ttl_s, stopped_ttl_s, clock
        self._entries: dict[str, tuple[float, tuple[Any, ...], dict[str, Any]]] = {}

    async def analyses(self, store: ExperimentStore, now: datetime) -> list[dict[str, Any]]:
        """The running experiment first, then the most recently stopped."""
        records = await store.list()
        running = [r for r in records if r.status == "running"]
        stopped = sorted((r for r in records if r.status != "running"),
                         key=lambda r: r.stopped_at or r.created_at, reverse=True)
        shown = [*running, *stopped[:STOPPED_SHOWN]]
        out = []
        for record in shown:
            # A stop or a weight change shows at once, whatever the age of the entry.
            key = (record.status, record.stopped_at, len(record.epochs))
            ttl = self.running_ttl_s if record.status == "running" else self.stopped_ttl_s
            entry = self._entries.get(record.name)
            if entry is None or entry[1] != key or self._clock() - entry[0] > ttl:
                result = (await store.analysis(record.name, now=now)).to_json()
                entry = self._entries[record.name] = (self._clock(), key, result)
            out.append(entry[2])
        for name in set(self._entries) - {r.name for r in shown}:
            del self._entries[name]
        return out


# -- the snapshot: a few queries over the store ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    now: datetime
    since: datetime
    hours: int
    bucket_s: int
    first_bucket: datetime

    @classmethod
    def of(cls, now: datetime, hours: int) -> Window:
        """The last ``hours``, in buckets aligned to whole multiples of the bucket size
        (so a bucket keeps its start from one refresh to the next)."""
        bucket_s = 3600 * math.ceil(hours / MAX_BUCKETS)
        since = now - timedelta(hours=hours)
        first = math.floor(since.timestamp() / bucket_s) * bucket_s
        return cls(now, since, hours, bucket_s, datetime.fromtimestamp(first, UTC))


@dataclass(frozen=True, slots=True)
class Snapshot:
    total: int
    recent: list[dict[str, Any]]
    live: dict[str, tuple[str, int]]
    latency: dict[str, Any]
    guardrails: dict[str, Any]


_V2V = turns.c.timings["voice_to_voice_s"].as_float()


def read_snapshot(conn: Connection, window: Window, offset: int, limit: int,
                  live_ids: list[str]) -> Snapshot:
    """Everything of the dashboard but the experiments, in five queries (four without
    live calls)."""
    total = conn.execute(select(func.count()).select_from(calls)).scalar_one()
    recent = _recent(conn, offset, limit)
    live: dict[str, tuple[str, int]] = {}
    if live_ids:
        n_turns = (select(func.count()).select_from(turns).where(turns.c.call_id == calls.c.id)
                   .correlate(calls).scalar_subquery())
        for row in conn.execute(select(calls.c.id, calls.c.created_at, n_turns)
                                .where(calls.c.id.in_(live_ids))):
            live[row[0]] = (row[1].isoformat(), int(row[2]))
    # Turns of the window: counted in SQL; only the timed ones come back, as (epoch
    # seconds, latency) pairs: no datetime or JSON parsing in Python.
    in_window = turns.c.at >= window.since
    compliance = turns.c.info["compliance"].as_string()
    n_turns_window, hits = conn.execute(
        select(func.count(), func.count(case((compliance.not_in(["[]", "null", ""]), 1))))
        .where(in_window)
    ).one()
    timed = conn.execute(
        select(extract("epoch", turns.c.at), _V2V).where(in_window, _V2V.is_not(None))
    ).all()
    at = np.fromiter((r[0] for r in timed), np.float64, len(timed))
    v2v = np.fromiter((r[1] for r in timed), np.float64, len(timed))
    window_calls = conn.execute(
        select(calls.c.created_at, calls.c.finished_at, calls.c.outcome)
        .where(calls.c.created_at >= window.since)
    ).all()
    return Snapshot(
        total=int(total),
        recent=recent,
        live=live,
        latency=_latency(window, [r[0].timestamp() for r in window_calls], at, v2v),
        guardrails=_guardrails(window, window_calls, int(n_turns_window), int(hits), v2v),
    )


def _recent(conn: Connection, offset: int, limit: int) -> list[dict[str, Any]]:
    page = conn.execute(
        select(calls.c.id, calls.c.created_at, calls.c.finished_at, calls.c.transport,
               calls.c.variant, calls.c.outcome, calls.c.source, assignments.c.experiment,
               assignments.c.arm, assignments.c.how)
        .select_from(calls.outerjoin(assignments, assignments.c.call_id == calls.c.id))
        .order_by(calls.c.created_at.desc(), calls.c.id.desc())
        .limit(limit).offset(offset)
    ).mappings().all()
    ids = [r["id"] for r in page]
    per_call: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    if ids:
        for call_id, value in conn.execute(
            select(turns.c.call_id, _V2V).where(turns.c.call_id.in_(ids))
        ):
            counts[call_id] += 1
            if value is not None:
                per_call[call_id].append(value)
    return [
        {
            "id": r["id"], "created_at": r["created_at"].isoformat(),
            "finished_at": None if r["finished_at"] is None else r["finished_at"].isoformat(),
            "transport": r["transport"], "source": r["source"], "experiment": r["experiment"],
            "arm": r["arm"] if r["arm"] is not None else r["variant"], "how": r["how"],
            "outcome": r["outcome"], "turns": counts[r["id"]],
            "seconds": _seconds(r["created_at"], r["finished_at"]),
            "v2v_p50_s": _round(float(np.median(per_call[r["id"]]))) if per_call[r["id"]]
            else None,
        }
        for r in page
    ]


def _latency(window: Window, call_starts: list[float], at: _Floats, v2v: _Floats,
             ) -> dict[str, Any]:
    """p50/p95 voice-to-voice of the turns in each bucket, and the calls started in it."""
    start = window.first_bucket.timestamp()
    n = math.ceil((window.now.timestamp() - start) / window.bucket_s)
    started = np.bincount(
        np.floor((np.asarray(call_starts) - start) / window.bucket_s).astype(np.int64),
        minlength=n)
    index = np.floor((at - start) / window.bucket_s).astype(np.int64)
    order = np.argsort(index, kind="stable")
    index, v2v = index[order], v2v[order]
    edges = np.searchsorted(index, np.arange(n + 1))
    series = []
    for b in range(n):
        chunk = v2v[edges[b]:edges[b + 1]]
        p50, p95 = (np.percentile(chunk, [50, 95]) if len(chunk) else (None, None))
        series.append({
            "start": datetime.fromtimestamp(start + b * window.bucket_s, UTC).isoformat(),
            "calls": int(started[b]) if b < len(started) else 0,
            "turns": len(chunk), "v2v_p50_s": _round(p50), "v2v_p95_s": _round(p95),
        })
    return {"bucket_s": window.bucket_s, "hours": window.hours, "series": series}


def _guardrails(window: Window, window_calls: Iterable[Any], n_turns: int, hits: int,
                v2v: _Floats) -> dict[str, Any]:
    n = opted = 0
    seconds = []
    for created, finished, outcome in window_calls:
        n += 1
        opted += outcome == "opted_out"
        if finished is not None:
            seconds.append((finished - created).total_seconds())
    return {
        "window_hours": window.hours,
        "calls": n,
        "turns": n_turns,
        "opt_out_rate": _round(opted / n) if n else None,
        "compliance_hits_per_turn": _round(hits / n_turns) if n_turns else None,
        "mean_call_seconds": _round(float(np.mean(seconds))) if seconds else None,
        "v2v_p50_s": _round(float(np.percentile(v2v, 50))) if len(v2v) else None,
        "v2v_p95_s": _round(float(np.percentile(v2v, 95))) if len(v2v) else None,
    }


def _seconds(created: datetime, finished: datetime | None) -> float | None:
    return None if finished is None else _round((finished - created).total_seconds())


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
