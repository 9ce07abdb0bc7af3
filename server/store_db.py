"""Opening the call database: where it is, URL checks, SQLite set-up, the schema check,
and the recovery of calls whose server died.

``open_database`` gives ``server.store.CallStore`` an engine whose tables exist and
whose schema version this salesvoice understands; the errors of the call store live
here too, since opening is where most of them start.

Crash recovery: every process that starts calls registers a store instance (machine,
pid, heartbeat) and owns its live calls (``live_calls``) until they finish. A call whose
owner is gone is marked ended with ``end_reason = "server_crash"`` by
``recover_crashed``, which every store runs when it opens and every writing store runs
with each heartbeat. An owner is gone when its process no longer runs on this machine,
or, for an owner on another machine (several servers on one Postgres), when its
heartbeat is older than ``STALE_AFTER``. A live server's calls are never touched.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, delete, event, select, update
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from models.config import StrictModel, default_data_dir
from models.errors import MissingExtraError, SalesvoiceError
from server.store_schema import (
    SCHEMA_VERSION,
    calls,
    ensure_schema,
    live_calls,
    store_instances,
)

CRASH_END_REASON = "server_crash"
HEARTBEAT_S = 10.0
STALE_AFTER = timedelta(seconds=60)
"""Six missed heartbeats: an owner on another machine is gone (assumes clocks within
seconds of each other, as NTP keeps them)."""
UNOWNED_AFTER = timedelta(days=1)
"""Unfinished calls with no owner row were written by a salesvoice before crash
recovery; longer than any call lasts, they are over."""


class StoreError(SalesvoiceError):
    """The call store cannot do what was asked (bad URL, duplicate record, closed store)."""


class UnknownCallError(StoreError, LookupError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r} in the call store (start_call() records it)")
        self.call_id = call_id


class StoreSettings(StrictModel):
    """Where calls are recorded (A/B splits are experiments: ``salesvoice ab create``)."""

    url: str | None = None
    """SQLAlchemy URL (sqlite:///path/calls.db, postgresql+psycopg://user@host/db);
    None: calls.db in $XDG_DATA_HOME/salesvoice (~/.local/share/salesvoice)."""

    def database_url(self) -> str:
        if self.url is not None:
            return self.url
        return f"sqlite:///{default_data_dir() / 'calls.db'}"


def open_database(url: str, clock: Callable[[], datetime]) -> Engine:
    """An engine on ``url`` with the call tables created (a blocking step). Refuses a
    database whose schema is newer than this salesvoice; disposes the engine on error."""
    engine = _create_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        version = ensure_schema(engine, clock())
    except OperationalError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the call database at {shown}: {exc.orig}") from None
    except BaseException:
        engine.dispose()
        raise
    if version > SCHEMA_VERSION:
        engine.dispose()
        raise StoreError(
            f"the database at {shown} has schema version {version}, newer than this "
            f"salesvoice understands ({SCHEMA_VERSION}); upgrade salesvoice"
        )
    return engine


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"invalid database URL {url!r}; expected e.g. sqlite:///path/calls.db "
            "or postgresql+psycopg://user@host/dbname"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise MissingExtraError("call store", "postgres", exc.name or "psycopg") from None
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        raise StoreError(
            f"the call store needs an SQLite file, not {url!r} "
            "(in-memory databases are not shared between threads): use sqlite:///path/calls.db"
        )
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (other stores, do-not-call checks) never wait for the writer.
    # synchronous=FULL: each commit (a turn) is fsynced into the WAL before the write
    # returns, so it survives a killed process and a power cut alike; one fsync a turn.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# -- crash recovery ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """Where a store instance runs: ``host`` names the machine and process namespace in
    which ``pid`` (started at ``pid_start``, as the OS counts it) means one process."""

    host: str
    pid: int
    pid_start: str

    @classmethod
    def current(cls) -> ProcessIdentity:
        stat = _proc_stat(os.getpid())
        return cls(_host_key(), os.getpid(), "" if stat is None else stat[1])

    def alive(self, pid: int, pid_start: str) -> bool:
        """Is process ``pid`` (of this host) still the one that started at ``pid_start``?"""
        if pid == self.pid:
            return pid_start == self.pid_start
        stat = _proc_stat(pid)
        if stat is not None:
            state, started = stat
            return state not in ("Z", "X") and (not pid_start or started == pid_start)
        if Path("/proc/self/stat").exists():
            return False  # Linux: no such process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's process
        return True


def _host_key() -> str:
    """Hostname, boot id and pid namespace: containers on one machine share the boot id,
    not the namespace, and a hostname alone may repeat across machines."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        pass  # not Linux: the hostname alone
    return "/".join(parts)


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of ``pid`` from /proc; None without."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()  # after "pid (command name)"
    return fields[0], fields[19]


def heartbeat(conn: Connection, instance: str, me: ProcessIdentity, now: datetime) -> None:
    """Say ``instance`` is alive (registering it, again if a sweep removed it)."""
    beat = conn.execute(
        update(store_instances).where(store_instances.c.id == instance)
        .values(heartbeat_at=now))
    if beat.rowcount == 0:
        conn.execute(store_instances.insert().values(
            id=instance, host=me.host, pid=me.pid, pid_start=me.pid_start, started_at=now,
            heartbeat_at=now))


def recover_crashed(
    conn: Connection, me: ProcessIdentity, now: datetime, *,
    stale_after: timedelta = STALE_AFTER, unowned: bool = False,
) -> list[str]:
    """Mark ended (``CRASH_END_REASON``) every unfinished call whose owner is gone and
    forget the gone owners; return those calls' ids. ``unowned``: also calls older than
    ``UNOWNED_AFTER`` that no instance ever owned (a one-off scan, for opening)."""
    rows = conn.execute(select(store_instances)).mappings().all()
    gone = [r["id"] for r in rows if not _alive(r, me, now - stale_after)]
    orphaned = live_calls.c.instance.not_in(select(store_instances.c.id))
    ids = set(conn.execute(
        select(live_calls.c.call_id).where(live_calls.c.instance.in_(gone) | orphaned)
    ).scalars())
    if unowned:
        ids |= set(conn.execute(select(calls.c.id).where(
            calls.c.finished_at.is_(None), calls.c.created_at < now - UNOWNED_AFTER,
            calls.c.id.not_in(select(live_calls.c.call_id)))).scalars())
    ended = []
    for call_id in sorted(ids):
        done = conn.execute(
            update(calls).where(and_(calls.c.id == call_id, calls.c.finished_at.is_(None)))
            .values(finished_at=now, end_reason=CRASH_END_REASON))
        if done.rowcount:
            ended.append(call_id)
        conn.execute(delete(live_calls).where(live_calls.c.call_id == call_id))
    if gone:
        conn.execute(delete(store_instances).where(store_instances.c.id.in_(gone)))
    return ended


def _alive(row: RowMapping, me: ProcessIdentity, stale_before: datetime) -> bool:
    if row["host"] == me.host:  # the OS knows for sure
        return me.alive(row["pid"], row["pid_start"])
    heartbeat_at: datetime = row["heartbeat_at"]
    return heartbeat_at >= stale_before
