"""Crash safety of the call store: committed turns survive a killed writer, and calls a
dead server left unfinished are ended as "server_crash", never those of a live one.

SQLite files in tmp_path always; Postgres too when POSTGRES_TEST_URL is set.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text, update

from agent.dialogue import CallerProfile, Outcome
from server.store import CallStore
from server.store_db import ProcessIdentity
from server.store_schema import calls, live_calls, store_instances
from tests.unit.test_store import REPO, T0, StepClock, db_url, new_id, record_two_turns

__all__ = ["db_url"]  # the fixture, shared with test_store.py
ELSEWHERE = ProcessIdentity(host="another-machine/boot/pid:[1]", pid=4242, pid_start="77")
"""A server on another machine sharing the database (Postgres)."""


class FixedClock:
    """Wall clock for the store that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def killed_writer(db_url: str, call_id: str) -> None:
    """A process that starts a call, records two turns and dies by SIGKILL."""
    script = textwrap.dedent(f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.unit.test_store import CallStore, record_two_turns

        async def main() -> None:
            store = CallStore({db_url!r})
            await record_two_turns(store, {call_id!r})
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def test_a_call_of_a_killed_server_is_ended_as_a_crash_when_a_store_next_opens(
    db_url: str,
) -> None:
    call_id = new_id()
    killed_writer(db_url, call_id)

    async def check() -> None:
        async with CallStore(db_url) as store:
            detail = await store.get_call(call_id)
        assert detail is not None
        assert detail.end_reason == "server_crash" and detail.finished_at is not None
        assert detail.outcome is None
        assert [t.index for t in detail.turns] == [0, 1]

    asyncio.run(check())


async def test_the_calls_of_a_live_store_are_never_ended_by_another(db_url: str) -> None:
    call_id = new_id()
    async with CallStore(db_url) as live:
        await record_two_turns(live, call_id)
        async with CallStore(db_url) as other:  # a second server starting, same machine
            assert call_id not in await other.recover_crashed()
            detail = await other.get_call(call_id)
        assert detail is not None and detail.end_reason is None
        await live.finish_call(call_id, Outcome.GOODBYE, None, "caller")
        detail = await live.get_call(call_id)
        assert detail is not None and detail.end_reason == "caller"


async def test_a_server_on_another_machine_is_gone_only_once_its_heartbeat_is_stale(
    db_url: str,
) -> None:
    clock = FixedClock()
    call_id = new_id()
    peer = CallStore(db_url, clock=clock, process=ELSEWHERE, heartbeat_s=3600)
    here = CallStore(db_url, clock=clock, stale_after=timedelta(seconds=60))
    try:
        await peer.start_call(call_id, "live", CallerProfile(), "p-1", None, "twilio")
        clock.now = T0 + timedelta(seconds=59)
        assert call_id not in await here.recover_crashed()
        clock.now = T0 + timedelta(seconds=61)
        assert call_id in await here.recover_crashed()
        detail = await here.get_call(call_id)
        assert detail is not None and detail.end_reason == "server_crash"
        # The peer was only slow: its own end of the call is the record.
        await peer.finish_call(call_id, None, None, "caller")
        detail = await here.get_call(call_id)
        assert detail is not None and detail.end_reason == "caller"
    finally:
        await peer.aclose()
        await here.aclose()


async def test_the_heartbeat_keeps_a_store_alive_and_sweeps_dead_peers(db_url: str) -> None:
    mine, theirs = new_id(), new_id()
    peer = CallStore(db_url, process=ELSEWHERE, heartbeat_s=3600)
    await peer.start_call(theirs, "live", CallerProfile(), "p-1", None, "twilio")
    await peer.aclose()  # the peer's process would now be gone; its row went with aclose()
    async with CallStore(db_url, heartbeat_s=0.02) as store:
        await store.start_call(mine, "live", CallerProfile(), "p-1", None, "browser")
        engine = create_engine(db_url)
        try:
            first = _heartbeat_at(engine, store.instance)
            for _ in range(500):  # real time: the heartbeat is a thread
                if _heartbeat_at(engine, store.instance) > first:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("no heartbeat within 5 s")
            ended = {c.id: c.end_reason for c in await store.list_calls(limit=1000)}
            assert ended[theirs] == "server_crash" and ended[mine] is None
        finally:
            engine.dispose()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:  # closed: no longer an owner
            assert conn.execute(select(store_instances).where(
                store_instances.c.id == store.instance)).first() is None
            assert conn.execute(select(live_calls).where(
                live_calls.c.call_id == mine)).first() is not None
    finally:
        engine.dispose()


def _heartbeat_at(engine: Engine, instance: str) -> datetime:
    with engine.connect() as conn:
        at: datetime = conn.execute(select(store_instances.c.heartbeat_at).where(
            store_instances.c.id == instance)).scalar_one()
    return at


def test_a_dead_or_reused_pid_on_this_machine_is_not_alive() -> None:
    me = ProcessIdentity.current()
    assert me.alive(me.pid, me.pid_start)
    assert not me.alive(me.pid, "1")  # this pid, but an earlier process's start time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        assert me.alive(child.pid, started)
        assert not me.alive(child.pid, str(int(started) + 1))
        child.kill()
        child.wait()
        assert not me.alive(child.pid, started)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def test_old_unowned_calls_from_before_crash_recovery_are_ended(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    async with CallStore(url, clock=StepClock()) as old:
        for call_id in ("ancient", "recent"):
            await old.start_call(call_id, "live", CallerProfile(), "p-1", None, "browser")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # as a salesvoice without owner records left them
            conn.execute(live_calls.delete())
            conn.execute(update(calls).where(calls.c.id == "recent")
                         .values(created_at=T0 + timedelta(days=30)))
    finally:
        engine.dispose()
    clock = StepClock(T0 + timedelta(days=30, hours=1))
    async with CallStore(url, clock=clock) as store:
        ancient, recent = await store.get_call("ancient"), await store.get_call("recent")
    assert ancient is not None and ancient.end_reason == "server_crash"
    assert recent is not None and recent.end_reason is None


def test_sqlite_commits_are_fsynced_in_wal_mode(tmp_path: Path) -> None:
    async def pragmas() -> tuple[str, int]:
        async with CallStore(f"sqlite:///{tmp_path / 'calls.db'}") as store:
            def read(engine: Engine) -> tuple[str, int]:
                with engine.connect() as conn:
                    mode = conn.execute(text("PRAGMA journal_mode")).scalar_one()
                    sync = conn.execute(text("PRAGMA synchronous")).scalar_one()
                    return str(mode), int(sync)

            return await store.run(read)

    assert asyncio.run(pragmas()) == ("wal", 2)  # 2: FULL
