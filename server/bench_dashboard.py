"""``salesvoice bench dashboard``: the dashboard on a store of many synthetic calls.

Seeds a fresh SQLite call store with ``calls`` synthetic calls (turns with timings,
thoughts, strategies and compliance notes; a running two-arm experiment with its
assignments), then times ``GET /api/dashboard`` and the page rendered in headless
Chromium. A benchmark, not a test: it prints and returns what it measured.

    from server.bench_dashboard import run
    run(calls=10_000)

``seed`` is also what the dashboard's tests build their stores with.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from agent.compliance import normalize_caller_id
from models.errors import SalesvoiceError
from server.experiments import Arm, Conversion, Experiment, Plan
from server.hub import Hub
from server.store import CallStore
from server.store_ab import ExperimentStore
from server.store_db import open_database
from server.store_schema import assignments, calls, turns

EXPERIMENT = "greeting-test"
RATES = {"control": 0.10, "short-pitch": 0.13}
"""True in-call conversion rate per arm of the seeded experiment."""
_LINES = [
    ("Hello? Who is this?", "pivot", "Ask what they do for a living."),
    ("I'm a nurse, I work nights.", "chitchat", "Mirror their schedule."),
    ("We have some cover already.", "continue", "Compare, do not dismiss."),
    ("How much would that cost?", "confirm", "Quote a range, never a promise."),
    ("I need to think about it.", "continue", "Offer to send the details."),
    ("Please don't call me again.", "chitchat", "Respect the opt-out at once."),
    ("Sure, send me the quote.", "confirm", "Confirm the email address."),
]
_RULES = ["guaranteed_returns", "pressure_tactics", "unlicensed_advice"]


@dataclass(frozen=True, slots=True)
class Seeded:
    url: str
    calls: int
    turns: int
    experiment: str
    start: datetime
    now: datetime


def _outcome(rng: random.Random, arm: str | None) -> str:
    if rng.random() < RATES.get(arm or "control", 0.1):
        return "accepted"
    return rng.choices(
        ["withdrew", "goodbye", "hung_up", "opted_out", "max_turns", "explicit_intent"],
        [30, 30, 20, 5, 5, 3],
    )[0]


def _turn_rows(rng: random.Random, call_id: str, at: datetime, n: int, slow: float,
               ) -> tuple[list[dict[str, Any]], datetime]:
    rows = []
    for i in range(n):
        v2v = None if i == 0 else round(rng.lognormvariate(math.log(0.75 * slow), 0.35), 3)
        user, template, strategy = _LINES[(i - 1) % len(_LINES)] if i else ("", "chitchat", "")
        hit = [rng.choice(_RULES)] if i and rng.random() < 0.03 else []
        timings: dict[str, Any] = {"end_reason": "silence" if i else "greeting"}
        if v2v is not None:
            timings.update(speech_end=100.0 + i * 9, first_audio_out=100.0 + i * 9 + v2v,
                           voice_to_voice_s=v2v)
        rows.append({
            "call_id": call_id, "turn_index": i, "at": at, "user_text": user,
            "agent_text": "Hi, this is Sam from Acme Insurance. Do you have a minute?" if i == 0
            else f"Reply {i}: thanks for telling me that; may I ask one more thing?",
            "interrupted": i > 0 and rng.random() < 0.08,
            "timings": timings,
            "thought": {"template": template, "intent": "life" if template != "chitchat" else None,
                        "user_state": "engaged", "note": f"turn {i}: {strategy or 'greet'}"},
            "strategy": strategy or None,
            "info": {"compliance": hit,
                     "compliance_detail": [{"rule": r, "why": "synthetic"} for r in hit]},
        })
        at += timedelta(seconds=rng.uniform(6, 14))
    return rows, at


async def _create_experiment(url: str, start: datetime) -> None:
    async with CallStore(url, clock=lambda: start) as store:
        await ExperimentStore(store).create(Experiment(
            name=EXPERIMENT,
            arms=[Arm(name=arm, program="insurance-default", weight=1.0) for arm in RATES],
            control="control",
            conversion=Conversion(in_call=["accepted"], outcomes=[]),
            plan=Plan(baseline=0.10, mde=0.03),
            guardrails=["opt_out_rate", "compliance_hits_per_turn", "call_seconds",
                        "voice_to_voice_p95_s"],
        ))


def seed(path: Path, calls_n: int, *, hours: float = 24.0, live: int = 0, seed_: int = 7,
         now: datetime | None = None, experiment: bool = True) -> Seeded:
    """A fresh SQLite store at ``path`` with ``calls_n`` synthetic calls spread over the
    last ``hours`` (the newest ``live`` of them unfinished) and, if ``experiment``, a
    running A/B experiment holding the calls that have a caller id. Bulk-inserted in one
    transaction (the CallStore's one-commit-per-write API would take minutes)."""
    if path.exists():
        raise SalesvoiceError(f"{path} exists; the dashboard bench seeds a fresh store")
    url = f"sqlite:///{path}"
    now = now or datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=hours)
    rng = random.Random(seed_)
    if experiment:
        asyncio.run(_create_experiment(url, start - timedelta(minutes=1)))
    call_rows: list[dict[str, Any]] = []
    turn_rows: list[dict[str, Any]] = []
    assign_rows: list[dict[str, Any]] = []
    step = (now - start) / max(calls_n, 1)
    for k in range(calls_n):
        call_id = f"c{k:06d}"
        created = start + step * k
        caller = None if rng.random() < 0.05 else f"+1555{rng.randrange(10**7):07d}"
        forced = caller is not None and rng.random() < 0.01
        arm = rng.choice(list(RATES)) if experiment else None
        slow = 1.0 if arm in (None, "control") else 1.08
        rows, end = _turn_rows(rng, call_id, created, rng.randint(3, 8), slow)
        turn_rows += rows
        running = k >= calls_n - live
        call_rows.append({
            "id": call_id, "source": "live", "transport": rng.choice(["browser", "twilio"]),
            "created_at": created, "finished_at": None if running else end,
            "caller_key": normalize_caller_id(caller) if caller else None,
            "caller": {"caller_id": caller, "occupation": "nurse"},
            "program_version": "p-synthetic", "variant": arm,
            "outcome": None if running else _outcome(rng, arm),
            "outcome_intent": None, "end_reason": None if running else "agent",
            "caller_wav": None, "agent_wav": None,
        })
        if arm is not None:
            assign_rows.append({
                "call_id": call_id, "experiment": EXPERIMENT, "arm": arm,
                "how": "forced" if forced else "assigned" if caller else "no_caller_id",
                "unit_key": f"caller:{normalize_caller_id(caller)}" if caller
                else f"call:{call_id}",
                "epoch": 0, "at": created,
            })
    engine = open_database(url, lambda: now)
    try:
        with engine.begin() as conn:
            for table, rows in ((calls, call_rows), (turns, turn_rows),
                                (assignments, assign_rows)):
                if rows:  # an empty list would insert one row of defaults
                    conn.execute(insert(table), rows)
    finally:
        engine.dispose()
    return Seeded(url, calls_n, len(turn_rows), EXPERIMENT if experiment else "", start, now)


# -- the benchmark ------------------------------------------------------------------------


@contextmanager
def serving(url: str, *, api_token: str | None = None) -> Iterator[tuple[str, Hub]]:
    """The call server (every route, the API auth included) on ``url``'s store, served by
    uvicorn on a free loopback port, with scripted models: the dashboard needs none.
    Yields (base URL, hub)."""
    import uvicorn

    from agent.program import load_program_set
    from models.asr.fake import FakeASR
    from models.llm.fake import FakeLLM
    from models.tts.fake import FakeTTS
    from models.vad.fake import FakeVAD
    from server.app import create_app
    from server.bench_server import free_port
    from server.settings import ServerSettings, Settings

    settings = Settings(server=ServerSettings(database_url=url, api_token=api_token))
    store = CallStore(url)
    hub = Hub(settings, FakeVAD(), FakeASR([]), FakeTTS(), FakeLLM([]), store,
              load_program_set(settings.server.program))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, hub=hub), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SalesvoiceError("the dashboard's server did not start in 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", hub
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        asyncio.run(store.aclose())


def _time_json(base: str, repeats: int) -> list[float]:
    import httpx

    out = []
    with httpx.Client(timeout=60) as client:
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = client.get(f"{base}/api/dashboard")
            response.raise_for_status()
            response.json()
            out.append(time.perf_counter() - t0)
    return out


async def _time_page(base: str, repeats: int, chromium: str,
                     ) -> tuple[list[float], list[float], list[float]]:
    """Per load: navigation to fully drawn, the data call's duration, the drawing's."""
    from playwright.async_api import async_playwright

    out: list[float] = []
    fetch: list[float] = []
    draw: list[float] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium,
                                          args=["--no-sandbox", "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        for _ in range(repeats):
            t0 = time.perf_counter()
            await page.goto(f"{base}/dashboard")
            await page.wait_for_function("document.body.dataset.loaded === '1'", timeout=60000)
            out.append(time.perf_counter() - t0)
            fetch.append(await page.evaluate(
                "performance.getEntriesByType('resource')"
                ".find(e => e.name.includes('/api/dashboard')).duration / 1000"))
            draw.append(float(await page.evaluate("document.body.dataset.drawMs")) / 1000)
        await browser.close()
    return out, fetch, draw


def run(calls: int = 10_000, *, repeats: int = 5) -> dict[str, Any]:
    """Seed ``calls`` synthetic calls in a fresh store, time the dashboard's JSON and the
    page rendered in headless Chromium (navigation to fully drawn); print and return it."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="salesvoice-dash-") as tmp:
        t0 = time.perf_counter()
        seeded = seed(Path(tmp) / "calls.db", calls, live=0)
        seed_s = time.perf_counter() - t0
        with serving(seeded.url) as (base, _hub):
            json_s = _time_json(base, repeats)
            page_s, fetch_s, draw_s = asyncio.run(_time_page(base, repeats, chromium))
    def summary(times: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(times), 4), "max": round(max(times), 4),
                "first": round(times[0], 4)}

    # The first JSON computes the experiment's analysis; later ones reuse it (15 s).
    result = {
        "calls": seeded.calls, "turns": seeded.turns, "seed_s": round(seed_s, 2),
        "json_s": summary(json_s), "page_s": summary(page_s),
        "page_fetch_s": summary(fetch_s), "page_draw_s": summary(draw_s),
    }
    print(json.dumps(result, indent=2))
    return result
