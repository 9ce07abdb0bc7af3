"""The dashboard in real headless Chromium, on a store of thousands of synthetic calls
and a running experiment, behind the API token; screenshots at two laptop sizes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from server.bench_dashboard import EXPERIMENT, seed, serving
from server.hub import Hub

pytestmark = pytest.mark.real
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "dashboard-test-token"
CALLS = 3000
DASH = "\u2013"  # the page writes ranges with an en dash between the numbers


@dataclass
class LiveCall:
    """What the dashboard reads of a live call; the server drains it on shutdown."""

    transport: str
    variant: str | None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def finish(self, reason: str) -> None:
        self.closed.set()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Hub]]:
    # 20 hours of calls: all stay inside the default 24-hour window while the test runs.
    seeded = seed(tmp_path_factory.mktemp("dash") / "calls.db", CALLS, hours=20, live=2)
    with serving(seeded.url, api_token=TOKEN) as (base, hub):
        live = {f"c{CALLS - 1:06d}": LiveCall("twilio", "short-pitch"),
                f"c{CALLS - 2:06d}": LiveCall("browser", "control")}
        hub.calls.update(live)  # type: ignore[arg-type]
        yield base, hub
        for call_id in live:
            hub.calls.pop(call_id)


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f} %"


def secs(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f} s"


async def tile(page: Page, name: str) -> str:
    return await page.inner_text(f'.tile[data-field="{name}"] .value')


async def api_json(page: Page, path: str) -> Any:
    response = await page.request.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.ok, await response.text()
    return await response.json()


async def test_dashboard_shows_the_apis_numbers_and_opens_a_call(
    dashboard: tuple[str, Hub], tmp_path: Path
) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Chromium is missing: apt-get install chromium (make setup)")
    base, _hub = dashboard
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = await browser.new_page(viewport={"width": 1366, "height": 768},
                                      base_url=base)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                and "401" not in m.text else None)
        elsewhere: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(base) or r.url.startswith("data:")
                else elsewhere.append(r.url))

        # No token yet: the data call is refused and the page asks once.
        await page.goto("/dashboard")
        await page.wait_for_selector("#token-form:not([hidden])")
        await page.fill("#token", "not-the-token")
        await page.press("#token", "Enter")
        await page.wait_for_function(
            "document.querySelector('#token-why').textContent.includes('refused')")
        assert "wrong API token" in await page.inner_text("#token-why")
        await page.fill("#token", TOKEN)
        await page.click("#token-form button")
        await page.wait_for_function("document.body.dataset.loaded === '1'")
        assert await page.is_hidden("#token-form")
        await page.screenshot(path=str(shots / "dashboard-1366x768.png"))
        await page.screenshot(path=str(shots / "dashboard-1366-full.png"), full_page=True)

        data = await api_json(page, "/api/dashboard")
        g = data["guardrails"]
        assert await tile(page, "calls") == f"{g['calls']:,}"
        assert await tile(page, "live") == "2"
        assert await tile(page, "opt_out_rate") == pct(g["opt_out_rate"])
        assert await tile(page, "compliance_hits_per_turn") == pct(
            g["compliance_hits_per_turn"], 2)
        assert await tile(page, "v2v_p95_s") == secs(g["v2v_p95_s"])
        assert await tile(page, "mean_call_seconds") == secs(g["mean_call_seconds"], 1)

        analysis = data["experiments"][0]
        card = page.locator(f'article[data-experiment="{EXPERIMENT}"]')
        verdict = await card.locator('[data-field="verdict"]').inner_text()
        assert verdict.lower().startswith(analysis["verdict"].lower())
        for arm in analysis["arms"]:
            row = card.locator(f'table.arms tr[data-arm="{arm["arm"]}"]')
            assert await row.locator('[data-field="units"]').inner_text() == f"{arm['units']:,}"
            assert await row.locator('[data-field="conversions"]').inner_text() == \
                f"{arm['conversions']:,}"
            assert await row.locator('[data-field="rate"]').inner_text() == pct(arm["rate"])
        assert await card.locator("svg.intervals .ci").count() == 3 * len(analysis["arms"])
        assert await page.locator("#latency-chart path.series").count() == 2
        assert await page.locator("#live-list tbody tr").count() == 2

        recent = data["recent_calls"]
        assert await page.inner_text("#page-info") == f"1{DASH}50 of {recent['total']:,}"
        rows = page.locator("#recent-list tbody tr")
        assert await rows.count() == 50
        await page.click("#next")
        await page.wait_for_function("document.querySelector('#page-info').textContent"
                                     f".startsWith('51{DASH}100')")
        await page.click("#prev")
        await page.wait_for_function("document.querySelector('#page-info').textContent"
                                     f".startsWith('1{DASH}50')")

        # Click through to a call with a compliance hit: its transcript and thoughts.
        shown_ids = await page.locator("#recent-list tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.call)")
        details = [await api_json(page, f"/api/calls/{i}") for i in shown_ids[2:]]
        call = next(d for d in details if any(t["compliance"] for t in d["turns"]))
        await page.click(f'#recent-list tr[data-call="{call["id"]}"] td:first-child')
        await page.wait_for_selector("#call-dialog[open] .turn")
        body = await page.inner_text("#call-body")
        for turn in call["turns"]:
            assert turn["agent_text"] in body
            if turn["user_text"]:
                assert turn["user_text"] in body
            if turn["thought"] is not None:
                assert turn["thought"]["note"] in body
            for rule in turn["compliance"]:
                assert rule in body
        assert await page.locator("#call-body .turn").count() == len(call["turns"])
        await page.screenshot(path=str(shots / "call-1366x768.png"))
        await page.click("#close-call")
        assert not await page.locator("#call-dialog").evaluate("d => d.open")

        await page.set_viewport_size({"width": 1920, "height": 1080})
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(shots / "dashboard-1920x1080.png"))
        await page.screenshot(path=str(shots / "dashboard-1920-full.png"), full_page=True)
        # The next refresh redraws nothing that did not change: the same elements stay.
        await page.evaluate("document.querySelector('#tiles .tile').dataset.mark = 'x'")
        await page.wait_for_timeout(5600)
        assert await page.evaluate(
            "document.querySelector('#tiles .tile').dataset.mark") == "x"
        await browser.close()
    print(f"\nscreenshots: {shots}")
    assert errors == []
    assert elsewhere == []
