"""Limits that hold under concurrency and hostile input: real websocket clients against the
app (scripted models). Call slots are taken when a socket is accepted; waiting and
per-address sockets are capped; audio faster than real time is refused; deep or oversized
JSON gets its code; recordings and echoed marks do not grow in memory; Twilio signs the
stream's upgrade request. A healthy call on the same server finishes normally after each."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import tracemalloc
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from models.audio import HOUSE_RATE
from server.calls import Recording
from server.protocol.twilio import twilio_signature
from server.protocol.wire import MAX_JSON_DEPTH
from tests.unit.test_server_ab import serving, settings_for

FRAME = 320  # 20 ms at 16 kHz
QUIET = np.zeros(FRAME, np.int16).tobytes()
LOUD = (np.sin(np.arange(FRAME) / 3.0) * 8000).astype(np.int16).tobytes()
START = json.dumps({"type": "start", "version": 1})
TWILIO_START = json.dumps({
    "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
    "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1", "tracks": ["inbound"],
              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
              "customParameters": {}},
})
ULAW_20MS = base64.b64encode(b"\xff" * 160).decode()  # μ-law silence, 20 ms at 8 kHz


def twilio_media(n: int) -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1",
                       "media": {"track": "inbound", "chunk": str(n), "timestamp": str(20 * n),
                                 "payload": ULAW_20MS}})


async def until_closed(ws: ClientConnection, seen: list[dict[str, Any]] | None = None,
                       ) -> tuple[int | None, str]:
    """Read until the server closes; (close code, reason)."""
    try:
        async for message in ws:
            if isinstance(message, str) and seen is not None:
                seen.append(json.loads(message))
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or ""


async def until(ws: ClientConnection, kind: str, within: float = 10.0) -> dict[str, Any]:
    """The first message of ``kind`` (JSON ``type``) the server sends."""
    async with asyncio.timeout(within):
        while True:
            message = await ws.recv()
            if isinstance(message, str):
                obj: dict[str, Any] = json.loads(message)
                if obj["type"] == kind:
                    return obj


async def healthy_call(address: str) -> tuple[int | None, list[str]]:
    """Start, say something, hear the agent's turn, hang up: (close code, message types)."""
    async with websockets.connect(f"ws://{address}/ws/call") as ws:
        await ws.send(START)
        await until(ws, "ready")
        for frame in [LOUD] * 30 + [QUIET] * 60:  # 0.6 s of speech, then quiet
            await ws.send(frame)
            await asyncio.sleep(0.02)
        await until(ws, "turn", within=20)
        await ws.send(json.dumps({"type": "end"}))
        seen: list[dict[str, Any]] = []
        code, _ = await until_closed(ws, seen)
    return code, [m["type"] for m in seen]


async def assert_healthy(address: str) -> None:
    code, kinds = await healthy_call(address)
    assert code == 1000
    assert kinds[-1] == "end"


# -- call slots ---------------------------------------------------------------------------


async def test_eight_sockets_at_once_with_a_cap_of_two_give_exactly_two_ready_the_rest_1013(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, max_concurrent_calls=2, max_pending_starts=8)
    async with serving(settings) as (address, hub):
        sockets = await asyncio.gather(
            *(websockets.connect(f"ws://{address}/ws/call") for _ in range(8)))
        everyone_known = asyncio.Event()
        outcomes: list[str] = []

        async def one(ws: ClientConnection) -> tuple[str, int | None, str]:
            seen: list[dict[str, Any]] = []
            try:
                await ws.send(START)
                while True:
                    message = await ws.recv()
                    if isinstance(message, str):
                        seen.append(json.loads(message))
                        if seen[-1]["type"] == "ready":
                            outcomes.append("ready")
                            if len(outcomes) == 8:
                                everyone_known.set()
                            await everyone_known.wait()  # hold the slot until all are known
                            await ws.send(json.dumps({"type": "end"}))
                            code, reason = await until_closed(ws)
                            return "ready", code, reason
            except websockets.ConnectionClosed:
                outcomes.append("refused")
                if len(outcomes) == 8:
                    everyone_known.set()
                return "refused", ws.close_code, ws.close_reason or ""

        async with asyncio.timeout(30):
            results = await asyncio.gather(*(one(ws) for ws in sockets))
        ready = [r for r in results if r[0] == "ready"]
        refused = [r for r in results if r[0] == "refused"]
        assert len(ready) == 2
        assert [code for _, code, _ in ready] == [1000, 1000]
        assert len(refused) == 6
        assert {code for _, code, _ in refused} == {1013}
        assert all("too many concurrent calls (max 2)" in why for _, _, why in refused)
        assert hub.admission.taken == 0  # every slot given back
        await assert_healthy(address)


async def test_sockets_waiting_for_start_are_capped_and_a_started_one_frees_its_place(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, max_concurrent_calls=8, max_pending_starts=2)
    async with serving(settings) as (address, hub):
        url = f"ws://{address}/ws/call"
        first, second = [await websockets.connect(url, max_queue=None) for _ in range(2)]
        third = await websockets.connect(url, max_queue=None)
        code, reason = await until_closed(third)
        assert (code, reason) == (1013, "too many connections waiting to start (max 2); try later")
        await first.send(START)
        await until(first, "ready")  # started: no longer waiting
        await assert_healthy(address)
        await second.close()
        await first.close()
        await asyncio.sleep(0.2)
        assert (hub.admission.taken, hub.admission.pending) == (0, 0)


async def test_connections_from_one_address_are_capped(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, max_concurrent_calls=8, max_connections_per_address=2)
    async with serving(settings) as (address, _hub):
        url = f"ws://{address}/ws/call"
        first, second = [await websockets.connect(url, max_queue=None) for _ in range(2)]
        for ws in (first, second):
            await ws.send(START)
            await until(ws, "ready")
        third = await websockets.connect(url, max_queue=None)
        seen: list[dict[str, Any]] = []
        code, _ = await until_closed(third, seen)
        assert code == 1013
        assert seen[0]["message"] == "too many connections from your address (max 2); try later"
        await first.close()
        await asyncio.sleep(0.3)
        await assert_healthy(address)  # a place from this address is free again
        await second.close()


# -- audio rate --------------------------------------------------------------------------


async def send_paced(ws: ClientConnection, frames: int, speed: float,
                     frame: str | bytes = QUIET) -> None:
    """``frames`` 20 ms frames at ``speed`` x real time (by the wall clock, in batches)."""
    t0 = time.monotonic()
    for i in range(frames):
        await ws.send(frame if not isinstance(frame, str) else twilio_media(i))
        ahead = t0 + (i + 1) * 0.02 / speed - time.monotonic()
        if ahead > 0.01:
            await asyncio.sleep(ahead)


@pytest.mark.parametrize("endpoint", ["browser", "twilio"])
async def test_audio_at_three_times_real_time_is_refused_with_4429(
    tmp_path: Path, endpoint: str
) -> None:
    settings = settings_for(tmp_path, audio_burst_s=1.0)
    path, first = ("/ws/call", START) if endpoint == "browser" else ("/twilio/stream",
                                                                      TWILIO_START)
    frame: str | bytes = QUIET if endpoint == "browser" else "media"
    async with serving(settings) as (address, _hub):
        async with websockets.connect(f"ws://{address}{path}") as ws:
            await ws.send(first)
            await ws.recv()  # ready, or the greeting's audio: the call is live
            t0 = time.monotonic()
            reading = asyncio.create_task(until_closed(ws))  # a client that listens too
            with pytest.raises(websockets.ConnectionClosed):
                await send_paced(ws, 10 * 50, speed=3.0, frame=frame)  # 10 s of audio at 3x
            code, reason = await reading
        assert code == 4429
        assert "faster than 1.5x real time" in reason
        assert time.monotonic() - t0 < 3  # refused once the 1 s burst is used up
        await assert_healthy(address)


async def test_audio_at_real_time_and_a_short_burst_are_accepted(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, audio_burst_s=1.0)
    async with serving(settings) as (address, _hub):
        async with websockets.connect(f"ws://{address}/ws/call") as ws:
            await ws.send(START)
            await until(ws, "ready")
            for _ in range(40):  # 0.8 s at once: a network hiccup delivering late audio
                await ws.send(QUIET)
            await send_paced(ws, 150, speed=1.0)  # 3 s at real time
            await ws.send(json.dumps({"type": "ping", "id": 1}))
            assert (await until(ws, "pong"))["id"] == 1
            await ws.send(json.dumps({"type": "end"}))
            code, _ = await until_closed(ws)
        assert code == 1000


# -- hostile JSON -------------------------------------------------------------------------


async def browser_close(address: str, first: str | bytes, then: str | bytes | None = None,
                        ) -> tuple[int | None, str]:
    async with websockets.connect(f"ws://{address}/ws/call", max_size=None) as ws:
        await ws.send(first)
        if then is not None:
            await until(ws, "ready")
            await ws.send(then)
        return await until_closed(ws)


async def twilio_close(address: str, first: str, then: str | None = None,
                       ) -> tuple[int | None, str]:
    async with websockets.connect(f"ws://{address}/twilio/stream", max_size=None) as ws:
        await ws.send(first)
        if then is not None:
            await ws.send(then)
        return await until_closed(ws)


async def test_nested_and_oversized_json_get_4400_and_1009_in_start_and_mid_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nested = "[" * 60_000
    deep = MAX_JSON_DEPTH + 1
    deep_object = '{"type":"ping","id":' + "[" * deep + "]" * deep + "}"
    big = json.dumps({"type": "ping", "id": "x" * (64 * 1024)})
    too_deep = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    settings = settings_for(tmp_path)
    async with serving(settings) as (address, _hub):
        with caplog.at_level(logging.WARNING):
            assert await browser_close(address, nested) == (4400, too_deep)
            assert await browser_close(address, START, nested) == (4400, too_deep)
            assert await browser_close(address, START, deep_object) == (4400, too_deep)
            assert (await browser_close(address, big))[0] == 1009
            assert (await browser_close(address, START, big))[0] == 1009
            assert await twilio_close(address, nested) == (4400, too_deep)
            assert await twilio_close(address, TWILIO_START, nested) == (4400, too_deep)
            assert (await twilio_close(address, big.replace('"type"', '"event"')))[0] == 1009
            assert (await twilio_close(address, TWILIO_START, "x" * 70_000))[0] == 1009
            code, _ = await browser_close(address, b"\x00\x01")  # binary before start
            assert code == 1003
            await assert_healthy(address)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any("RecursionError" in r.getMessage() for r in caplog.records)


async def test_a_binary_frame_on_the_twilio_stream_is_1003_not_an_internal_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(settings_for(tmp_path)) as (address, _hub):
        with caplog.at_level(logging.WARNING):
            async with websockets.connect(f"ws://{address}/twilio/stream") as ws:
                await ws.send(TWILIO_START)
                await ws.send(b"\x00" * 160)
                code, _ = await until_closed(ws)
            assert code == 1003
            async with websockets.connect(f"ws://{address}/twilio/stream") as ws:
                await ws.send(b"\x00" * 160)
                code, _ = await until_closed(ws)
            assert code == 1003
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- bounded memory -----------------------------------------------------------------------


def test_a_recording_is_written_to_disk_as_it_comes_not_held_in_memory(tmp_path: Path) -> None:
    second = (np.sin(np.arange(HOUSE_RATE) / 5.0) * 3000).astype(np.int16)
    recording = Recording(tmp_path, "call")
    tracemalloc.start()
    try:
        for _ in range(5):
            recording.write("caller", second)
        after_5_s = tracemalloc.get_traced_memory()[0]
        for _ in range(55):
            recording.write("caller", second)
        after_60_s = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_60_s - after_5_s < 64 * 1024  # a minute more audio: no more memory
    assert recording.paths["caller"].stat().st_size >= 59 * 2 * HOUSE_RATE  # it is on disk
    caller, _agent = recording.close()
    with wave.open(caller) as w:
        assert (w.getframerate(), w.getnframes()) == (HOUSE_RATE, 60 * HOUSE_RATE)


async def test_a_live_call_recording_grows_on_disk_during_the_call(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, record_audio=True)
    async with serving(settings) as (address, _hub):
        async with websockets.connect(f"ws://{address}/ws/call") as ws:
            await ws.send(START)
            call_id = (await until(ws, "ready"))["call_id"]
            path = settings.data_dir / "recordings" / f"{call_id}-caller.wav"
            await send_paced(ws, 50, speed=1.0)  # 1 s: 32 kB of PCM
            await asyncio.sleep(0.1)
            during = path.stat().st_size
            await ws.send(json.dumps({"type": "end"}))
            await until_closed(ws)
    assert during >= 16 * 1024  # on disk while the call is live
    assert path.stat().st_size >= 2 * HOUSE_RATE  # the whole second, header patched


async def test_echoed_twilio_marks_are_not_kept(tmp_path: Path) -> None:
    async with serving(settings_for(tmp_path)) as (address, hub):
        async with websockets.connect(f"ws://{address}/twilio/stream", max_queue=None) as ws:
            await ws.send(TWILIO_START)
            await ws.recv()  # the greeting's audio: the call is live

            async def marks(n: int, offset: int) -> None:
                for i in range(n):
                    name = f"turn0-at{offset + i}" if i % 2 else f"nobody-sent-{offset + i}"
                    await ws.send(json.dumps({"event": "mark", "streamSid": "MZ1",
                                              "mark": {"name": name}}))
                await ws.send(twilio_media(0))

            await marks(2_000, 0)
            await asyncio.sleep(0.3)
            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot()
                await marks(10_000, 2_000)
                await asyncio.sleep(0.5)
                after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
            ours = [tracemalloc.Filter(True, "*/server/*"), tracemalloc.Filter(True, "*/voice/*")]
            grown = sum(s.size_diff for s in after.filter_traces(ours).compare_to(
                before.filter_traces(ours), "filename"))
            assert grown < 200 * 1024, grown  # 10,000 marks kept would be a megabyte or more
            assert len(hub.calls) == 1  # and the call is still up
            await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1",
                                      "stop": {"accountSid": "AC1", "callSid": "CA1"}}))
            code, _ = await until_closed(ws)
        assert code == 1000


# -- Twilio signatures ----------------------------------------------------------------------


async def test_twilio_signs_the_stream_upgrade_with_the_wss_url_and_every_webhook_retry(
    tmp_path: Path,
) -> None:
    token, public = "twilio-token", "https://calls.example.com"
    settings = settings_for(tmp_path, twilio_auth_token=token, public_url=public)
    stream_url = "wss://calls.example.com/twilio/stream"
    async with serving(settings) as (address, _hub):
        for signed_url in (stream_url, "wss://calls.example.com:443/twilio/stream"):
            headers = {"X-Twilio-Signature": twilio_signature(token, signed_url)}
            async with websockets.connect(f"ws://{address}/twilio/stream",
                                          additional_headers=headers) as ws:
                await ws.send(TWILIO_START)
                assert json.loads(await ws.recv())["event"] == "media"  # the call is live
        for bad in ({}, {"X-Twilio-Signature": twilio_signature("other", stream_url)}):
            async with websockets.connect(f"ws://{address}/twilio/stream",
                                          additional_headers=bad) as ws:
                assert (await until_closed(ws))[0] == 1008

        form = {"CallSid": "CA1", "From": "+15550100100"}
        signed = {"X-Twilio-Signature": twilio_signature(token, f"{public}/twilio/voice", form)}
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            for _attempt in range(2):  # Twilio retries a webhook with the same signature
                response = await http.post("/twilio/voice", data=form, headers=signed)
                assert response.status_code == 200
                assert f'url="{stream_url}"' in response.text
            tampered = await http.post("/twilio/voice", data={**form, "From": "+1999"},
                                       headers=signed)
            assert tampered.status_code == 403
