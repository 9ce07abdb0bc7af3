"""ExperimentStore: experiments, epochs, assignments, later outcomes and the units an
analysis reads, on real databases.

SQLite files in tmp_path always; Postgres too when POSTGRES_TEST_URL is set (each test gets
a database of its own there: at most one experiment runs per database).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from agent.ab_analysis import analyze
from agent.dialogue import CallerProfile
from server.experiments import Experiment, ExperimentError, How, UnknownArmError
from server.outcomes import ImportResult, OutcomeImportError, OutcomeRow
from server.store import CallStore, StoreError, UnknownCallError
from server.store_ab import ExperimentStore, UnknownExperimentError
from server.store_schema import (
    SCHEMA_VERSION,
    assignments,
    calls,
    experiments,
    metadata,
    schema_version,
    turns,
)

POSTGRES_ENV = "POSTGRES_TEST_URL"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class StepClock:
    """Wall clock for the store: one second later at every reading."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'calls.db'}"
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"Postgres backend not exercised: set {POSTGRES_ENV}="
                    "postgresql+psycopg://user@host/db to run this test against a real server")
    base = make_url(url)
    name = f"ab_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def experiment(name: str = "pitch", **over: Any) -> Experiment:
    data: dict[str, Any] = {
        "name": name, "control": "A",
        "arms": [{"name": "A", "program": "insurance-default"},
                 {"name": "B", "program": "insurance-default", "weight": 3}],
        "plan": {"baseline": 0.1, "mde": 0.05}}
    return Experiment.model_validate({**data, **over})


async def a_call(store: CallStore, xs: ExperimentStore, call_id: str, caller: str | None,
                 arm: str, *, how: How = "assigned", epoch: int = 0, exp: str = "pitch",
                 outcome: str | None = "goodbye", source: str = "live",
                 turns: list[tuple[float | None, list[str]]] | None = None) -> None:
    """A finished call of ``exp`` with its arm and turns (v2v seconds, compliance hits)."""
    await store.start_call(call_id, source,  # type: ignore[arg-type]
                           CallerProfile(caller_id=caller), "p-1", arm, "browser")
    key = f"caller:{caller}" if caller else f"call:{call_id}"
    await xs.assign(call_id, exp, arm, how, key, epoch)
    for i, (v2v, hits) in enumerate(turns or []):
        timings = {} if v2v is None else {"voice_to_voice_s": v2v}
        await store.add_turn(call_id, i, "" if i == 0 else "hi", "Hello.", False, timings,
                             info={"compliance": hits})
    await store.finish_call(call_id, outcome, None, "agent_ended")


def row(n: int, *, call_id: str | None = None, caller_id: str | None = None,
        outcome: str = "policy_bought", at: datetime = T0 + timedelta(days=2),
        value: float | None = None) -> OutcomeRow:
    return OutcomeRow(row=n, call_id=call_id, caller_id=caller_id, outcome=outcome,
                      time=at, value=value)


# -- experiments ---------------------------------------------------------------------------


async def test_an_experiment_is_created_running_with_epoch_0(db_url: str) -> None:
    async with CallStore(db_url, clock=StepClock()) as store:
        xs = ExperimentStore(store)
        assert await xs.running() is None and await xs.list() == []
        await xs.create(experiment())
        async with CallStore(db_url) as other:  # another process sees it
            found = await ExperimentStore(other).running()
        assert found is not None and found.name == "pitch" and found.status == "running"
        assert found.spec == experiment() and found.stopped_at is None
        assert found.epoch == 0 and found.weights == {"A": 1.0, "B": 3.0}
        assert found.epochs[0].since == found.started_at == found.created_at
        assert await xs.get("pitch") == found and await xs.get("nope") is None


async def test_only_one_experiment_runs_and_names_are_unique(db_url: str) -> None:
    async with CallStore(db_url, clock=StepClock()) as store:
        xs = ExperimentStore(store)
        await xs.create(experiment())
        with pytest.raises(ExperimentError, match="experiment 'pitch' is running; stop it first"
                                                  r" \(salesvoice ab stop pitch\)"):
            await xs.create(experiment("second"))
        with pytest.raises(ExperimentError, match="named 'pitch' already exists"):
            await xs.create(experiment())
        await xs.stop("pitch")
        with pytest.raises(ExperimentError, match="already stopped"):
            await xs.stop("pitch")
        with pytest.raises(UnknownExperimentError, match="no experiment 'nope'"):
            await xs.stop("nope")
        await xs.create(experiment("second"))
        listed = await xs.list()
        assert [(r.name, r.status) for r in listed] == [("second", "running"),
                                                        ("pitch", "stopped")]
        assert listed[1].stopped_at is not None and await xs.running() == listed[0]


async def test_the_database_itself_refuses_a_second_running_experiment(db_url: str) -> None:
    # Two processes checking at once would both pass the check; the unique index holds.
    async with CallStore(db_url) as store:
        await ExperimentStore(store).create(experiment())

        def sneak(engine: Engine) -> None:
            with engine.begin() as conn:
                conn.execute(insert(experiments).values(
                    name="other", spec={}, status="running", created_at=T0, started_at=T0))

        with pytest.raises(IntegrityError):
            await store.run(sneak)


async def test_weight_changes_start_new_epochs(db_url: str) -> None:
    async with CallStore(db_url, clock=StepClock()) as store:
        xs = ExperimentStore(store)
        await xs.create(experiment())
        assert await xs.set_weights("pitch", {"B": 1.0}) == 1
        assert await xs.set_weights("pitch", {"A": 0.0, "B": 2.0}) == 2
        rec = await xs.get("pitch")
        assert rec is not None and rec.epoch == 2
        assert [e.weights for e in rec.epochs] == [{"A": 1.0, "B": 3.0}, {"A": 1.0, "B": 1.0},
                                                   {"A": 0.0, "B": 2.0}]
        assert rec.epochs[0].since < rec.epochs[1].since < rec.epochs[2].since
        with pytest.raises(UnknownArmError, match="unknown arm 'C' of experiment 'pitch'"):
            await xs.set_weights("pitch", {"C": 1.0})
        with pytest.raises(ExperimentError, match="sum to a positive number"):
            await xs.set_weights("pitch", {"B": 0.0})
        with pytest.raises(UnknownExperimentError):
            await xs.set_weights("nope", {"A": 1.0})
        await xs.stop("pitch")
        with pytest.raises(ExperimentError, match="stopped; its weights are final"):
            await xs.set_weights("pitch", {"A": 1.0})
        rec = await xs.get("pitch")
        assert rec is not None and rec.epoch == 2


async def test_an_assignment_needs_its_call_and_a_real_epoch(db_url: str) -> None:
    async with CallStore(db_url) as store:
        xs = ExperimentStore(store)
        await xs.create(experiment())
        with pytest.raises(UnknownCallError):
            await xs.assign("ghost", "pitch", "A", "assigned", "caller:1", 0)
        await store.start_call("c1", "live", CallerProfile(), "p-1", "A", "browser")
        with pytest.raises(StoreError, match="has no epoch 5"):
            await xs.assign("c1", "pitch", "A", "assigned", "call:c1", 5)
        with pytest.raises(StoreError, match="unknown assignment 'guessed'"):
            await xs.assign("c1", "pitch", "A", "guessed", "call:c1", 0)  # type: ignore[arg-type]
        await xs.assign("c1", "pitch", "A", "no_caller_id", "call:c1", 0)
        with pytest.raises(StoreError, match="already has an arm"):
            await xs.assign("c1", "pitch", "B", "assigned", "call:c1", 0)


# -- later outcomes ------------------------------------------------------------------------


async def test_outcomes_import_all_or_nothing_and_reimports_are_skipped(db_url: str) -> None:
    async with CallStore(db_url) as store:
        xs = ExperimentStore(store)
        await store.start_call("c1", "live", CallerProfile(caller_id="+1 555 010 0199"), "p",
                               None, "twilio")
        good = [row(1, call_id="c1", value=420.0), row(2, caller_id="+15550100199")]
        bad = [*good, row(3, call_id="c-missing"), row(4, caller_id="+15559999999")]
        with pytest.raises(OutcomeImportError) as info:
            await xs.add_outcomes(bad, "crm")
        assert "row 3: no call 'c-missing'" in str(info.value)
        assert "row 4: no call from caller '+15559999999'" in str(info.value)
        assert "nothing imported" in str(info.value)
        assert await xs.add_outcomes(good, "crm") == ImportResult(added=2, skipped=0)
        # The same rows again (another number format, a duplicate in the batch): skipped.
        again = [row(1, call_id="c1", value=420.0), row(2, caller_id="+1 (555) 010-0199"),
                 row(3, caller_id="+15550100199")]
        assert await xs.add_outcomes(again, "crm") == ImportResult(added=0, skipped=3)
        changed = [row(1, call_id="c1", value=421.0), row(2, call_id="c1", outcome="complaint"),
                   row(3, call_id="c1", at=T0 + timedelta(days=3)),
                   row(4, call_id="c1", outcome="complaint")]
        assert await xs.add_outcomes(changed, "crm") == ImportResult(added=3, skipped=1)


# -- units ---------------------------------------------------------------------------------


async def test_units_follow_callers_and_leave_out_forced_crossover_and_simulated_calls(
        db_url: str) -> None:
    async with CallStore(db_url, clock=StepClock()) as store:
        xs = ExperimentStore(store)
        await xs.create(experiment())
        await a_call(store, xs, "c1", "+15550000001", "A", outcome="accepted",
                     turns=[(None, []), (0.5, ["no_guarantee"]), (0.7, [])])
        await a_call(store, xs, "c2", "+15550000001", "A", turns=[(None, []), (1.5, [])])
        await a_call(store, xs, "c3", "+15550000002", "B", how="forced", outcome="accepted")
        await a_call(store, xs, "c4", "+15550000002", "B", outcome="opted_out")
        await a_call(store, xs, "c5", None, "B", how="no_caller_id", outcome="explicit_intent")
        await a_call(store, xs, "c6", "+15550000003", "B", source="simulated")
        await xs.set_weights("pitch", {"A": 3.0})
        await a_call(store, xs, "c7", "+15550000001", "B", epoch=1, outcome="accepted")
        data = await xs.units("pitch")
        with_forced = await xs.units("pitch", include_forced=True)

    by_key = {u.key: u for u in data.units}
    assert list(by_key) == ["caller:+15550000001", "caller:+15550000002", "call:c5"]
    one, two, anon = by_key.values()
    assert (one.arm, one.epoch, one.calls, one.turns, one.compliance_hits) == ("A", 0, 2, 5, 1)
    assert one.v2v == [0.5, 0.7, 1.5] and len(one.call_seconds) == 2
    assert all(s > 0 for s in one.call_seconds)
    assert one.converted_at is not None and one.converted_at < two.first_at  # c1's, not c7's
    assert (two.arm, two.calls, two.opted_out, two.converted_at) == ("B", 1, True, None)
    assert anon.arm == "B" and anon.converted_at is not None  # explicit intent counts
    assert (data.excluded_forced, data.crossovers, data.no_caller_id) == (1, 1, 1)
    assert [e.epoch for e in data.epochs] == [0, 1]
    # With forced calls in, caller 2's unit starts at the forced, accepted call.
    two_forced = next(u for u in with_forced.units if u.key == "caller:+15550000002")
    assert two_forced.calls == 2 and two_forced.converted_at is not None
    assert with_forced.excluded_forced == 0


@pytest.mark.parametrize("require", ["any", "all"])
async def test_later_outcomes_convert_within_the_window(db_url: str, require: str) -> None:
    conversion = {"in_call": ["accepted"], "outcomes": ["policy_bought"], "require": require,
                  "window_days": 30}
    async with CallStore(db_url, clock=StepClock()) as store:
        xs = ExperimentStore(store)
        await xs.create(experiment(conversion=conversion))
        await a_call(store, xs, "c1", "+15550000001", "A", outcome="accepted")  # both
        await a_call(store, xs, "c2", "+15550000002", "A")                      # later only
        await a_call(store, xs, "c3", "+15550000003", "B", outcome="accepted")  # in-call only
        await a_call(store, xs, "c4", "+15550000004", "B")                      # too late
        await a_call(store, xs, "c5", "+15550000005", "B")                      # other kinds
        bought = T0 + timedelta(days=10)
        await xs.add_outcomes([
            row(1, caller_id="+15550000001", at=bought),
            row(2, call_id="c2", at=bought),
            row(3, caller_id="+15550000004", at=T0 + timedelta(days=31)),
            row(4, caller_id="+15550000005", outcome="quote_sent", at=bought),
            row(5, caller_id="+15550000005", outcome="complaint", at=bought),
        ], "crm")
        data = await xs.units("pitch")

    converted = {u.key[-1]: u.converted_at for u in data.units}
    if require == "any":
        assert converted["1"] is not None and converted["1"] < bought  # the call came first
        assert converted["2"] == bought and converted["3"] is not None
    else:
        assert converted["1"] == bought  # known once both are in
        assert converted["2"] is None and converted["3"] is None
    assert converted["4"] is None and converted["5"] is None
    assert [u.complained for u in data.units] == [False, False, False, False, True]


async def test_an_analysis_is_of_the_stored_record_and_its_units_at_the_store_clock(
        db_url: str) -> None:
    clock = StepClock()
    async with CallStore(db_url, clock=clock) as store:
        xs = ExperimentStore(store)
        await xs.create(experiment())
        await a_call(store, xs, "c1", "+15550000001", "A", outcome="accepted")
        await a_call(store, xs, "c2", "+15550000002", "B", how="forced", outcome="accepted")
        await xs.stop("pitch")
        record = await xs.get("pitch")
        assert record is not None
        later = T0 + timedelta(days=3)
        expected = analyze(record, await xs.units("pitch"), now=later).to_json()
        with_forced = analyze(record, await xs.units("pitch", include_forced=True),
                              now=later).to_json()
        got = (await xs.analysis("pitch", now=later)).to_json()
        got_forced = (await xs.analysis("pitch", include_forced=True, now=later)).to_json()
        before = clock.now
        by_clock = (await xs.analysis("pitch")).to_json()
        with pytest.raises(UnknownExperimentError, match="no experiment 'other'"):
            await xs.analysis("other")

    for a in (expected, with_forced, got, got_forced):
        a.pop("generated_at")
    assert got == expected and got_forced == with_forced and got != got_forced
    assert got["status"] == "stopped" and got["excluded"]["forced"] == 1
    assert datetime.fromisoformat(by_clock["generated_at"]) > before  # the store's clock


async def test_units_of_10000_calls_are_read_in_well_under_a_second(db_url: str) -> None:
    n, per_call = 10_000, 6
    async with CallStore(db_url) as store:
        xs = ExperimentStore(store)
        await xs.create(experiment())

        def fill(engine: Engine) -> None:
            call_rows, assign_rows, turn_rows = [], [], []
            for i in range(n):
                start = T0 + timedelta(minutes=i)
                caller = f"+1555{i % 7000:07d}"  # some callers call twice
                call_rows.append({
                    "id": f"c{i}", "source": "live", "transport": "twilio",
                    "created_at": start, "finished_at": start + timedelta(seconds=90),
                    "caller_key": caller, "caller": {"caller_id": caller},
                    "program_version": "p-1", "variant": "AB"[i % 2],
                    "outcome": "accepted" if i % 9 == 0 else "goodbye"})
                assign_rows.append({"call_id": f"c{i}", "experiment": "pitch",
                                    "arm": "AB"[(i % 7000) % 2], "how": "assigned",
                                    "unit_key": f"caller:{caller}", "epoch": 0, "at": start})
                turn_rows += [{"call_id": f"c{i}", "turn_index": t, "at": start,
                               "user_text": "hi", "agent_text": "Hello.", "interrupted": False,
                               "timings": {"voice_to_voice_s": 0.4 + t / 10},
                               "thought": None, "strategy": None,
                               "info": {"compliance": ["x"] if t == 3 and i % 5 == 0 else []}}
                              for t in range(per_call)]
            with engine.begin() as conn:
                conn.execute(insert(calls), call_rows)
                conn.execute(insert(assignments), assign_rows)
                conn.execute(insert(turns), turn_rows)

        await store.run(fill)
        started = time.perf_counter()
        data = await xs.units("pitch")
        took = time.perf_counter() - started

    print(f"units() of {n} calls, {n * per_call} turns: {took:.3f} s")
    summary = f"units() of {n} calls took {took:.3f} s"
    assert len(data.units) == 7000, summary
    assert sum(u.calls for u in data.units) == n and data.crossovers == 0, summary
    assert sum(u.turns for u in data.units) == n * per_call, summary
    assert sum(u.compliance_hits for u in data.units) == n // 5, summary
    assert sum(len(u.v2v) for u in data.units) == n * per_call, summary
    # And the analysis takes what the store gives.
    analysis = analyze(experiment(), data, now=T0 + timedelta(days=8)).to_json()
    assert [a["units"] for a in analysis["arms"]] == [3500, 3500], summary


async def test_an_old_database_gets_the_ab_tables_and_keeps_its_schema_version(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    old = [metadata.tables[t] for t in ("schema_version", "calls", "turns", "do_not_call")]
    metadata.create_all(engine, tables=old)  # what salesvoice made before experiments
    with engine.begin() as conn:
        conn.execute(insert(schema_version).values(version=1, applied_at=T0))
    engine.dispose()
    async with CallStore(url) as store:
        await ExperimentStore(store).create(experiment())

        def version(engine: Engine) -> list[int]:
            with engine.connect() as conn:
                return list(conn.execute(select(schema_version.c.version)).scalars())

        assert await store.run(version) == [SCHEMA_VERSION] == [1]
