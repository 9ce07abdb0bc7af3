"""The operator and CRM routes over real HTTP: who may use them (token, loopback), later
outcomes posted all or nothing, experiments' analyses, and a server that stays up after
bad requests."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from starlette.requests import Request

from server.api import MAX_OUTCOME_BYTES, MAX_OUTCOME_ROWS, refuse_unauthorized
from server.store import CallStore
from server.store_schema import outcomes
from tests.unit.test_server_ab import (
    EXPERIMENT,
    call,
    experiment,
    operator_store,
    serving,
    settings_for,
)

TOKEN = "s3cret-operator-token"
ROUTES = [("GET", "/api/experiments"), ("GET", f"/api/experiments/{EXPERIMENT}"),
          ("GET", "/api/dashboard"), ("GET", "/api/calls/nope"), ("POST", "/api/outcomes")]


async def request(address: str, method: str, path: str, *, token: str | None = None,
                  headers: dict[str, str] | None = None, body: Any = None,
                  content: bytes | None = None) -> httpx.Response:
    """One HTTP request; ``body`` is sent as JSON, ``content`` as given."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as client:
        return await client.request(method, path, headers=sent, json=body, content=content)


async def stored_outcomes(store: CallStore) -> int:
    def count(engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outcomes)).scalar_one())

    return await store.run(count)


async def test_with_a_token_every_operator_route_needs_it_and_a_wrong_one_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(tmp_path, api_token=TOKEN)
    async with operator_store(settings) as ops:
        await ops.create(experiment({"a": ("insurance-default", 1.0),
                                     "b": ("insurance-default", 1.0)}))
    async with serving(settings) as (address, _hub):
        with caplog.at_level(logging.DEBUG):
            for method, path in ROUTES:
                body: list[Any] | None = [] if method == "POST" else None
                none = await request(address, method, path, body=body)
                wrong = await request(address, method, path, token="s3cret-operator-tokeN",
                                      body=body)
                basic = await request(address, method, path,
                                      headers={"Authorization": f"Basic {TOKEN}"}, body=body)
                right = await request(address, method, path, token=TOKEN, body=body)
                assert (none.status_code, wrong.status_code, basic.status_code) == (
                    401, 401, 401), path
                assert none.headers["www-authenticate"] == "Bearer"
                assert "api_token" in none.json()["error"]
                assert wrong.json() == {"error": "wrong API token"}
                assert right.status_code not in (401, 403), path
                assert TOKEN not in none.text + wrong.text + basic.text + right.text
            page = await request(address, "GET", "/dashboard")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_without_a_token_only_this_machine_may_use_the_api(tmp_path: Path) -> None:
    async with serving(settings_for(tmp_path)) as (address, _hub):
        local = await request(address, "GET", "/api/experiments")
        assert local.status_code == 200 and local.json() == {"experiments": []}
        proxied = await request(address, "GET", "/api/experiments",
                                headers={"X-Forwarded-For": "203.0.113.7"})
        assert proxied.status_code == 403
        assert "[server] api_token" in proxied.json()["error"]
        # A token sent to a server without one changes nothing: loopback is the rule.
        assert (await request(address, "GET", "/api/experiments", token="x")).status_code == 200


@pytest.mark.parametrize(("peer", "allowed"), [
    (("127.0.0.1", 5000), True), (("::1", 5000), True), (("127.8.0.2", 5000), True),
    (("10.0.0.5", 5000), False), (("203.0.113.9", 5000), False), (None, False),
])
def test_the_loopback_rule_is_decided_by_the_peer_address(
    peer: tuple[str, int] | None, allowed: bool,
) -> None:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/api/experiments",
                             "headers": [], "client": peer, "query_string": b""}
    refusal = refuse_unauthorized(Request(scope), None)
    assert (refusal is None) == allowed
    if refusal is not None:
        assert refusal.status_code == 403
        assert json.loads(bytes(refusal.body))["error"].count("api_token") == 1


async def test_outcomes_are_stored_all_or_nothing_and_a_repost_is_skipped(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, api_token=TOKEN)
    async with serving(settings) as (address, hub):
        code, messages = await call(address, caller_id="+15550100500")
        assert code == 1000
        call_id = next(m["call_id"] for m in messages if m["type"] == "ready")
        good = [
            {"call_id": call_id, "outcome": "quote_sent", "time": "2026-01-05T14:30:00Z"},
            {"caller_id": "+1 555 010 0500", "outcome": "policy_bought", "value": 420.0,
             "time": "2026-01-09T10:00:00+01:00"},
        ]
        bad = [*good, {"call_id": "no-such-call", "outcome": "policy_bought",
                       "time": "2026-01-09T10:00:00Z"},
               {"caller_id": "+15550100500", "outcome": "Bad Kind", "time": "2026-01-09"}]
        refused = await request(address, "POST", "/api/outcomes", token=TOKEN, body=bad)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert "row 4, field 'outcome'" in error, error
        assert "nothing imported" in error
        assert await stored_outcomes(hub.store) == 0

        posted = await request(address, "POST", "/api/outcomes?source=crm", token=TOKEN,
                               body=good)
        assert (posted.status_code, posted.json()) == (200, {"added": 2, "skipped": 0})
        again = await request(address, "POST", "/api/outcomes", token=TOKEN, body=good)
        assert (again.status_code, again.json()) == (200, {"added": 0, "skipped": 2})
        unknown_call = await request(address, "POST", "/api/outcomes", token=TOKEN, body=[
            {"call_id": "no-such-call", "outcome": "policy_bought",
             "time": "2026-01-09T10:00:00Z"}])
        assert unknown_call.status_code == 400 and "row 1" in unknown_call.json()["error"]
        stranger = await request(address, "POST", "/api/outcomes", token=TOKEN, body=[
            *good, {"caller_id": "+15550100999", "outcome": "complaint",
                    "time": "2026-01-09T10:00:00Z"}])
        assert stranger.status_code == 400 and "row 3" in stranger.json()["error"]
        assert await stored_outcomes(hub.store) == 2


async def test_bad_outcome_posts_get_clear_errors_and_the_server_stays_up(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, api_token=TOKEN)
    async with serving(settings) as (address, hub):
        cases: list[tuple[bytes, int, str]] = [
            (b"{not json", 400, "not JSON"),
            (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
            (b"\xff\xfe", 400, "not JSON"),
            (b'{"call_id": "x"}', 400, "expected a JSON list"),
            (b"[]", 400, "empty"),
            (b"[1, null]", 400, "row 1"),
            (json.dumps([{}] * (MAX_OUTCOME_ROWS + 1)).encode(), 413, "at most 10000"),
            (b" " * (MAX_OUTCOME_BYTES + 1), 413, "exceeds"),
        ]
        for body, status, says in cases:
            got = await request(address, "POST", "/api/outcomes", token=TOKEN, content=body,
                                headers={"Content-Type": "application/json"})
            assert got.status_code == status, (body[:20], got.text)
            assert says in got.json()["error"], got.json()
        bad_source = await request(address, "POST", "/api/outcomes?source=Not%20A%20Slug",
                                   token=TOKEN, body=[])
        assert bad_source.status_code == 400 and "'source'" in bad_source.json()["error"]
        wrong_method = await request(address, "GET", "/api/outcomes", token=TOKEN)
        assert wrong_method.status_code == 405
        health = await request(address, "GET", "/healthz")
        assert health.json()["status"] == "ok"
        code, _ = await call(address, caller_id="+15550100600")
        assert code == 1000
        assert await stored_outcomes(hub.store) == 0


async def test_experiments_are_listed_and_each_has_its_analysis(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    async with operator_store(settings) as ops:
        await ops.create(experiment({"a": ("insurance-default", 1.0),
                                     "b": ("insurance-default", 3.0)}))
    async with serving(settings) as (address, hub):
        for i in range(4):
            assert (await call(address, caller_id=f"+1555010070{i}"))[0] == 1000
        await call(address, caller_id="+15550100710", variant="b")
        listed = (await request(address, "GET", "/api/experiments")).json()["experiments"]
        assert [(e["name"], e["status"], e["epoch"]) for e in listed] == [
            (EXPERIMENT, "running", 0)]
        assert [(a["arm"], a["weight"]) for a in listed[0]["arms"]] == [("a", 1.0), ("b", 3.0)]

        analysis = (await request(address, "GET", f"/api/experiments/{EXPERIMENT}")).json()
        assert (analysis["experiment"], analysis["control"]) == (EXPERIMENT, "a")
        assert analysis["verdict"] == "not enough data yet"
        assert sum(a["units"] for a in analysis["arms"]) == 4
        assert analysis["excluded"]["forced"] == 1
        with_forced = await request(address, "GET",
                                    f"/api/experiments/{EXPERIMENT}?include_forced=1")
        assert sum(a["units"] for a in with_forced.json()["arms"]) == 5

        missing = await request(address, "GET", "/api/experiments/nope")
        assert missing.status_code == 404 and "'nope'" in missing.json()["error"]
        bad = await request(address, "GET", f"/api/experiments/{EXPERIMENT}?include_forced=2")
        assert bad.status_code == 400
        calls = await hub.store.list_calls()
        detail = await request(address, "GET", f"/api/calls/{calls[0].id}")
        assert detail.status_code == 200 and detail.json()["assignment"]["experiment"] == (
            EXPERIMENT)



async def test_metrics_expose_process_memory_fds_and_live_tasks(tmp_path: Path) -> None:
    # What `salesvoice bench soak` watches for growth over a long run.
    async with serving(settings_for(tmp_path)) as (address, _hub):
        text = (await request(address, "GET", "/metrics")).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["process_resident_memory_bytes"] > 10 * 2**20
    assert values["process_open_fds"] >= 3
    assert values["salesvoice_asyncio_tasks"] >= 1  # at least the request being served
