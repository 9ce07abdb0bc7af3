"""A/B arms on the live server: real websocket calls against the app (scripted models),
each call's arm recorded with how it was chosen, refused when a client forces an arm the
running experiment does not have, the same for a caller call after call."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets
from sqlalchemy import Engine, select

from agent.dialogue import CallerProfile
from agent.program import ProgramSet, load_program, load_program_set
from models.asr.fake import FakeASR
from models.errors import ConfigError
from models.llm.fake import FakeLLM
from models.tts.fake import FakeTTS
from models.vad.fake import FakeVAD
from server.app import create_app
from server.arms import POLL_S
from server.bench_server import free_port
from server.experiments import Arm, Experiment, Plan, assign_arm, unit_key
from server.hub import Hub
from server.settings import Settings, load
from server.store import CallStore
from server.store_ab import ExperimentStore
from server.store_schema import assignments

EXPERIMENT = "greeting-test"


class FakeClock:
    """Monotonic seconds the test moves (the hub's look at the running experiment)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance_past_poll(self) -> None:
        self.now += POLL_S + 0.1


def settings_for(tmp_path: Path, **server: Any) -> Settings:
    return Settings.model_validate({
        "data_dir": tmp_path / "data", "cache_dir": tmp_path / "cache",
        "server": {"max_concurrent_calls": 8, "max_pending_starts": 8,
                   "max_connections_per_address": 0, **server},
    })


@asynccontextmanager
async def serving(settings: Settings, clock: Callable[[], float] = time.monotonic,
                  ) -> AsyncIterator[tuple[str, Hub]]:
    """The real app on a loopback port (its own thread and loop), scripted models;
    yields (host:port, hub)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = CallStore(settings.database_url())
    hub = Hub(settings, FakeVAD(), FakeASR(["hello"]), FakeTTS(seconds_per_word=0.02),
              FakeLLM(lambda request: "Sure."), store,
              load_program_set(settings.server.program), clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings, hub=hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}", hub
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 30)
        await hub.aclose()


@asynccontextmanager
async def operator_store(settings: Settings) -> AsyncIterator[ExperimentStore]:
    """What ``salesvoice ab`` uses: another store on the same database."""
    async with CallStore(settings.database_url()) as store:
        yield ExperimentStore(store)


def experiment(arms: dict[str, tuple[str, float]], name: str = EXPERIMENT) -> Experiment:
    return Experiment(
        name=name, control=next(iter(arms)), plan=Plan(baseline=0.1, mde=0.05),
        arms=[Arm(name=a, program=program, weight=w) for a, (program, w) in arms.items()])


def second_program(tmp_path: Path) -> tuple[str, str]:
    """A program file other than the default, and its version."""
    program = load_program().evolve("test", sop="Business SOP\nStep 1: Ask\nObjective: ask.")
    path = tmp_path / "arm-b.json"
    ProgramSet(default=program).save(path)
    return str(path), program.version


async def call(address: str, *, caller_id: str | None = None, variant: str | None = None,
               path: str = "/ws/call") -> tuple[int | None, list[dict[str, Any]]]:
    """One browser call: start, wait for ready (or a refusal), hang up. Returns the close
    code and the JSON messages the server sent."""
    start: dict[str, Any] = {"type": "start", "version": 1,
                             "caller": {"caller_id": caller_id} if caller_id else {}}
    if variant is not None:
        start["variant"] = variant
    got: list[dict[str, Any]] = []
    async with websockets.connect(f"ws://{address}{path}") as ws:
        await ws.send(json.dumps(start))
        try:
            async for message in ws:
                if isinstance(message, str):
                    got.append(json.loads(message))
                    if got[-1]["type"] == "ready":
                        await ws.send(json.dumps({"type": "end"}))
        except websockets.ConnectionClosed:
            pass
    return ws.close_code, got


def ready_of(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in messages if m["type"] == "ready")


async def recorded(store: CallStore) -> dict[str, dict[str, Any]]:
    """call id → its assignment row."""

    def read(engine: Engine) -> dict[str, dict[str, Any]]:
        with engine.connect() as conn:
            rows = conn.execute(select(assignments)).mappings().all()
        return {r["call_id"]: dict(r) for r in rows}

    return await store.run(read)


async def test_each_call_records_its_arm_and_how_assigned_forced_or_without_caller_id(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    program_b, version_b = second_program(tmp_path)
    weights = {"a": 1.0, "b": 1.0}
    async with operator_store(settings) as ops:
        await ops.create(experiment({"a": ("insurance-default", 1.0), "b": (program_b, 1.0)}))
    async with serving(settings) as (address, hub):
        _, hashed = await call(address, caller_id="+1 (555) 010-0199")
        _, forced = await call(address, caller_id="+15550100199", variant="b")
        _, anonymous = await call(address)
        rows = await recorded(hub.store)
        versions = {"a": load_program().version, "b": version_b}
        for messages in (hashed, forced, anonymous):
            ready = ready_of(messages)
            row = rows[ready["call_id"]]
            stored = await hub.store.get_call(ready["call_id"])
            assert stored is not None
            assert ready["variant"] == row["arm"] == stored.variant
            assert ready["program_version"] == versions[row["arm"]] == stored.program_version
            assert (row["experiment"], row["epoch"]) == (EXPERIMENT, 0)

        first = rows[ready_of(hashed)["call_id"]]
        key = unit_key("+15550100199", "unused")
        assert (first["how"], first["unit_key"]) == ("assigned", key)
        assert first["arm"] == assign_arm(EXPERIMENT, weights, key)
        second = rows[ready_of(forced)["call_id"]]
        assert (second["how"], second["arm"], second["unit_key"]) == ("forced", "b", key)
        anon_id = ready_of(anonymous)["call_id"]
        third = rows[anon_id]
        assert (third["how"], third["unit_key"]) == ("no_caller_id", f"call:{anon_id}")
        assert third["arm"] == assign_arm(EXPERIMENT, weights, f"call:{anon_id}")


async def test_a_caller_keeps_their_arm_call_after_call_and_both_arms_get_callers(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    async with operator_store(settings) as ops:
        await ops.create(experiment({"a": ("insurance-default", 1.0),
                                     "b": ("insurance-default", 1.0)}))
    callers = [f"+1555010{i:04d}" for i in range(8)]
    async with serving(settings) as (address, _hub):
        arms: dict[str, set[str]] = {c: set() for c in callers}
        for _ in range(3):
            results = await asyncio.gather(*(call(address, caller_id=c) for c in callers))
            for c, (_, messages) in zip(callers, results, strict=True):
                arms[c].add(ready_of(messages)["variant"])
    assert all(len(seen) == 1 for seen in arms.values()), arms
    expected = {c: assign_arm(EXPERIMENT, {"a": 1, "b": 1}, unit_key(c, "x")) for c in callers}
    assert {c: next(iter(seen)) for c, seen in arms.items()} == expected
    assert set(expected.values()) == {"a", "b"}


async def test_a_forced_arm_the_experiment_lacks_is_refused_on_both_endpoints_and_the_server_stays_up(  # noqa: E501 -- the name says the behaviour
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(tmp_path)
    async with operator_store(settings) as ops:
        await ops.create(experiment({"a": ("insurance-default", 1.0),
                                     "b": ("insurance-default", 1.0)}))
    async with serving(settings) as (address, hub):
        with caplog.at_level(logging.WARNING):
            code, messages = await call(address, caller_id="+15550100100", variant="z")
            assert code == 4400
            error = next(m for m in messages if m["type"] == "error")
            assert error["code"] == 4400
            assert "unknown arm 'z' of experiment 'greeting-test'" in error["message"]
            assert not any(m["type"] == "ready" for m in messages)

            twilio_code, twilio_reason = await twilio_call(address, variant="z")
            assert twilio_code == 4400
            assert "unknown arm 'z'" in twilio_reason
        assert sum("unknown arm 'z'" in r.getMessage() for r in caplog.records) == 2
        assert await hub.store.list_calls() == []  # refused before any record
        code, messages = await call(address, caller_id="+15550100100", variant="a")
        assert code == 1000 and ready_of(messages)["variant"] == "a"


async def twilio_call(address: str, variant: str) -> tuple[int | None, str]:
    start = {
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1",
                  "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                  "channels": 1},
                  "customParameters": {"caller_id": "+15550100101", "variant": variant}},
    }
    async with websockets.connect(f"ws://{address}/twilio/stream") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call",
                                  "version": "1.0.0"}))
        await ws.send(json.dumps(start))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason or ""


async def test_calls_follow_the_running_experiment_as_it_starts_changes_weights_and_stops(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    clock = FakeClock()
    async with serving(settings, clock) as (address, hub), operator_store(settings) as ops:
        _, messages = await call(address, caller_id="+15550100300", variant="a")
        assert ready_of(messages)["variant"] is None  # no experiment: no arm, none forced
        await ops.create(experiment({"a": ("insurance-default", 1.0),
                                     "b": ("insurance-default", 1.0)}))
        _, messages = await call(address, caller_id="+15550100300")
        assert ready_of(messages)["variant"] is None  # the last look is still fresh
        clock.advance_past_poll()
        _, messages = await call(address, caller_id="+15550100300")
        assert ready_of(messages)["variant"] in ("a", "b")

        assert await ops.set_weights(EXPERIMENT, {"a": 0.0}) == 1
        clock.advance_past_poll()
        _, messages = await call(address, caller_id="+15550100301")
        row = (await recorded(hub.store))[ready_of(messages)["call_id"]]
        assert (row["arm"], row["epoch"]) == ("b", 1)

        await ops.stop(EXPERIMENT)
        clock.advance_past_poll()
        _, messages = await call(address, caller_id="+15550100301")
        assert ready_of(messages)["variant"] is None
        assert ready_of(messages)["call_id"] not in await recorded(hub.store)


async def test_an_experiment_whose_arm_cannot_load_leaves_calls_outside_it_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(tmp_path)
    async with operator_store(settings) as ops:
        await ops.create(experiment({"a": ("insurance-default", 1.0),
                                     "b": ("no-such-program", 1.0)}))
    async with serving(settings) as (address, hub):
        with caplog.at_level(logging.ERROR):
            for _ in range(2):
                code, messages = await call(address, caller_id="+15550100400")
                assert code == 1000 and ready_of(messages)["variant"] is None
        said = [r for r in caplog.records if "cannot be prepared" in r.getMessage()]
        assert len(said) == 1 and "greeting-test" in said[0].getMessage()
        assert b'salesvoice_errors_total{code="experiment"} 1.0' in hub.metrics.render()


async def test_arms_with_a_voice_override_share_one_extra_voice_and_the_rest_use_the_servers(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    espeak = {"backend": "espeak-ng"}
    exp = Experiment(
        name=EXPERIMENT, control="a", plan=Plan(baseline=0.1, mde=0.05), arms=[
            Arm(name="a", program="insurance-default"),
            Arm(name="b", program="insurance-default", tts=espeak),
            Arm(name="c", program="insurance-default", tts=espeak)])
    async with operator_store(settings) as ops:
        await ops.create(exp)
    async with serving(settings) as (_address, hub):
        kits = {arm: (await hub.place(CallerProfile(), f"call-{arm}", arm)).kit
                for arm in ("a", "b", "c")}
    assert kits["a"].tts is hub.tts and kits["a"].greetings is hub.greetings
    assert kits["b"].tts is kits["c"].tts is not hub.tts
    assert type(kits["b"].tts).__name__ == "EspeakTTS"
    assert kits["b"].greetings is kits["c"].greetings is not hub.greetings
    assert all(k.llm is hub.llm for k in kits.values())


def test_a_config_with_the_old_variants_table_names_the_key_and_the_new_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "old.toml"
    path.write_text('[server.variants.A]\nprogram = "insurance-default"\nweight = 1.0\n')
    for name in [n for n in os.environ if n.startswith("SALESVOICE_")]:
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert "unknown setting 'server.variants'" in message
    assert "salesvoice ab create" in message
