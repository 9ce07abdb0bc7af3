"""CallStore: call records turn by turn and do-not-call, on real databases (A/B records:
test_store_ab.py).

SQLite files in tmp_path always; Postgres too when POSTGRES_TEST_URL is set.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert

from agent.compliance import DoNotCall
from agent.dialogue import CallerProfile, Dialogue, Outcome, Template, Thought
from server.cli import main
from server.experiments import Experiment
from server.outcomes import OutcomeRow
from server.redact import CARD_MARKER
from server.store import (
    CallStore,
    StoreError,
    StoreSettings,
    UnknownCallError,
)
from server.store_ab import ExperimentStore
from server.store_schema import SCHEMA_VERSION, schema_version
from voice.events import TurnCompleted, TurnTimings

REPO = Path(__file__).resolve().parents[2]
POSTGRES_ENV = "POSTGRES_TEST_URL"
CALLER = CallerProfile(caller_id="+1 (555) 010-0199", name="Dana", occupation="nurse", age=41)
THOUGHT = {"template": "pivot", "intent": "dental", "user_state": "engaged", "note": "shifts"}
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class StepClock:
    """Wall clock for the store: one second later at every reading."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'calls.db'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"Postgres backend not exercised: set {POSTGRES_ENV}="
            "postgresql+psycopg://user@host/db to run this test against a real server"
        )
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'calls.db'}"


def new_id() -> str:
    # Unique per run: a Postgres test database outlives the test.
    return f"call-{uuid.uuid4().hex[:12]}"


async def record_two_turns(store: CallStore, call_id: str) -> None:
    await store.start_call(call_id, "live", CALLER, "p-0123", "B", "browser")
    await store.add_turn(
        call_id, 0, "", "Hi, this is Ava, an AI assistant.", False, {"ttfa_ms": 420}
    )
    await store.add_turn(
        call_id,
        1,
        "I'm a nurse, long shifts.",
        "Long shifts are hard on teeth too; our dental",
        True,
        {"voice_to_voice_s": 0.61, "end_reason": "silence"},
        THOUGHT,
        "Mention the night-shift discount.",
        {"sector": {"sector": "Q", "confidence": 0.8, "source": "inferred"}, "compliance": []},
    )


# -- crash safety ----------------------------------------------------------------------


async def test_turns_are_readable_by_a_second_store_before_the_call_finishes(db_url: str) -> None:
    call_id = new_id()
    writer = CallStore(db_url)
    reader = CallStore(db_url)
    try:
        await record_two_turns(writer, call_id)
        detail = await reader.get_call(call_id)  # the writer never finished the call
        assert detail is not None
        assert detail.finished_at is None and detail.outcome is None
        assert [t.index for t in detail.turns] == [0, 1]
        assert detail.turns[1].thought == THOUGHT
        assert detail.turns[1].strategy == "Mention the night-shift discount."
        assert detail.turns[1].interrupted is True
        assert detail.turns[1].timings["voice_to_voice_s"] == 0.61
        assert detail.caller == CALLER and detail.caller_id == "+15550100199"
        assert detail.variant == "B" and detail.turn_count == 2
    finally:
        await writer.aclose()
        await reader.aclose()


def test_turns_survive_a_writer_process_killed_right_after_writing(db_url: str) -> None:
    call_id = new_id()
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.unit.test_store import CallStore, record_two_turns

        async def main() -> None:
            store = CallStore({db_url!r})
            await record_two_turns(store, {call_id!r})
            os.kill(os.getpid(), signal.SIGKILL)  # no close, no dispose: a crash

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()

    async def read() -> None:
        async with CallStore(db_url) as store:
            detail = await store.get_call(call_id)
            assert detail is not None
            assert [t.agent_text for t in detail.turns] == [
                "Hi, this is Ava, an AI assistant.",
                "Long shifts are hard on teeth too; our dental",
            ]

    asyncio.run(read())


async def test_a_write_whose_caller_is_cancelled_still_lands(sqlite_url: str) -> None:
    async with CallStore(sqlite_url) as store:
        await store.start_call("c1", "live", CALLER, "p-0123", None, "twilio")
        task = asyncio.create_task(store.add_turn("c1", 0, "", "Hello.", False, {}))
        await asyncio.sleep(0)  # the write is queued on the worker
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.flush()
        detail = await store.get_call("c1")
        assert detail is not None and [t.agent_text for t in detail.turns] == ["Hello."]


# -- export ------------------------------------------------------------------------------


async def test_export_is_a_dialogue_that_round_trips_through_json(db_url: str) -> None:
    call_id = new_id()
    async with CallStore(db_url) as store:
        await record_two_turns(store, call_id)
        await store.finish_call(
            call_id,
            "explicit_intent",
            "dental",
            "caller_hung_up",
            caller_wav=Path("/rec/caller.wav"),
            agent_wav="/rec/agent.wav",
        )
        dialogue = await store.export_dialogue(call_id)

    assert Dialogue.from_json(dialogue.to_json()) == dialogue
    assert dialogue.id == call_id and dialogue.source == "live"
    assert dialogue.caller == CALLER
    assert (dialogue.program_version, dialogue.variant) == ("p-0123", "B")
    assert dialogue.outcome is Outcome.EXPLICIT_INTENT and dialogue.outcome_intent == "dental"
    assert [(t.speaker, t.text) for t in dialogue.turns] == [
        ("agent", "Hi, this is Ava, an AI assistant."),
        ("user", "I'm a nurse, long shifts."),
        ("agent", "Long shifts are hard on teeth too; our dental"),
    ]
    reply = dialogue.turns[2]
    assert reply.thought == Thought(template=Template.PIVOT, intent="dental", note="shifts")
    assert reply.strategy == "Mention the night-shift discount."
    assert reply.interrupted and reply.timings["end_reason"] == "silence"
    assert reply.sector is not None and reply.sector.sector == "Q"
    assert dialogue.turns[0].timings == {"ttfa_ms": 420}
    assert dialogue.created_at.tzinfo is not None
    assert dialogue.metadata["caller_wav"] == "/rec/caller.wav"
    assert dialogue.metadata["agent_wav"] == "/rec/agent.wav"
    assert dialogue.metadata["end_reason"] == "caller_hung_up"
    assert dialogue.metadata["transport"] == "browser"


async def test_export_jsonl_writes_one_dialogue_per_line_oldest_first(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with CallStore(sqlite_url, clock=StepClock()) as store:
        for call_id in ("a", "b", "c"):
            await record_two_turns(store, call_id)
        await store.finish_call("b", None, None, "agent_ended")
        path = tmp_path / "out" / "calls.jsonl"
        path.parent.mkdir()
        assert await store.export_jsonl(path) == 3
        buffer = io.StringIO()
        assert await store.export_jsonl(buffer, finished_only=True) == 1
        assert await store.export_jsonl(io.StringIO(), call_ids=["a", "c", "zz"]) == 2
        assert await store.export_jsonl(io.StringIO(), since=T0 + timedelta(seconds=4)) == 2

    lines = path.read_text().splitlines()
    assert [Dialogue.from_json(line).id for line in lines] == ["a", "b", "c"]
    assert [json.loads(line)["id"] for line in buffer.getvalue().splitlines()] == ["b"]


async def test_record_turn_takes_thought_and_strategy_from_the_pipeline_event(
    sqlite_url: str,
) -> None:
    event = TurnCompleted(
        turn=1,
        user_text="Tell me more.",
        agent_text="Our dental plan",
        agent_full_text="Our dental plan covers check-ups.",
        interrupted=True,
        timings=TurnTimings(speech_end=10.0, first_audio_out=10.5, end_reason="silence"),
        info={"thought": THOUGHT, "strategy": "Be brief.", "outcome": None},
    )
    async with CallStore(sqlite_url) as store:
        await store.start_call("c1", "live", CALLER, "p-0123", None, "browser")
        await store.record_turn("c1", event)
        detail = await store.get_call("c1")
    assert detail is not None
    turn = detail.turns[0]
    assert (turn.thought, turn.strategy) == (THOUGHT, "Be brief.")
    assert turn.info == {"outcome": None, "agent_full_text": "Our dental plan covers check-ups."}
    assert turn.timings["voice_to_voice_s"] == 0.5 and turn.timings["end_reason"] == "silence"


# -- listing -----------------------------------------------------------------------------


async def test_calls_are_listed_newest_first_with_their_turn_counts(sqlite_url: str) -> None:
    async with CallStore(sqlite_url, clock=StepClock()) as store:
        for call_id in ("first", "second", "third"):
            await store.start_call(call_id, "live", CallerProfile(), "p-1", None, "browser")
        await store.add_turn("second", 0, "", "Hello.", False, {})
        await store.finish_call("first", Outcome.GOODBYE, None, "agent_ended")
        listed = await store.list_calls()
        page = await store.list_calls(limit=1, offset=1)

    assert [c.id for c in listed] == ["third", "second", "first"]
    assert [c.turn_count for c in listed] == [0, 1, 0]
    assert listed[2].outcome is Outcome.GOODBYE and listed[2].finished_at is not None
    # The schema check and crash recovery took the first two readings.
    assert listed[0].created_at == T0 + timedelta(seconds=5)
    assert [c.id for c in page] == ["second"]


async def test_card_numbers_are_stored_redacted_and_everything_else_verbatim(
    sqlite_url: str,
) -> None:
    said = "sure, it's 4111 1111 1111 1111, and my phone is 555 010 0199"
    event = TurnCompleted(
        turn=1, user_text=said, agent_text="Thanks, I got 4111 1111 1111",
        agent_full_text="Thanks, I got 4111 1111 1111 1111.", interrupted=True,
        timings=TurnTimings(), info={})
    async with CallStore(sqlite_url) as store:
        await store.start_call("c1", "live", CALLER, "p-1", None, "browser")
        await store.record_turn("c1", event)
        detail = await store.get_call("c1")
    assert detail is not None
    (turn,) = detail.turns
    assert turn.user_text == f"sure, it's {CARD_MARKER}, and my phone is 555 010 0199"
    assert turn.agent_text == "Thanks, I got 4111 1111 1111"  # 12 digits: not card-like
    assert turn.info["agent_full_text"] == f"Thanks, I got {CARD_MARKER}."


# -- retention ---------------------------------------------------------------------------

OLD = datetime(2001, 1, 1, tzinfo=UTC)
"""Far from every other test's calls: a Postgres test database is shared."""


def recording_files(folder: Path, call_id: str) -> list[Path]:
    """Both sides' WAVs of ``call_id`` and a spool file a crash left (not in the record)."""
    folder.mkdir(parents=True, exist_ok=True)
    wavs = [folder / f"{call_id}-{side}.wav" for side in ("caller", "agent")]
    for f in (*wavs, folder / f"{call_id}-caller.pcm.part"):
        f.write_bytes(b"RIFF")
    return wavs


async def old_and_new_calls(store: CallStore, clock: StepClock, recordings: Path,
                            tag: str) -> dict[str, str]:
    """A finished old call with everything a call can have, an unfinished old call, and
    a finished new one; their ids by role."""
    ids = {role: f"{role}-{tag}" for role in ("old", "live", "new")}
    experiments = ExperimentStore(store)
    name = f"purge-{tag}"
    await experiments.create(Experiment.model_validate({
        "name": name, "control": "A",
        "arms": [{"name": "A", "program": "insurance-default"},
                 {"name": "B", "program": "insurance-default"}],
        "plan": {"baseline": 0.1, "mde": 0.05}}))
    wavs = await asyncio.to_thread(recording_files, recordings, ids["old"])
    await record_two_turns(store, ids["old"])
    await experiments.assign(ids["old"], name, "B", "assigned", f"call:{ids['old']}", 0)
    await store.finish_call(ids["old"], Outcome.ACCEPTED, None, "agent",
                            caller_wav=wavs[0], agent_wav=wavs[1])
    await experiments.add_outcomes([OutcomeRow(row=1, call_id=ids["old"],
                                               outcome="policy_bought", time=clock.now)], "crm")
    await store.start_call(ids["live"], "live", CALLER, "p-1", None, "browser")
    clock.now = OLD + timedelta(days=60)
    await record_two_turns(store, ids["new"])
    await store.finish_call(ids["new"], Outcome.GOODBYE, None, "caller")
    await experiments.stop(name)
    return ids


async def test_purge_deletes_old_finished_calls_with_everything_they_left(
    db_url: str, tmp_path: Path
) -> None:
    clock = StepClock(OLD)
    tag = uuid.uuid4().hex[:8]
    recordings = tmp_path / "recordings"
    async with CallStore(db_url, clock=clock) as store:
        ids = await old_and_new_calls(store, clock, recordings, tag)
        cutoff = OLD + timedelta(days=30)
        dry = await store.purge(cutoff, dry_run=True, recordings_dir=recordings)
        assert await store.get_call(ids["old"]) is not None  # a dry run deletes nothing
        done = await store.purge(cutoff, recordings_dir=recordings)
        again = await store.purge(cutoff, recordings_dir=recordings)
        left = {c: await store.get_call(c) for c in ids.values()}
    assert dry.counts.model_dump(exclude={"recordings"}) == done.counts.model_dump(
        exclude={"recordings"})
    c = done.counts
    assert (c.calls, c.turns, c.assignments, c.outcomes) == (1, 2, 1, 1)
    assert c.unfinished_kept == 1 and c.call_ids == [ids["old"]]
    assert done.files == dry.files == 3 and done.failed == []
    assert await asyncio.to_thread(lambda: list(recordings.iterdir())) == []
    assert left[ids["old"]] is None
    assert left[ids["live"]] is not None and left[ids["new"]] is not None
    assert again.counts.calls == 0 and again.files == 0


def test_calls_purge_command_counts_refuses_the_future_and_dry_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [k for k in os.environ if k.startswith("SALESVOICE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SALESVOICE_DATA_DIR", str(tmp_path))
    clock = StepClock(OLD)
    store = CallStore(f"sqlite:///{tmp_path / 'calls.db'}", clock=clock)
    try:
        ids = asyncio.run(old_and_new_calls(store, clock, tmp_path / "recordings", "cli"))
        future = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        assert main(["calls", "purge", "--before", future]) == 2
        assert "is in the future" in capsys.readouterr().out
        assert main(["calls", "purge", "--before", "31 January"]) == 2
        assert "is not a date" in capsys.readouterr().out
        assert main(["calls", "purge", "--before", "2001-01-31", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "would delete 1 calls created before 2001-01-31T00:00:00+00:00: 2 turns, " \
               "1 A/B assignments, 1 outcomes, 3 recording files; kept 1 unfinished" in out
        assert main(["calls", "purge", "--before", "2001-01-31"]) == 0
        assert "deleted 1 calls" in capsys.readouterr().out
        assert main(["calls", "purge", "--before", future, "--force"]) == 0
        assert "deleted 1 calls" in capsys.readouterr().out  # the new one; never the live
        listed = asyncio.run(store.list_calls())
        assert [c.id for c in listed] == [ids["live"]]
    finally:
        asyncio.run(store.aclose())


# -- do-not-call -------------------------------------------------------------------------


async def test_do_not_call_normalizes_numbers_and_outlives_the_store(db_url: str) -> None:
    number = f"+1 (555) {uuid.uuid4().int % 10**7:07d}"
    digits = "+1555" + number[-7:]
    async with CallStore(db_url) as store:
        dnc: DoNotCall = store.do_not_call
        assert digits not in dnc
        dnc.add(number, "caller asked: stop calling me")
        assert digits in dnc  # at once, before the write lands
        assert 15550100199 not in dnc
        await store.flush()
        async with CallStore(db_url) as other:  # a second process, say, while it runs
            assert number in other.do_not_call
    async with CallStore(db_url) as reopened:
        assert f"{digits[:5]}-{digits[5:8]}-{digits[8:]}" in reopened.do_not_call
        reopened.do_not_call.add(digits, "again")  # listing twice is harmless
        await reopened.flush()
        assert digits in reopened.do_not_call


async def test_non_phone_caller_ids_compare_case_insensitively(sqlite_url: str) -> None:
    async with CallStore(sqlite_url) as store:
        store.do_not_call.add("  Client:Alice ", "opt-out")
    async with CallStore(sqlite_url) as store:  # aclose() wrote the queued addition
        assert "client:alice" in store.do_not_call
        assert "client:bob" not in store.do_not_call


# -- errors ------------------------------------------------------------------------------


async def test_unknown_call_ids_give_none_or_a_clear_error(db_url: str) -> None:
    nope = new_id()
    async with CallStore(db_url) as store:
        assert await store.get_call(nope) is None
        with pytest.raises(UnknownCallError, match=f"no call '{nope}'"):
            await store.export_dialogue(nope)
        with pytest.raises(UnknownCallError):
            await store.add_turn(nope, 0, "", "Hello.", False, {})
        with pytest.raises(UnknownCallError):
            await store.finish_call(nope, None, None, "agent_ended")


async def test_bad_records_are_refused_with_a_reason(db_url: str) -> None:
    c1 = new_id()
    async with CallStore(db_url) as store:
        await store.start_call(c1, "live", CALLER, "p-1", None, "browser")
        with pytest.raises(StoreError, match="already recorded"):
            await store.start_call(c1, "live", CALLER, "p-1", None, "browser")
        await store.add_turn(c1, 0, "", "Hello.", False, {})
        with pytest.raises(StoreError, match=f"turn 0 of call '{c1}' is already recorded"):
            await store.add_turn(c1, 0, "", "Hello again.", False, {})
        with pytest.raises(StoreError, match="not a Thought"):
            await store.add_turn(c1, 1, "hi", "Hello.", False, {}, {"template": "shout"})
        with pytest.raises(StoreError, match="cannot be stored as JSON"):
            await store.add_turn(c1, 1, "hi", "Hello.", False, {"t": object()})
        with pytest.raises(StoreError, match="unknown outcome 'sold'"):
            await store.finish_call(c1, "sold", None, "agent_ended")
        detail = await store.get_call(c1)
        assert detail is not None and [t.agent_text for t in detail.turns] == ["Hello."]
    with pytest.raises(StoreError, match="closed"):
        await store.get_call(c1)


def test_unusable_urls_are_refused_with_what_to_use_instead(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="needs an SQLite file"):
        CallStore("sqlite://")
    with pytest.raises(StoreError, match="needs an SQLite file"):
        CallStore("sqlite:///:memory:")
    with pytest.raises(StoreError, match="invalid database URL"):
        CallStore("calls.db")


def test_a_database_from_a_newer_salesvoice_is_refused(sqlite_url: str) -> None:
    async def open_and_close() -> None:
        await CallStore(sqlite_url).aclose()

    asyncio.run(open_and_close())
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(insert(schema_version).values(version=SCHEMA_VERSION + 1, applied_at=T0))
    engine.dispose()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        CallStore(sqlite_url)


def test_default_database_is_an_sqlite_file_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert StoreSettings().database_url() == f"sqlite:///{tmp_path}/salesvoice/calls.db"
    assert StoreSettings(url="postgresql+psycopg://u@h/db").database_url().startswith("postgres")
