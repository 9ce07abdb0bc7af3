"""Call records: every call persisted turn by turn (SQLite file by default, Postgres by URL).

All blocking database work of a store runs on one worker thread of its own, so the event
loop never waits on the disk and writes land in the order they were made. Every write
commits on its own before its coroutine returns (SQLite in WAL mode with
synchronous=FULL, Postgres one transaction a turn): a turn that was recorded survives a
``kill -9`` a moment later. A call left unfinished by a server that died is marked ended
with ``end_reason = "server_crash"`` when a store next opens the database, or at the
heartbeat of a live one (``server.store_db.recover_crashed``). Caller card numbers are
redacted from transcripts before they are written (``server.redact``).

    store = CallStore("sqlite:////var/lib/salesvoice/calls.db")
    await store.start_call(call_id, "live", caller, program.version, arm, "browser")
    await store.record_turn(call_id, event)          # each TurnCompleted, as it happens
    await store.finish_call(call_id, "accepted", "dental", "agent_ended")
    await store.aclose()

Opening the database (URL checks, schema version) is ``server/store_db.py``, the tables
and their records ``server/store_schema.py``, the worker threads ``server/store_worker.py``,
the heartbeat and crash recovery of this store ``server/store_heartbeat.py``, purging old
calls and their recordings ``server/store_purge.py``, the do-not-call list
``server/store_dnc.py``; experiments, arms and later outcomes are kept by
``server.store_ab.ExperimentStore`` on this store's engine and worker. The names callers
need are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.compliance import normalize_caller_id
from agent.dialogue import CallerProfile, Dialogue, Outcome, Thought
from server.redact import redact_card_numbers
from server.store_db import (
    HEARTBEAT_S,
    STALE_AFTER,
    ProcessIdentity,
    StoreError,
    StoreSettings,
    UnknownCallError,
    open_database,
)
from server.store_dnc import SqlDoNotCall
from server.store_heartbeat import CallOwner
from server.store_purge import PurgeResult, purge_with_recordings
from server.store_schema import (
    CallDetail,
    CallSummary,
    PurgeCounts,
    Source,
    TurnRecord,
    call_exists,
    calls,
    read_detail,
    read_summaries,
    to_dialogue,
    turns,
)
from server.store_worker import StoreWorker
from voice.events import TurnCompleted

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _jsonable(value: object, what: str) -> Any:
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from None


class CallStore:
    """Call records in one database. Async methods run on the store's worker thread.

    Opening creates missing tables and ends the calls of crashed servers (blocking
    steps: do them at start-up). In-memory SQLite is refused: the worker and
    do-not-call checks need to share the data. The first ``start_call`` registers this
    store as a call owner and starts its heartbeat (every ``heartbeat_s``, on a thread
    of its own, so a busy event loop does not look like a dead server); ``process``
    and ``stale_after`` are for tests of other machines' servers.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] = _utcnow,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after: timedelta = STALE_AFTER,
        process: ProcessIdentity | None = None,
    ) -> None:
        self._worker = StoreWorker(open_database(url, clock), clock)
        self.url = self._worker.url
        self._owner = CallOwner(self._worker, heartbeat_s=heartbeat_s, stale_after=stale_after,
                                process=process or ProcessIdentity.current())
        self.instance = self._owner.instance
        """This store's id as a call owner (``store_instances``)."""
        self.do_not_call = SqlDoNotCall(self._worker)
        """The do-not-call list in this database (agent.compliance.DoNotCall)."""
        self._owner.recover(unowned=True)

    async def __aenter__(self) -> CallStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- writes ---------------------------------------------------------------------------
    async def start_call(
        self,
        call_id: str,
        source: Source,
        caller: CallerProfile,
        program_version: str,
        variant: str | None,
        transport: str,
    ) -> None:
        """Record a new call. ``source`` is the Dialogue's ("live" for the server);
        ``transport`` says how it came in ("browser", "twilio", ...)."""
        now = self._worker.now()
        row = {
            "id": call_id,
            "source": source,
            "transport": transport,
            "created_at": now,
            "caller_key": normalize_caller_id(caller.caller_id) if caller.caller_id else None,
            "caller": caller.model_dump(mode="json"),
            "program_version": program_version,
            "variant": variant,
        }

        def write() -> None:
            try:
                with self._worker.engine.begin() as conn:
                    self._owner.beat(conn, now)
                    conn.execute(insert(calls).values(row))
                    self._owner.own(conn, call_id)
            except IntegrityError:
                raise StoreError(f"call {call_id!r} is already recorded") from None

        await self._worker.run(write)
        self._owner.start()

    async def add_turn(
        self,
        call_id: str,
        turn_index: int,
        user_text: str,
        agent_text: str,
        interrupted: bool,
        timings: Mapping[str, Any],
        thought: Mapping[str, Any] | Thought | None = None,
        strategy: str | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one exchange and commit it before returning. ``thought`` must validate
        as agent.dialogue.Thought; ``timings`` and ``info`` must be JSON-serializable.
        Card numbers in either text are stored as ``server.redact.CARD_MARKER``."""
        what = f"turn {turn_index} of call {call_id!r}"
        if thought is not None:
            try:
                thought = Thought.model_validate(thought)
            except ValidationError as exc:
                raise StoreError(f"the thought of {what} is not a Thought: {exc}") from None
        row = {
            "call_id": call_id,
            "turn_index": turn_index,
            "at": self._worker.now(),
            "user_text": redact_card_numbers(user_text),
            "agent_text": redact_card_numbers(agent_text),
            "interrupted": interrupted,
            "timings": _jsonable(timings, f"the timings of {what}"),
            "thought": None if thought is None else thought.model_dump(mode="json"),
            "strategy": strategy,
            "info": _jsonable(info or {}, f"the info of {what}"),
        }

        def write() -> None:
            try:
                with self._worker.engine.begin() as conn:
                    conn.execute(insert(turns).values(row))
            except IntegrityError:
                with self._worker.engine.connect() as conn:
                    if not call_exists(conn, call_id):
                        raise UnknownCallError(call_id) from None
                raise StoreError(f"{what} is already recorded") from None

        await self._worker.run(write)

    async def record_turn(self, call_id: str, event: TurnCompleted) -> None:
        """add_turn() from the pipeline's event: thought and strategy come from its info;
        the generated text is kept in info when the caller did not hear all of it."""
        info = dict(event.info)
        thought = info.pop("thought", None)
        strategy = info.pop("strategy", None)
        if event.agent_full_text != event.agent_text:
            info["agent_full_text"] = redact_card_numbers(event.agent_full_text)
        await self.add_turn(
            call_id,
            event.turn,
            event.user_text,
            event.agent_text,
            event.interrupted,
            event.timings.as_dict(),
            thought,
            strategy,
            info,
        )

    async def finish_call(
        self,
        call_id: str,
        outcome: Outcome | str | None,
        outcome_intent: str | None,
        end_reason: str | None,
        *,
        caller_wav: str | os.PathLike[str] | None = None,
        agent_wav: str | os.PathLike[str] | None = None,
    ) -> None:
        """Record how the call ended (a second call overwrites). Raises UnknownCallError."""
        try:
            outcome = None if outcome is None else Outcome(outcome)
        except ValueError:
            raise StoreError(
                f"unknown outcome {outcome!r} for call {call_id!r}; "
                f"expected one of {[o.value for o in Outcome]}"
            ) from None
        values = {
            "finished_at": self._worker.now(),
            "outcome": None if outcome is None else outcome.value,
            "outcome_intent": outcome_intent,
            "end_reason": end_reason,
            "caller_wav": None if caller_wav is None else os.fspath(caller_wav),
            "agent_wav": None if agent_wav is None else os.fspath(agent_wav),
        }

        def write() -> None:
            with self._worker.engine.begin() as conn:
                done = conn.execute(update(calls).where(calls.c.id == call_id).values(values))
                self._owner.release(conn, call_id)
            if done.rowcount == 0:
                raise UnknownCallError(call_id)

        await self._worker.run(write)

    async def purge(
        self, before: datetime, *, dry_run: bool = False, recordings_dir: Path | None = None
    ) -> PurgeResult:
        """Delete every finished call created before ``before``: its turns, A/B
        assignment, outcomes, and recordings (the files its record names, and
        ``<call id>-*`` files in ``recordings_dir``). ``dry_run``: only count."""
        return await self._worker.run(lambda: purge_with_recordings(
            self._worker.engine, before, dry_run=dry_run, recordings_dir=recordings_dir))

    async def recover_crashed(self) -> list[str]:
        """End the calls of servers that died (see ``server.store_db``); their ids."""
        return await self._worker.run(lambda: self._owner.recover(unowned=False))

    async def flush(self) -> None:
        """Wait until every write queued so far (do-not-call additions too) is committed."""
        await self._worker.run(lambda: None)

    # -- reads ----------------------------------------------------------------------------
    async def list_calls(self, limit: int = 50, offset: int = 0) -> list[CallSummary]:
        """Calls, newest first."""

        def read() -> list[CallSummary]:
            with self._worker.engine.connect() as conn:
                return read_summaries(conn, limit, offset)

        return await self._worker.run(read)

    async def get_call(self, call_id: str) -> CallDetail | None:
        """The call with its turns; None if there is no such call."""

        def read() -> CallDetail | None:
            with self._worker.engine.connect() as conn:
                return read_detail(conn, call_id)

        return await self._worker.run(read)

    async def export_dialogue(self, call_id: str) -> Dialogue:
        """The call as the shared dialogue record. Raises UnknownCallError."""

        def read() -> Dialogue:
            with self._worker.engine.connect() as conn:
                detail = read_detail(conn, call_id)
            if detail is None:
                raise UnknownCallError(call_id)
            return to_dialogue(detail)

        return await self._worker.run(read)

    async def export_jsonl(
        self,
        dest: str | os.PathLike[str] | TextIO,
        *,
        call_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        finished_only: bool = False,
    ) -> int:
        """Write one Dialogue JSON per line, oldest call first; return how many.

        Selects every call, or those in ``call_ids``, created at or after ``since``, and
        only those that finished if ``finished_only``. A path is overwritten."""
        stmt = select(calls.c.id).order_by(calls.c.created_at, calls.c.id)
        if call_ids is not None:
            stmt = stmt.where(calls.c.id.in_(list(call_ids)))
        if since is not None:
            stmt = stmt.where(calls.c.created_at >= since)
        if finished_only:
            stmt = stmt.where(calls.c.finished_at.is_not(None))

        def write_lines(out: TextIO) -> int:
            with self._worker.engine.connect() as conn:
                ids = list(conn.execute(stmt).scalars())
                for call_id in ids:
                    detail = read_detail(conn, call_id)
                    assert detail is not None
                    out.write(to_dialogue(detail).to_json() + "\n")
            return len(ids)

        def export() -> int:
            if isinstance(dest, str | os.PathLike):
                with open(dest, "w", encoding="utf-8") as out:
                    return write_lines(out)
            return write_lines(dest)

        return await self._worker.run(export, bulk=True)

    # -- for stores of other records in this database (server.store_ab) -------------------
    async def run(self, work: Callable[[Engine], T], *, bulk: bool = False) -> T:
        """Run blocking ``work`` with the engine on the writer thread, in order with every
        write; ``bulk``: on the export thread instead, for long reads."""
        return await self._worker.run(lambda: work(self._worker.engine), bulk=bulk)

    def now(self) -> datetime:
        """The store's clock (injected in tests)."""
        return self._worker.now()

    # -- lifecycle ------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Finish every queued write, then release the database and the worker threads.
        Calls this store started and never finished are left to crash recovery."""
        if self._worker.closed:
            return
        self._owner.stop()
        await self._worker.run(lambda: None, bulk=True)
        if self._owner.started:
            await self._worker.run(self._owner.unregister)
        await self._worker.aclose()


__all__ = [
    "CallDetail",
    "CallStore",
    "CallSummary",
    "PurgeCounts",
    "PurgeResult",
    "Source",
    "SqlDoNotCall",
    "StoreError",
    "StoreSettings",
    "TurnRecord",
    "UnknownCallError",
    "to_dialogue",
]
