"""The dashboard's data routes on a temporary SQLite store of synthetic calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from agent.ab_analysis import analyze
from server.bench_dashboard import EXPERIMENT, Seeded, seed
from server.dashboard import AnalysisCache, call_detail, dashboard_data, dashboard_page
from server.store import CallStore
from server.store_ab import ExperimentStore

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class LiveCall:
    """What the dashboard reads of a live call (server.calls.Call)."""

    transport: str
    variant: str | None


@dataclass
class DashboardHub:
    """What the dashboard reads of the hub: the store and the live calls."""

    store: CallStore
    calls: dict[str, LiveCall] = field(default_factory=dict)


def app_on(hub: DashboardHub) -> Starlette:
    app = Starlette(routes=[
        Route("/dashboard", dashboard_page),
        Route("/api/dashboard", dashboard_data),
        Route("/api/calls/{id}", call_detail),
    ])
    app.state.hub = hub
    return app


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    # 400 calls over 48 hours: half of them inside the default 24-hour window.
    return seed(tmp_path_factory.mktemp("dash") / "calls.db", 400, hours=48, live=2, now=NOW)


@pytest.fixture
def client(seeded: Seeded) -> Iterator[tuple[TestClient, DashboardHub]]:
    store = CallStore(seeded.url)
    hub = DashboardHub(store, {"c000399": LiveCall("twilio", "short-pitch"),
                               "c000398": LiveCall("browser", "control")})
    with TestClient(app_on(hub)) as test_client:
        yield test_client, hub
    asyncio.run(store.aclose())


def everything(url: str) -> list[dict[str, Any]]:
    """Every call with its turns, read through the CallStore API (the independent view)."""

    async def read() -> list[dict[str, Any]]:
        async with CallStore(url) as store:
            summaries = await store.list_calls(limit=10_000)
            return [
                (await store.get_call(s.id)).model_dump()  # type: ignore[union-attr]
                for s in summaries
            ]

    return asyncio.run(read())


def test_dashboard_json_has_the_designed_shape(client: tuple[TestClient, DashboardHub]) -> None:
    response = client[0].get("/api/dashboard")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"now", "live_calls", "recent_calls", "experiments", "latency",
                         "guardrails"}
    recent = data["recent_calls"]
    assert (recent["total"], recent["offset"], recent["limit"]) == (400, 0, 50)
    assert len(recent["items"]) == 50
    assert set(recent["items"][0]) >= {"id", "created_at", "finished_at", "transport",
                                       "experiment", "arm", "how", "outcome", "turns",
                                       "seconds", "v2v_p50_s"}
    assert [c["id"] for c in recent["items"]][:3] == ["c000399", "c000398", "c000397"]
    assert data["latency"]["bucket_s"] == 3600
    assert 24 <= len(data["latency"]["series"]) <= 25
    assert data["experiments"][0]["experiment"] == EXPERIMENT


def test_guardrails_and_latency_equal_a_recount_from_the_call_store(
    client: tuple[TestClient, DashboardHub], seeded: Seeded
) -> None:
    data = client[0].get("/api/dashboard?hours=24").json()
    since = datetime.fromisoformat(data["now"]) - timedelta(hours=24)
    window = [c for c in everything(seeded.url) if c["created_at"] >= since]
    in_turns = [t for c in everything(seeded.url) for t in c["turns"] if t["at"] >= since]
    v2v = [t["timings"]["voice_to_voice_s"] for t in in_turns
           if t["timings"].get("voice_to_voice_s") is not None]
    finished = [(c["finished_at"] - c["created_at"]).total_seconds() for c in window
                if c["finished_at"] is not None]
    g = data["guardrails"]
    assert g["calls"] == len(window)
    assert g["turns"] == len(in_turns)
    assert g["opt_out_rate"] == pytest.approx(
        sum(c["outcome"] == "opted_out" for c in window) / len(window), abs=1e-4)
    assert g["compliance_hits_per_turn"] == pytest.approx(
        sum(bool(t["info"]["compliance"]) for t in in_turns) / len(in_turns), abs=1e-4)
    assert g["mean_call_seconds"] == pytest.approx(np.mean(finished), abs=1e-3)
    assert g["v2v_p95_s"] == pytest.approx(np.percentile(v2v, 95), abs=1e-4)
    series = data["latency"]["series"]
    assert sum(b["turns"] for b in series) == len(v2v)
    assert sum(b["calls"] for b in series) == len(window)
    first = next(b for b in series if b["turns"])
    start = datetime.fromisoformat(first["start"])
    in_bucket = [t["timings"]["voice_to_voice_s"] for t in in_turns
                 if start <= t["at"] < start + timedelta(hours=1)
                 and t["timings"].get("voice_to_voice_s") is not None]
    assert first["v2v_p50_s"] == pytest.approx(np.median(in_bucket), abs=1e-4)


def test_recent_calls_page_on_with_their_arm_and_how(
    client: tuple[TestClient, DashboardHub], seeded: Seeded
) -> None:
    first = client[0].get("/api/dashboard?limit=30").json()["recent_calls"]
    second = client[0].get("/api/dashboard?limit=30&offset=30").json()["recent_calls"]
    ids = [c["id"] for c in first["items"] + second["items"]]
    assert len(set(ids)) == 60 and ids == sorted(ids, reverse=True)
    stored = {c["id"]: c for c in everything(seeded.url)}
    for item in second["items"]:
        call = stored[item["id"]]
        assert item["arm"] == call["variant"]
        assert item["experiment"] == EXPERIMENT
        assert item["how"] in {"assigned", "forced", "no_caller_id"}
        assert item["turns"] == len(call["turns"])
        timed = [t["timings"]["voice_to_voice_s"] for t in call["turns"]
                 if t["timings"].get("voice_to_voice_s") is not None]
        assert item["v2v_p50_s"] == pytest.approx(np.median(timed), abs=1e-4)
    last = client[0].get("/api/dashboard?limit=50&offset=390").json()["recent_calls"]
    assert len(last["items"]) == 10


def test_live_calls_are_the_hubs_with_their_stored_start_and_turns(
    client: tuple[TestClient, DashboardHub]
) -> None:
    live = client[0].get("/api/dashboard").json()["live_calls"]
    assert [(c["id"], c["transport"], c["arm"]) for c in live] == [
        ("c000399", "twilio", "short-pitch"), ("c000398", "browser", "control")]
    assert all(c["turns"] >= 3 and c["created_at"] for c in live)


@pytest.mark.parametrize(("query", "parameter"), [
    ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"),
    ("hours=0", "hours"), ("hours=721", "hours"), ("hours=1.5", "hours"),
    ("offset=-1", "offset"),
])
def test_bad_parameters_get_400_naming_the_parameter(
    client: tuple[TestClient, DashboardHub], query: str, parameter: str
) -> None:
    response = client[0].get(f"/api/dashboard?{query}")
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
    assert repr(parameter) in response.json()["error"]


def test_call_detail_has_each_turns_thought_strategy_and_compliance(
    client: tuple[TestClient, DashboardHub], seeded: Seeded
) -> None:
    stored = {c["id"]: c for c in everything(seeded.url)}
    hit = next(i for i, c in stored.items() if any(t["info"]["compliance"] for t in c["turns"]))
    body = client[0].get(f"/api/calls/{hit}").json()
    assert body["id"] == hit
    assert body["assignment"]["experiment"] == EXPERIMENT
    assert body["assignment"]["arm"] == stored[hit]["variant"]
    turns = body["turns"]
    assert [t["agent_text"] for t in turns] == [t["agent_text"] for t in stored[hit]["turns"]]
    assert turns[1]["user_text"] and turns[1]["thought"]["template"]
    assert turns[1]["strategy"] and turns[1]["voice_to_voice_s"] > 0
    assert any(t["compliance"] for t in turns)


def test_unknown_call_is_404(client: tuple[TestClient, DashboardHub]) -> None:
    response = client[0].get("/api/calls/no-such-call")
    assert response.status_code == 404
    assert "no-such-call" in response.json()["error"]


def test_experiment_is_the_analysis_of_its_units(
    client: tuple[TestClient, DashboardHub], seeded: Seeded
) -> None:
    shown = client[0].get("/api/dashboard").json()["experiments"]

    async def direct() -> dict[str, Any]:
        async with CallStore(seeded.url) as store:
            experiments = ExperimentStore(store)
            record = await experiments.get(EXPERIMENT)
            assert record is not None
            data = await experiments.units(EXPERIMENT)
            return analyze(record.spec, data, now=NOW, status=record.status).to_json()

    expected = asyncio.run(direct())
    assert len(shown) == 1
    for key in ("verdict", "arms", "comparisons", "srm", "excluded", "plan"):
        assert shown[0][key] == expected[key], key


def test_analyses_are_reused_until_they_expire(seeded: Seeded) -> None:
    ticks = [0.0]
    cache = AnalysisCache(running_ttl_s=10, clock=lambda: ticks[0])

    async def twice() -> tuple[int, int]:
        async with CallStore(seeded.url) as store:
            experiments = ExperimentStore(store)
            first = await cache.analyses(experiments, NOW)
            ticks[0] = 5.0
            again = await cache.analyses(experiments, NOW)
            ticks[0] = 16.0
            later = await cache.analyses(experiments, NOW)
            return sum(a is b for a, b in zip(first, again, strict=True)), sum(
                a is b for a, b in zip(first, later, strict=True))

    assert asyncio.run(twice()) == (1, 0)


def test_an_empty_store_gives_empty_sections(tmp_path: Path) -> None:
    seeded = seed(tmp_path / "calls.db", 0, experiment=False)
    store = CallStore(seeded.url)
    try:
        with TestClient(app_on(DashboardHub(store))) as test_client:
            data = test_client.get("/api/dashboard").json()
    finally:
        asyncio.run(store.aclose())
    assert data["recent_calls"] == {"total": 0, "offset": 0, "limit": 50, "items": []}
    assert data["experiments"] == [] and data["live_calls"] == []
    assert all(b["v2v_p50_s"] is None and b["calls"] == 0 for b in data["latency"]["series"])
    assert data["guardrails"]["calls"] == 0 and data["guardrails"]["opt_out_rate"] is None


def test_the_page_loads_its_script_from_this_server(
    client: tuple[TestClient, DashboardHub]
) -> None:
    response = client[0].get("/dashboard")
    assert response.status_code == 200
    assert '<script type="module" src="/static/dashboard.js">' in response.text
    assert "http://" not in response.text and "https://" not in response.text
