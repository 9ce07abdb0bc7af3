"""The call page in real headless Chromium with a fake microphone playing real speech."""

from __future__ import annotations

import asyncio
import json
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import async_playwright

from models.audio import PCM
from server.hub import Hub
from tests.integration.conftest import TOKEN

pytestmark = pytest.mark.real
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def write_wav(path: Path, pcm: PCM, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


async def test_call_page_shows_the_transcript_and_the_agents_reply(
    server: tuple[str, Hub], librivox: list[tuple[PCM, str]], tmp_path: Path
) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Chromium is missing: apt-get install chromium (make setup)")
    address, hub = server
    for _ in range(200):  # earlier calls finish closing first
        if not hub.calls:
            break
        await asyncio.sleep(0.1)
    # The fake microphone loops this file: quiet while the greeting plays, then speech.
    quiet = np.zeros(16000 * 7, dtype=np.int16)
    wav = tmp_path / "caller.wav"
    write_wav(wav, np.concatenate([quiet, librivox[4][0], np.zeros(16000 * 20, np.int16)]))
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sent: list[str] = []
        got: list[str] = []

        def on_socket(ws: Any) -> None:
            ws.on("framesent", lambda p: sent.append(p) if isinstance(p, str) else None)
            ws.on("framereceived", lambda p: got.append(p) if isinstance(p, str) else None)

        page.on("websocket", on_socket)
        await page.goto(f"http://{address}/")
        await page.fill("#occupation", "teacher")
        await page.fill("#caller_id", "+15550100005")
        await page.fill("#token", TOKEN)
        await page.click("#start")
        await page.wait_for_function("document.body.dataset.state === 'live'", timeout=30000)
        await page.wait_for_selector("#transcript .user.final", timeout=60000)
        await page.wait_for_function(
            "document.querySelectorAll('#transcript .agent').length >= 2", timeout=60000
        )
        user = await page.inner_text("#transcript .user.final")
        await page.screenshot(path=str(tmp_path / "call-page.png"), full_page=True)
        for _ in range(300):  # the reply plays on: wait for the page to report it
            if any('"played"' in f and '"turn":0' not in f for f in sent):
                break
            await asyncio.sleep(0.1)
        # Read once the reply has played (its first piece may be a short sentence).
        agents = await page.locator("#transcript .agent").all_inner_texts()
        panel = await page.inner_text("#panel")
        await page.click("#end")
        await page.wait_for_function("document.body.dataset.state === 'ended'", timeout=20000)
        await browser.close()
    print(f"\nuser: {user!r}\nagent: {agents!r}\npanel: {panel[:300]!r}")
    assert "amiable" in user.lower()
    assert len(agents[-1].strip()) > 10
    assert "Voice-to-voice" in panel
    assert errors == []
    # The page reports what it has played: each mark echoed once playback reached it.
    marks = [(m["turn"], m["position"]) for m in map(json.loads, got) if m["type"] == "mark"]
    played = [(m["turn"], m["position"]) for m in map(json.loads, sent)
              if m["type"] == "played"]
    assert played and set(played) <= set(marks)
    assert any(turn >= 1 for turn, _ in played)  # the reply's marks, not only the greeting's
