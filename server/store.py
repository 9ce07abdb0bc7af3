"""Call records: every call persisted turn by turn (SQLite file by default, Postgres by URL).

All blocking database work of a store runs on one worker thread of its own, so the event
loop never waits on the disk and writes land in the order they were made. Every write
commits on its own: a turn that was recorded survives a crash a moment later.

    store = CallStore("sqlite:////var/lib/salesvoice/calls.db")
    variant = assign_variant(caller.caller_id, {"A": 0.5, "B": 0.5}, call_id=call_id)
    await store.start_call(call_id, "live", caller, program.version, variant, "browser")
    await store.record_turn(call_id, event)          # each TurnCompleted, as it happens
    await store.finish_call(call_id, "accepted", "dental", "agent_ended")
    await store.aclose()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python
from sqlalchemy import (
    Engine,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from agent.compliance import normalize_caller_id
from agent.dialogue import CallerProfile, Dialogue, Outcome, Thought
from models.config import StrictModel
from models.errors import MissingExtraError, SalesvoiceError
from server.store_schema import (
    SCHEMA_VERSION,
    CallDetail,
    CallSummary,
    Source,
    TurnRecord,
    call_exists,
    calls,
    do_not_call,
    ensure_schema,
    read_detail,
    read_summaries,
    to_dialogue,
    turns,
)
from voice.events import TurnCompleted

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(SalesvoiceError):
    """The call store cannot do what was asked (bad URL, duplicate record, closed store)."""


class UnknownCallError(StoreError, LookupError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r} in the call store (start_call() records it)")
        self.call_id = call_id


class StoreSettings(StrictModel):
    """Where calls are recorded, and the A/B split of new calls."""

    url: str | None = None
    """SQLAlchemy URL (sqlite:///path/calls.db, postgresql+psycopg://user@host/db);
    None: calls.db in $XDG_DATA_HOME/salesvoice (~/.local/share/salesvoice)."""
    variants: dict[str, float] = Field(default_factory=dict)
    """Variant name → weight; empty: no A/B test, calls get no variant."""

    @field_validator("variants")
    @classmethod
    def _weights(cls, variants: dict[str, float]) -> dict[str, float]:
        _check_weights(variants)
        return variants

    def database_url(self) -> str:
        if self.url is not None:
            return self.url
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return f"sqlite:///{Path(base) / 'salesvoice' / 'calls.db'}"


def assign_variant(
    caller_id: str | None, variants: Mapping[str, float], *, call_id: str | None = None
) -> str | None:
    """The A/B variant of a call, drawn by weight from a sha256 of the caller id.

    The same caller gets the same variant in every process and every run (the id is
    normalized first, so "+1 555-0100" and "+15550100" agree). A call without caller id
    is keyed by ``call_id`` instead: deterministic for that call, independent of the
    person. Returns None when no variants are configured. Config order does not matter.
    """
    if not variants:
        return None
    _check_weights(variants)
    if caller_id is not None and caller_id.strip():
        key = "caller:" + normalize_caller_id(caller_id)
    elif call_id is not None:
        key = "call:" + call_id
    else:
        raise ValueError("assign_variant needs a caller id or, failing that, a call id")
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    names = sorted(n for n, w in variants.items() if w > 0)
    total = sum(variants[n] for n in names)
    edge = 0.0
    for name in names:
        edge += variants[name] / total
        if u < edge:
            return name
    return names[-1]  # u just below 1 and rounding left the last edge below it


def _check_weights(variants: Mapping[str, float]) -> None:
    weights = variants.values()
    if variants and (
        any(not math.isfinite(w) or w < 0 for w in weights) or not any(w > 0 for w in weights)
    ):
        raise ValueError(f"variant weights must be finite, >= 0, not all 0: {dict(variants)}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _jsonable(value: object, what: str) -> Any:
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from None


class CallStore:
    """Call records in one database. Async methods run on the store's worker thread.

    Opening creates missing tables (a blocking step: do it at start-up). In-memory
    SQLite is refused: the worker and do-not-call checks need to share the data.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self._engine = _create_engine(url)
        self.url = self._engine.url.render_as_string(hide_password=True)
        try:
            version = ensure_schema(self._engine, clock())
        except OperationalError as exc:
            self._engine.dispose()
            raise StoreError(f"cannot open the call database at {self.url}: {exc.orig}") from None
        except BaseException:
            self._engine.dispose()
            raise
        if version > SCHEMA_VERSION:
            self._engine.dispose()
            raise StoreError(
                f"the database at {self.url} has schema version {version}, newer than this "
                f"salesvoice understands ({SCHEMA_VERSION}); upgrade salesvoice"
            )
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callstore")
        # Bulk exports read on their own thread so they never hold up live turn writes.
        self._exporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callstore-export")
        self._closed = False
        self.do_not_call = SqlDoNotCall(self)
        """The do-not-call list in this database (agent.compliance.DoNotCall)."""

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
        row = {
            "id": call_id,
            "source": source,
            "transport": transport,
            "created_at": self._clock(),
            "caller_key": normalize_caller_id(caller.caller_id) if caller.caller_id else None,
            "caller": caller.model_dump(mode="json"),
            "program_version": program_version,
            "variant": variant,
        }

        def write() -> None:
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(calls).values(row))
            except IntegrityError:
                raise StoreError(f"call {call_id!r} is already recorded") from None

        await self._run(self._writer, write)

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
        as agent.dialogue.Thought; ``timings`` and ``info`` must be JSON-serializable."""
        what = f"turn {turn_index} of call {call_id!r}"
        if thought is not None:
            try:
                thought = Thought.model_validate(thought)
            except ValidationError as exc:
                raise StoreError(f"the thought of {what} is not a Thought: {exc}") from None
        row = {
            "call_id": call_id,
            "turn_index": turn_index,
            "at": self._clock(),
            "user_text": user_text,
            "agent_text": agent_text,
            "interrupted": interrupted,
            "timings": _jsonable(timings, f"the timings of {what}"),
            "thought": None if thought is None else thought.model_dump(mode="json"),
            "strategy": strategy,
            "info": _jsonable(info or {}, f"the info of {what}"),
        }

        def write() -> None:
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(turns).values(row))
            except IntegrityError:
                with self._engine.connect() as conn:
                    if not call_exists(conn, call_id):
                        raise UnknownCallError(call_id) from None
                raise StoreError(f"{what} is already recorded") from None

        await self._run(self._writer, write)

    async def record_turn(self, call_id: str, event: TurnCompleted) -> None:
        """add_turn() from the pipeline's event: thought and strategy come from its info;
        the generated text is kept in info when the caller did not hear all of it."""
        info = dict(event.info)
        thought = info.pop("thought", None)
        strategy = info.pop("strategy", None)
        if event.agent_full_text != event.agent_text:
            info["agent_full_text"] = event.agent_full_text
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
            "finished_at": self._clock(),
            "outcome": None if outcome is None else outcome.value,
            "outcome_intent": outcome_intent,
            "end_reason": end_reason,
            "caller_wav": None if caller_wav is None else os.fspath(caller_wav),
            "agent_wav": None if agent_wav is None else os.fspath(agent_wav),
        }

        def write() -> None:
            with self._engine.begin() as conn:
                done = conn.execute(update(calls).where(calls.c.id == call_id).values(values))
            if done.rowcount == 0:
                raise UnknownCallError(call_id)

        await self._run(self._writer, write)

    async def flush(self) -> None:
        """Wait until every write queued so far (do-not-call additions too) is committed."""
        await self._run(self._writer, lambda: None)

    # -- reads ----------------------------------------------------------------------------
    async def list_calls(self, limit: int = 50, offset: int = 0) -> list[CallSummary]:
        """Calls, newest first."""

        def read() -> list[CallSummary]:
            with self._engine.connect() as conn:
                return read_summaries(conn, limit, offset)

        return await self._run(self._writer, read)

    async def get_call(self, call_id: str) -> CallDetail | None:
        """The call with its turns; None if there is no such call."""

        def read() -> CallDetail | None:
            with self._engine.connect() as conn:
                return read_detail(conn, call_id)

        return await self._run(self._writer, read)

    async def export_dialogue(self, call_id: str) -> Dialogue:
        """The call as the shared dialogue record. Raises UnknownCallError."""

        def read() -> Dialogue:
            with self._engine.connect() as conn:
                detail = read_detail(conn, call_id)
            if detail is None:
                raise UnknownCallError(call_id)
            return to_dialogue(detail)

        return await self._run(self._writer, read)

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
            with self._engine.connect() as conn:
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

        return await self._run(self._exporter, export)

    # -- lifecycle ------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Finish every queued write, then release the database and the worker threads."""
        if self._closed:
            return
        await self._run(self._exporter, lambda: None)
        await self._run(self._writer, self._engine.dispose)
        self._closed = True
        # Both workers are idle now: their threads exit without blocking the loop.
        self._writer.shutdown(wait=False)
        self._exporter.shutdown(wait=False)

    def _submit(
        self, worker: ThreadPoolExecutor, fn: Callable[[], T]
    ) -> concurrent.futures.Future[T]:
        if self._closed:
            raise StoreError(f"the call store for {self.url} is closed")
        return worker.submit(fn)

    async def _run(self, worker: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        future = asyncio.wrap_future(self._submit(worker, fn))
        try:
            # A queued write must land even if its caller is cancelled (hang-up, barge-in).
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_log_failure)
            raise


class SqlDoNotCall:
    """The do-not-call list in the call database (agent.compliance.DoNotCall).

    ``add`` queues the write on the store's worker (ordered with the call records) and
    is seen by ``in`` at once; ``in`` runs a quick query on the calling thread, since the
    agent asks synchronously. Numbers are compared normalized.
    """

    def __init__(self, store: CallStore) -> None:
        self._store = store
        self._known: set[str] = set()
        # Listed numbers seen or added here; the protocol has no removal, so never stale.

    def add(self, caller_id: str, reason: str) -> None:
        key = normalize_caller_id(caller_id)
        now = self._store._clock()
        engine = self._store._engine

        def write() -> None:
            with engine.begin() as conn:
                listed = conn.execute(
                    update(do_not_call).where(do_not_call.c.caller_key == key).values(reason=reason)
                )
                if listed.rowcount == 0:
                    conn.execute(
                        insert(do_not_call).values(caller_key=key, reason=reason, added_at=now)
                    )

        self._store._submit(self._store._writer, write).add_done_callback(_log_failure)
        self._known.add(key)

    def __contains__(self, caller_id: object) -> bool:
        if not isinstance(caller_id, str):
            return False
        key = normalize_caller_id(caller_id)
        if key in self._known:
            return True
        with self._store._engine.connect() as conn:
            found = conn.execute(
                select(do_not_call.c.caller_key).where(do_not_call.c.caller_key == key)
            ).first()
        if found is not None:
            self._known.add(key)
        return found is not None


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
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _log_failure(future: concurrent.futures.Future[Any] | asyncio.Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("call store write failed: %s", exc, exc_info=exc)


__all__ = [
    "CallDetail",
    "CallStore",
    "CallSummary",
    "Source",
    "SqlDoNotCall",
    "StoreError",
    "StoreSettings",
    "TurnRecord",
    "UnknownCallError",
    "assign_variant",
    "to_dialogue",
]
