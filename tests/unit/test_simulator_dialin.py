"""Dial-in against scripted in-process websocket servers (browser protocol and Twilio
Media Streams) with FakeTTS / FakeASR; the server side checks every client message with
the real server codecs."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from agent.dialogue import CallerProfile, Outcome
from models.asr.fake import FakeASR
from models.tts.fake import FakeTTS
from server.protocol.browser import Audio, BrowserCodec, End, Start
from server.protocol.twilio import Mark as TwilioMark
from server.protocol.twilio import Media, Stop, TwilioCodec
from server.protocol.twilio import Start as TwilioStart
from simulator.caller_line import CallDropped, DialInTimeouts
from simulator.dialin import DialIn, NoReply
from simulator.listener import Listener
from simulator.wire import (
    AgentAudio,
    Flush,
    Mark,
    Protocol,
    TurnDone,
    endpoint,
    to_outcome,
)

SPEED = 10.0
CALLER = CallerProfile(caller_id="+15550100042", occupation="nurse", sector="Q", age=41,
                       attributes={"persona": {"mbti": "INFJ"}, "plan": "gold"})
GREETING = "Hello, this is the agent. Do you have a minute?"


class FastClock:
    """Real time run ``SPEED`` times faster: a call's pacing in a fraction of the wait."""

    def now(self) -> float:
        return time.monotonic() * SPEED

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SPEED)


def tone(seconds: float, rate: int = 16000) -> np.ndarray[Any, np.dtype[np.int16]]:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 300 * t) * 6000).astype(np.int16)


@dataclass
class Reply:
    text: str
    info: dict[str, Any] = field(default_factory=dict)
    hang_up: bool = False


@dataclass
class ScriptedBrowserServer:
    """Speaks the browser protocol: greeting, then one scripted reply per caller line
    (a line ends after 100 ms of silence following speech)."""

    replies: list[Reply] = field(default_factory=list)
    vanish_on_line: int | None = None
    refuse: bool = False
    end_outcome: str | None = "accepted"
    received: list[str | bytes] = field(default_factory=list)
    events: list[object] = field(default_factory=list)

    async def handler(self, ws: ServerConnection) -> None:
        codec = BrowserCodec()
        first = await ws.recv()
        self.received.append(first)
        assert isinstance(first, str)
        self.events.append(codec.receive_text(first))
        if self.refuse:
            await ws.send(codec.error(1008, "authentication failed"))
            await ws.close(1008, "authentication failed")
            return
        await ws.send(codec.ready("call-123", "B", "p-test"))
        await self._speak(ws, codec, 0, GREETING, {})
        loud = quiet = line = 0
        async for m in ws:
            self.received.append(m)
            if isinstance(m, str):
                event = codec.receive_text(m)
                self.events.append(event)
                if isinstance(event, End):
                    await ws.send(codec.end("caller", self.end_outcome))
                    return
                continue
            audio = codec.receive_bytes(m)
            self.events.append(audio)
            if np.abs(audio.pcm16k).max() > 1000:
                loud, quiet = loud + 1, 0
            elif loud:
                quiet += 1
            if loud and quiet >= 5:
                loud = quiet = 0
                line += 1
                if line == self.vanish_on_line:
                    ws.transport.abort()  # the server process dies: no close frame
                    return
                reply = self.replies[line - 1]
                await ws.send(codec.transcript(f"caller line {line}", True))
                await self._speak(ws, codec, line, reply.text, reply.info)
                if reply.hang_up:
                    await ws.send(codec.end("agent", reply.info.get("outcome")))
                    return

    async def _speak(self, ws: ServerConnection, codec: BrowserCodec, turn: int, text: str,
                     info: dict[str, Any]) -> None:
        await ws.send(codec.agent_text(turn, text))
        if info:
            await ws.send(codec.agent_info(turn, info))
        pcm = tone(0.3)
        for i in range(0, len(pcm), 320):
            await ws.send(codec.audio(pcm[i : i + 320]))
        await ws.send(codec.turn(turn, "" if turn == 0 else f"caller line {turn}", text, False,
                                 {"voice_to_voice_s": 0.5 if turn else None}))


@asynccontextmanager
async def running(handler: Callable[[ServerConnection], Awaitable[None]]) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


def dial(url: str, asr_texts: list[str], protocol: Protocol = "browser",
         **timeouts: float) -> DialIn:
    return DialIn(url, protocol=protocol, caller=CALLER,
                  user_tts=FakeTTS(seconds_per_word=0.2), asr=FakeASR(asr_texts),
                  token="secret", variant="B", clock=FastClock(),
                  timeouts=DialInTimeouts(**timeouts))


async def test_browser_dial_in_sends_start_then_pcm_frames_then_end_and_records_the_call(
) -> None:
    script = ScriptedBrowserServer(replies=[
        Reply("We have accident cover.", {"thought": {"template": "pivot",
                                                      "intent": "accident"},
                                          "strategy": "pitch accident", "outcome": None}),
        Reply("Great, let me sign you up.", {"outcome": "explicit_intent"}),
    ])
    asr = ["hello this is the agent do you have a minute", "we have accident cover",
           "great let me sign you up"]
    async with running(script.handler) as url:
        call = dial(url + "/ws/call", asr)
        greeting = await call.open()
        first = await call.say("Hi there, sure.")
        second = await call.say("Tell me more please.")
        dialogue = await call.close()
    assert (greeting.said, greeting.heard) == (GREETING, asr[0])
    assert greeting.info["wer"] == 0.0 and greeting.info["audio_s"] == pytest.approx(0.3)
    assert (first.heard.said, first.heard.heard) == ("We have accident cover.", asr[1])
    assert first.heard.info["voice_to_voice_s"] == 0.5 and not first.ended
    assert first.outcome is None and second.outcome is Outcome.EXPLICIT_INTENT

    start = json.loads(script.received[0])
    assert start["type"] == "start" and start["token"] == "secret" and start["variant"] == "B"
    assert start["sample_rate"] == 16000 and start["caller"]["occupation"] == "nurse"
    first_event = script.events[0]
    assert isinstance(first_event, Start) and first_event.caller == CALLER
    binary = [m for m in script.received if isinstance(m, bytes)]
    assert binary and all(len(m) == 640 for m in binary)  # 20 ms of 16 kHz PCM16
    assert script.received[-1] == json.dumps({"type": "end"})
    assert sum(isinstance(m, str) for m in script.received) == 2  # start and end only

    assert dialogue.id == "call-123" and dialogue.source == "simulated"
    assert dialogue.metadata["call_id"] == "call-123"
    assert dialogue.metadata["protocol"] == "browser"
    assert dialogue.metadata["end_reason"] == "caller"
    assert dialogue.outcome is Outcome.ACCEPTED  # the end message's outcome
    assert (dialogue.program_version, dialogue.variant) == ("p-test", "B")
    assert [(t.speaker, t.text) for t in dialogue.turns] == [
        ("agent", GREETING), ("user", "Hi there, sure."), ("agent", "We have accident cover."),
        ("user", "Tell me more please."), ("agent", "Great, let me sign you up.")]
    pitch = dialogue.turns[2]
    assert pitch.thought is not None and pitch.thought.intent == "accident"
    assert pitch.strategy == "pitch accident"
    crossings = dialogue.metadata["channel"]
    assert [c["speaker"] for c in crossings] == ["agent", "user", "agent", "user", "agent"]
    assert crossings[1]["heard"] == "caller line 1"  # the server's final transcript
    assert crossings[1]["audio_s"] == pytest.approx(0.6, abs=0.02)


async def test_every_message_the_browser_caller_sends_passes_the_server_codec() -> None:
    script = ScriptedBrowserServer(replies=[Reply("Fine.")])
    async with running(script.handler) as url:
        call = dial(url, ["hello", "fine"])  # no path: /ws/call is the default
        await call.open()
        await call.say("Hello.")
        await call.close()
    # The handler decoded each message with BrowserCodec: a ProtocolError would have
    # dropped the call.
    kinds = [type(e) for e in script.events]
    assert kinds[0] is Start and kinds[-1] is End
    assert set(kinds[1:-1]) == {Audio}


async def test_agent_hang_up_ends_the_dialogue_without_a_caller_end_message() -> None:
    script = ScriptedBrowserServer(replies=[
        Reply("Understood, goodbye.", {"outcome": "opted_out", "end_call": True},
              hang_up=True)])
    async with running(script.handler) as url:
        call = dial(url, ["hello", "understood goodbye"])
        await call.open()
        reply = await call.say("Do not call me again.")
        dialogue = await call.close()
    assert reply.ended and reply.outcome is Outcome.OPTED_OUT
    assert dialogue.outcome is Outcome.OPTED_OUT
    assert dialogue.metadata["end_reason"] == "agent"
    assert not any(isinstance(e, End) for e in script.events)


async def test_server_vanishing_mid_call_raises_call_dropped_with_its_close_code() -> None:
    script = ScriptedBrowserServer(replies=[Reply("never said")], vanish_on_line=1)
    async with running(script.handler) as url:
        call = dial(url, ["hello"])
        await call.open()
        async with asyncio.timeout(10):
            with pytest.raises(CallDropped) as caught:
                await call.say("Are you there?")
    assert caught.value.code == 1006  # closed with no close frame
    await call.aclose()  # idempotent after the teardown say() did


async def test_cancelling_a_line_mid_speech_releases_the_call() -> None:
    heard_speech = asyncio.Event()

    async def listen(ws: ServerConnection) -> None:
        codec = BrowserCodec()
        codec.receive_text(str(await ws.recv()))
        await ws.send(codec.ready("call-9", None, "p"))
        await ws.send(codec.turn(0, "", "", False, {}))  # an empty greeting, done
        async for m in ws:
            if isinstance(m, bytes) and np.abs(codec.receive_bytes(m).pcm16k).max() > 1000:
                heard_speech.set()

    async with running(listen) as url:
        call = dial(url, ["", "unused"])
        await call.open()
        line = asyncio.create_task(call.say("a long line that is cut off " * 4))
        await asyncio.wait_for(heard_speech.wait(), 5)
        line.cancel()
        with pytest.raises(asyncio.CancelledError):
            await line
    # The autouse fixture fails the test if the sender or receiver task survived.


async def test_a_refused_call_raises_call_dropped_with_the_servers_reason() -> None:
    script = ScriptedBrowserServer(refuse=True)
    async with running(script.handler) as url:
        call = dial(url, ["hello"])
        with pytest.raises(CallDropped, match="authentication failed") as caught:
            await call.open()
    assert caught.value.code == 1008


async def test_silent_agent_raises_no_reply_within_the_limit() -> None:
    async def mute(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(BrowserCodec().ready("call-1", None, "p"))
        async for _ in ws:
            pass

    async with running(mute) as url:
        call = dial(url, ["hello"], greeting_s=2.0)
        async with asyncio.timeout(10):
            with pytest.raises(NoReply):
                await call.open()


@dataclass
class ScriptedTwilio:
    """Plays the server's end of a Media Stream, checking the caller with TwilioCodec."""

    received: list[dict[str, Any]] = field(default_factory=list)
    events: list[object] = field(default_factory=list)

    async def handler(self, ws: ServerConnection) -> None:
        codec = TwilioCodec()
        loud = quiet = 0
        async for m in ws:
            assert isinstance(m, str)
            self.received.append(json.loads(m))
            event = codec.receive(m)
            self.events.append(event)
            if isinstance(event, TwilioStart):
                await self._speak(ws, codec, "greeting")
            elif isinstance(event, Media):
                if np.abs(event.pcm16k).max() > 1000:
                    loud, quiet = loud + 1, 0
                elif loud:
                    quiet += 1
                if loud and quiet >= 5:
                    loud = quiet = 0
                    await self._speak(ws, codec, "reply")
            elif isinstance(event, Stop):
                return

    async def _speak(self, ws: ServerConnection, codec: TwilioCodec, name: str) -> None:
        await ws.send(codec.mark(name))  # sent before the piece, as the server does
        pcm = tone(0.3)
        for i in range(0, len(pcm), 320):
            await ws.send(codec.media(pcm[i : i + 320]))


async def test_twilio_dial_in_streams_base64_mulaw_echoes_marks_and_stops_at_close() -> None:
    script = ScriptedTwilio()
    async with running(script.handler) as url:
        call = dial(url + "/twilio/stream", ["hello there", "a reply"], protocol="twilio",
                    quiet_s=1.0)
        greeting = await call.open()
        reply = await call.say("Hi there.")
        dialogue = await call.close()
    assert (greeting.heard, reply.heard.heard) == ("hello there", "a reply")
    assert greeting.said == greeting.heard and greeting.info["wer"] is None
    assert reply.outcome is None and not reply.ended

    connected, start = script.received[:2]
    assert connected["event"] == "connected"
    assert start["event"] == "start"
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                             "channels": 1}
    params = start["start"]["customParameters"]
    assert params["caller_id"] == "+15550100042" and params["age"] == "41"
    assert params["variant"] == "B" and json.loads(params["persona"]) == {"mbti": "INFJ"}
    assert all(isinstance(v, str) for v in params.values())
    started = script.events[1]
    assert isinstance(started, TwilioStart) and started.caller.occupation == "nurse"

    media = [m for m in script.received if m["event"] == "media"]
    assert media and all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
    assert [int(m["media"]["chunk"]) for m in media] == list(range(1, len(media) + 1))
    assert [int(m["media"]["timestamp"]) for m in media[:3]] == [0, 20, 40]
    sequence = [int(m["sequenceNumber"]) for m in script.received[1:]]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    echoed = [e.name for e in script.events if isinstance(e, TwilioMark)]
    assert echoed == ["greeting", "reply"]
    assert script.received[-1]["event"] == "stop"
    assert dialogue.metadata["protocol"] == "twilio" and dialogue.metadata["call_id"] is None
    assert [t.text for t in dialogue.turns] == ["hello there", "Hi there.", "a reply"]


def test_outcome_strings_map_to_outcomes_and_unknown_ones_to_none() -> None:
    assert to_outcome("accepted") is Outcome.ACCEPTED
    assert to_outcome("opted_out") is Outcome.OPTED_OUT
    assert to_outcome("made_up") is None and to_outcome(None) is None


def test_endpoint_adds_the_protocol_path_only_when_missing() -> None:
    assert endpoint("ws://h:1", "browser") == "ws://h:1/ws/call"
    assert endpoint("ws://h:1/", "twilio") == "ws://h:1/twilio/stream"
    assert endpoint("wss://h/custom", "twilio") == "wss://h/custom"


def test_listener_plays_out_audio_and_drops_the_unplayed_tail_on_flush() -> None:
    ear = Listener()
    ear.on_event(AgentAudio(np.ones(16000, dtype=np.int16)), now=10.0)  # 1 s of audio
    assert ear.playing(10.5) and not ear.playing(11.0)
    ear.on_event(Flush(), now=10.25)  # barge-in a quarter of the way through
    assert len(ear.take().pcm) == 4000 and not ear.playing(10.26)


def test_listener_echoes_a_mark_once_the_audio_before_it_has_played() -> None:
    ear = Listener()
    ear.on_event(AgentAudio(np.ones(8000, dtype=np.int16)), now=0.0)  # plays until 0.5
    ear.on_event(Mark("piece1"), now=0.1)
    assert ear.due_marks(0.4) == [] and ear.due_marks(0.5) == ["piece1"]


def test_listener_ends_a_twilio_reply_after_quiet_and_a_browser_one_on_its_turn() -> None:
    ear = Listener()
    ear.on_event(AgentAudio(np.ones(3200, dtype=np.int16)), now=5.0)  # until 5.2
    kw: dict[str, Any] = {"quiet_s": 1.0, "settle_s": 0.3}
    assert not ear.reply_over(6.1, since=4.0, turns=False, **kw)
    assert ear.reply_over(6.2, since=4.0, turns=False, **kw)
    assert not ear.reply_over(6.2, since=5.5, turns=False, **kw)  # audio came before since
    assert not ear.reply_over(6.2, since=4.0, turns=True, **kw)  # no turn message yet
    ear.on_event(TurnDone(1, "hi", "hello", False, {}), now=6.3)
    assert not ear.reply_over(6.4, since=4.0, turns=True, **kw)
    assert ear.reply_over(6.7, since=4.0, turns=True, **kw)
