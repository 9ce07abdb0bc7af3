"""The live call server end to end: real websocket clients, real speech, real models,
a real SQLite call store."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from typing import Any

import numpy as np
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from models.asr import ASR
from models.audio import PCM
from server.hub import Hub
from tests.integration.conftest import ORIGIN, TOKEN
from tests.integration.server_harness import Pacer, frames, silence, wait_idle
from voice.audio import StreamResampler, ulaw_decode, ulaw_encode
from voice.wer import wer

pytestmark = pytest.mark.real


def start_msg(**caller: Any) -> str:
    return json.dumps({"type": "start", "version": 1, "token": TOKEN, "sample_rate": 16000,
                       "caller": caller})


class BrowserCall:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.audio: list[bytes] = []
        self.pacer = Pacer()
        self.task = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        try:
            async for m in self.ws:
                if isinstance(m, bytes):
                    self.audio.append(m)
                else:
                    self.messages.append(json.loads(m))
        except websockets.ConnectionClosed:
            pass

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def play(self, pcm: PCM) -> None:
        for f in frames(pcm):
            await self.ws.send(f.tobytes())
            await self.pacer.tick(len(f) / 16000)

    async def silence_until(self, predicate: Any, limit_s: float) -> None:
        waited = 0.0
        while not predicate():
            assert waited < limit_s, f"timed out; got {[m['type'] for m in self.messages]}"
            await self.play(silence(0.2))
            waited += 0.2

    def turn_done(self, n: int) -> bool:
        return any(m["turn"] == n for m in self.of("turn"))


async def test_browser_call_with_real_speech_gets_a_spoken_reply_and_a_full_record(
    server: tuple[str, Hub], asr: ASR, librivox: list[tuple[PCM, str]]
) -> None:
    address, hub = server
    await wait_idle(hub)
    pcm, reference = librivox[4]  # "he might even have been made amiable himself"
    async with websockets.connect(f"ws://{address}/ws/call", origin=ORIGIN) as ws:  # type: ignore[arg-type]
        await ws.send(start_msg(caller_id="+15550100001", occupation="nurse"))
        call = BrowserCall(ws)
        await call.silence_until(lambda: call.turn_done(0), 30)  # the greeting plays
        greeting_audio = sum(len(a) for a in call.audio) // 2
        await call.play(pcm)
        await call.silence_until(lambda: call.turn_done(1), 40)
        await ws.send(json.dumps({"type": "end"}))
        await asyncio.wait_for(call.task, 20)
    assert ws.close_code == 1000
    (ready,) = call.of("ready")
    finals = [m["text"] for m in call.of("transcript") if m["final"]]
    assert len(finals) == 1 and wer([reference], finals) <= 0.3
    turn = next(m for m in call.of("turn") if m["turn"] == 1)
    assert turn["agent_text"] and turn["timings"]["voice_to_voice_s"] > 0
    reply = np.frombuffer(b"".join(call.audio), dtype="<i2")[greeting_audio:]
    heard = (await asr.transcribe(reply.astype(np.int16))).text
    print(f"\nuser {finals[0]!r}\nagent {turn['agent_text']!r}\nheard {heard!r}\n"
          f"voice-to-voice {turn['timings']['voice_to_voice_s']:.3f} s")
    assert wer([turn["agent_text"]], [heard]) <= 0.4
    assert call.of("end")[0]["reason"] == "caller"
    record = await hub.store.get_call(ready["call_id"])
    assert record is not None and len(record.turns) == 2
    assert record.turns[1].timings["voice_to_voice_s"] is not None
    assert record.end_reason == "caller"
    dialogue = await hub.store.export_dialogue(ready["call_id"])
    assert [t.speaker for t in dialogue.turns] == ["agent", "user", "agent"]
    assert dialogue.turns[2].thought is not None
    wavs = [record.agent_wav or "", record.caller_wav or ""]
    assert all(await asyncio.gather(*(asyncio.to_thread(os.path.isfile, w) for w in wavs)))


def media(stream_sid: str, pcm8k: PCM, n: int) -> str:
    payload = base64.b64encode(ulaw_encode(pcm8k)).decode()
    return json.dumps({"event": "media", "sequenceNumber": str(n + 2), "streamSid": stream_sid,
                       "media": {"track": "inbound", "chunk": str(n + 1),
                                 "timestamp": str(20 * n), "payload": payload}})


async def test_twilio_call_streams_mulaw_and_clears_on_barge_in(
    server: tuple[str, Hub], librivox: list[tuple[PCM, str]]
) -> None:
    address, hub = server
    await wait_idle(hub)
    sid = "MZ00000000000000000000000000000001"
    down = StreamResampler(16000, 8000)
    speech8k = down.push(librivox[1][0])
    quiet8k = np.zeros(160, dtype=np.int16)
    received: list[dict[str, Any]] = []
    async with websockets.connect(f"ws://{address}/twilio/stream") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({
            "event": "start", "sequenceNumber": "1", "streamSid": sid,
            "start": {"accountSid": "AC0", "streamSid": sid, "callSid": "CA0",
                      "tracks": ["inbound"], "customParameters": {"caller_id": "+15550100002"},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}}}))

        async def receive() -> None:
            async for m in ws:
                received.append(json.loads(m))

        rx = asyncio.create_task(receive())
        pacer, n = Pacer(), 0
        while sum(1 for m in received if m["event"] == "media") < 50:  # greeting playing
            await ws.send(media(sid, quiet8k, n))
            n += 1
            await pacer.tick(0.02)
        for f in frames(speech8k, 160):  # the caller talks over the greeting
            await ws.send(media(sid, f, n))
            n += 1
            await pacer.tick(0.02)
        for _ in range(100):
            await ws.send(media(sid, quiet8k, n))
            n += 1
            await pacer.tick(0.02)
        await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(n + 2),
                                  "streamSid": sid, "stop": {"accountSid": "AC0",
                                                             "callSid": "CA0"}}))
        await asyncio.wait_for(rx, 20)
    events = [m["event"] for m in received]
    assert "clear" in events
    assert all(m["streamSid"] == sid for m in received)
    first_media = next(m for m in received if m["event"] == "media")
    pcm8k = ulaw_decode(base64.b64decode(first_media["media"]["payload"]))
    assert len(pcm8k) == 160  # 20 ms of 8 kHz μ-law
    calls = await hub.store.list_calls(limit=10)
    record = next(c for c in calls if c.transport == "twilio")
    detail = await hub.store.get_call(record.id)
    assert detail is not None and detail.turns[0].interrupted  # the greeting was cut off


class TwilioCaller:
    """Plays Twilio's part from its published message spec: caller audio as 8 kHz μ-law
    media at real-time pace; agent audio "played" on a local clock; each mark echoed
    once the audio sent before it has played."""

    def __init__(self, ws: ClientConnection, sid: str) -> None:
        self.ws, self.sid = ws, sid
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.playout_end = 0.0  # when the agent audio received so far ends playing
        self.pending: list[tuple[float, str]] = []  # marks, due when their audio played
        self.n = 0
        self.pacer = Pacer()
        self.task = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for m in self.ws:
                now, msg = time.monotonic(), json.loads(m)
                self.received.append((now, msg))
                if msg["event"] == "media":
                    self.playout_end = max(self.playout_end, now) + 0.02
                elif msg["event"] == "mark":
                    self.pending.append((self.playout_end, msg["mark"]["name"]))
                elif msg["event"] == "clear":
                    self.playout_end, self.pending = now, []

    def media_after(self, t: float) -> list[float]:
        return [at for at, m in self.received if m["event"] == "media" and at > t]

    async def send_frame(self, pcm8k: PCM) -> None:
        await self.ws.send(media(self.sid, pcm8k, self.n))
        self.n += 1
        now = time.monotonic()
        for due, name in [p for p in self.pending if p[0] <= now]:
            self.pending.remove((due, name))
            await self.ws.send(json.dumps({"event": "mark", "sequenceNumber": str(self.n + 2),
                                           "streamSid": self.sid, "mark": {"name": name}}))
        await self.pacer.tick(0.02)

    async def talk(self, pcm8k: PCM) -> None:
        for f in frames(pcm8k, 160):
            await self.send_frame(f)

    async def wait_until_agent_done(self, limit_s: float) -> float:
        """Quiet until the agent's audio has played out and every mark is echoed, as a
        caller who waits for the answer; returns when the audio ended."""
        quiet, start = np.zeros(160, dtype=np.int16), time.monotonic()
        while True:
            now = time.monotonic()
            heard = any(m["event"] == "media" for _, m in self.received)
            if heard and not self.pending and now - self.playout_end > 1.5:
                return self.playout_end
            assert now - start < limit_s, "the agent never finished"
            await self.send_frame(quiet)

    async def wait_until_recorded(self, hub: Hub, turns: int, limit_s: float) -> None:
        """Quiet until the server has recorded ``turns`` turns of this (only) call. A pause
        between two sentences of a reply is not its end: on a slow machine the next one
        can come more than a second after the last one played, and a caller who hung up
        then would rightly have the reply recorded as cut off."""
        (call_id,), start = list(hub.calls), time.monotonic()
        quiet = np.zeros(160, dtype=np.int16)
        while (d := await hub.store.get_call(call_id)) is None or len(d.turns) < turns:
            assert time.monotonic() - start < limit_s, f"turn {turns} never recorded"
            for _ in range(5):
                await self.send_frame(quiet)


async def test_twilio_caller_after_the_greeting_is_answered_and_a_barge_in_stops_the_agent_at_once(
    server: tuple[str, Hub], librivox: list[tuple[PCM, str]]
) -> None:
    """The regression for a first line, spoken after the whole greeting had played, that
    got no answer; and for the agent talking over the caller for ~1.5 s."""
    address, hub = server
    await wait_idle(hub)
    sid = "MZ00000000000000000000000000000002"
    down = StreamResampler(16000, 8000)
    first, second = down.push(librivox[4][0]), down.push(librivox[1][0])
    async with websockets.connect(f"ws://{address}/twilio/stream") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({
            "event": "start", "sequenceNumber": "1", "streamSid": sid,
            "start": {"accountSid": "AC0", "streamSid": sid, "callSid": "CA0",
                      "tracks": ["inbound"], "customParameters": {"caller_id": "+15550100003"},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}}}))
        caller = TwilioCaller(ws, sid)
        await caller.wait_until_agent_done(30)  # the whole greeting plays, marks echoed
        marks = [m for _, m in caller.received if m["event"] == "mark"]
        last_media = max(i for i, (_, m) in enumerate(caller.received) if m["event"] == "media")
        assert marks and caller.received[-1][1]["event"] == "mark"  # marks follow the audio
        assert last_media < len(caller.received) - 1
        await caller.talk(first)
        spoke = time.monotonic()
        quiet = np.zeros(160, dtype=np.int16)
        while not caller.media_after(spoke):  # the answer must come
            assert time.monotonic() - spoke < 20, "the caller's line got no answer"
            await caller.send_frame(quiet)
        answered = caller.media_after(spoke)[0]
        # 1 s into the answer: a second of its audio received and played (on a busy
        # machine the frames may come later than a second after the first one).
        while len(caller.media_after(spoke)) < 50 or time.monotonic() < answered + 1.0:
            await caller.send_frame(quiet)
        # Speech onset: the clip's first loud 20 ms (it starts with a little silence).
        loud = next(i for i, f in enumerate(frames(second, 160))
                    if np.sqrt(np.mean(f.astype(np.float64) ** 2)) > 500)
        onset = time.monotonic() + 0.02 * loud
        await caller.talk(second)  # ...the caller talks over it
        clears = [at for at, m in caller.received if m["event"] == "clear" and at > onset]
        assert clears and clears[0] - onset <= 0.5, f"clear {clears[:1]} after onset {onset}"
        said = time.monotonic()
        while not caller.media_after(said):  # the answer to the interruption
            assert time.monotonic() - said < 30, "the interruption got no answer"
            await caller.send_frame(quiet)
        await caller.wait_until_agent_done(40)
        await caller.wait_until_recorded(hub, 3, 40)  # greeting, the cut answer, the answer
        await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(caller.n + 2),
                                  "streamSid": sid, "stop": {"accountSid": "AC0",
                                                             "callSid": "CA0"}}))
        await asyncio.wait_for(caller.task, 20)
    print(f"\nfirst answer {answered - spoke:.2f} s after the line; "
          f"clear {clears[0] - onset:.3f} s after the caller spoke over the agent")
    await wait_idle(hub)
    calls = await hub.store.list_calls(limit=20)
    record = next(c for c in calls if c.transport == "twilio")  # newest first: this call
    detail = await hub.store.get_call(record.id)
    assert detail is not None
    assert [t.interrupted for t in detail.turns[:3]] == [False, True, False]
    assert detail.turns[1].user_text and detail.turns[2].user_text  # two lines, not merged
    cut = detail.turns[1]  # recorded as heard: a part of what was written
    assert cut.agent_text and cut.info["agent_full_text"].startswith(cut.agent_text)
    assert len(cut.agent_text) < len(cut.info["agent_full_text"])


async def _refused(address: str, first: str | bytes | None, *, origin: str = ORIGIN,
                   path: str = "/ws/call") -> tuple[int | None, list[dict[str, Any]]]:
    """Open a connection, send ``first``, return the close code and any JSON received."""
    got: list[dict[str, Any]] = []
    ws = await websockets.connect(f"ws://{address}{path}", origin=origin)  # type: ignore[arg-type]
    try:
        if first is not None:
            await ws.send(first)
        async for m in ws:
            if isinstance(m, str):
                got.append(json.loads(m))
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, got


async def test_bad_input_gets_specific_close_codes_while_a_healthy_call_goes_on(
    server: tuple[str, Hub], librivox: list[tuple[PCM, str]]
) -> None:
    address, hub = server
    await wait_idle(hub)
    async with websockets.connect(f"ws://{address}/ws/call", origin=ORIGIN) as ws:  # type: ignore[arg-type]
        await ws.send(start_msg(caller_id="+15550100003"))
        healthy = BrowserCall(ws)
        await healthy.silence_until(lambda: bool(healthy.audio), 20)
        cases = [
            ("not json at all", 1003),
            ('{"type": "start", "version": 1, "sample_rate": "fast"}', 4400),
            ('{"type": "dance"}', 4400),
            (b"\x00\x01", 1003),  # audio before start
            (json.dumps({"type": "start", "version": 1, "token": "wrong"}), 1008),
        ]
        for first, code in cases:
            close, got = await _refused(address, first)
            assert close == code, (first, close, got)
            assert got and got[-1]["type"] == "error" and got[-1]["code"] == code
        close, _ = await _refused(address, start_msg(), origin="http://evil.example.test")
        assert close == 1008
        close, _ = await _refused(address, None)  # says nothing: start timeout
        assert close == 4408
        # A started call that sends an oversized frame is closed with 1009.
        async with websockets.connect(f"ws://{address}/ws/call", origin=ORIGIN) as bad:  # type: ignore[arg-type]
            await bad.send(start_msg())
            await bad.send(b"\x00" * 9000)
            with pytest.raises(websockets.ConnectionClosed):
                async for _ in bad:
                    pass
        assert bad.close_code == 1009
        # The healthy call is unaffected: it finishes its greeting, answers real speech
        # and ends normally.
        await healthy.silence_until(lambda: healthy.turn_done(0), 30)
        await healthy.play(librivox[1][0])
        await healthy.silence_until(lambda: healthy.turn_done(1), 40)
        assert not healthy.of("error")
        await ws.send(json.dumps({"type": "end"}))
        await asyncio.wait_for(healthy.task, 20)
    assert ws.close_code == 1000
    assert hub.metrics.errors.labels(code="1003")._value.get() >= 2


async def test_too_many_concurrent_calls_are_refused_with_try_again_later(
    server: tuple[str, Hub],
) -> None:
    address, hub = server
    await wait_idle(hub)
    async with websockets.connect(f"ws://{address}/ws/call", origin=ORIGIN) as a, \
            websockets.connect(f"ws://{address}/ws/call", origin=ORIGIN) as b:  # type: ignore[arg-type]
        for ws in (a, b):
            await ws.send(start_msg())
            await ws.recv()  # ready
        close, got = await _refused(address, None)  # refused before it can say anything
        assert close == 1013 and got[-1]["code"] == 1013


async def test_a_client_that_vanishes_mid_call_leaves_its_completed_turns_on_disk(
    server: tuple[str, Hub], librivox: list[tuple[PCM, str]]
) -> None:
    address, hub = server
    await wait_idle(hub)
    ws = await websockets.connect(f"ws://{address}/ws/call", origin=ORIGIN)  # type: ignore[arg-type]
    await ws.send(start_msg(caller_id="+15550100004"))
    call = BrowserCall(ws)
    await call.silence_until(lambda: call.turn_done(0), 30)
    await call.play(librivox[1][0])
    await call.silence_until(lambda: call.turn_done(1), 40)
    await call.play(librivox[4][0][:8000])  # mid-sentence...
    ws.transport.abort()  # ...the network drops: no close frame
    call.task.cancel()
    call_id = call.of("ready")[0]["call_id"]
    for _ in range(100):
        record = await hub.store.get_call(call_id)
        if record is not None and record.end_reason is not None:
            break
        await asyncio.sleep(0.1)
    assert record is not None and record.end_reason == "hung_up"
    assert len(record.turns) >= 2 and record.turns[1].agent_text
