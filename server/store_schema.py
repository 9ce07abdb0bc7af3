"""The call-record tables (SQLAlchemy Core) and the records their rows read back as.

One row per call, one row per exchange (caller line + agent reply) of a call, the
do-not-call list, the processes writing calls and which live call each owns (crash
recovery), and the A/B records: experiments, their weight epochs, each call's arm, and
outcomes that arrive after the call (a policy bought, a complaint). Portable across
SQLite and Postgres: JSON columns, no dialect types, timestamps always aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeDecorator

from agent.dialogue import CallerProfile, Dialogue, Outcome, SectorGuess, Thought, Turn
from models.config import StrictModel

Source = Literal["live", "simulated"]
SCHEMA_VERSION = 1
"""Bump with a migration when a table changes; a newer database is refused. Adding tables
is not a change: create_all adds them to an old database, and an older salesvoice ignores
them (the A/B tables came that way, at version 1)."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend (SQLite keeps
    no zone, so it stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the call store needs aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", Text, primary_key=True),
    Column("source", String(16), nullable=False),
    Column("transport", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("caller_key", Text, index=True),
    # The normalized caller id, for lookups; the full profile is in ``caller``.
    Column("caller", JSON, nullable=False),
    Column("program_version", Text, nullable=False),
    Column("variant", Text),
    Column("outcome", String(32)),
    Column("outcome_intent", Text),
    Column("end_reason", Text),
    Column("caller_wav", Text),
    Column("agent_wav", Text),
    Index("ix_calls_newest", "created_at", "id"),
)

turns = Table(
    "turns",
    metadata,
    Column("call_id", Text, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("turn_index", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("user_text", Text, nullable=False),
    Column("agent_text", Text, nullable=False),
    Column("interrupted", Boolean, nullable=False),
    Column("timings", JSON, nullable=False),
    Column("thought", JSON(none_as_null=True)),
    Column("strategy", Text),
    Column("info", JSON, nullable=False),
)

do_not_call = Table(
    "do_not_call",
    metadata,
    Column("caller_key", Text, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)


# -- crash recovery (additive: see SCHEMA_VERSION; server.store_db.recover_crashed) -------

store_instances = Table(
    "store_instances",
    metadata,
    Column("id", Text, primary_key=True),
    Column("host", Text, nullable=False),
    # The machine and process namespace (store_db.ProcessIdentity): where pid means this process.
    Column("pid", Integer, nullable=False),
    Column("pid_start", Text, nullable=False),
    # The process's start time as the OS counts it ("" when unknown): a reused pid differs.
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)

live_calls = Table(
    "live_calls",
    metadata,
    # A row from start_call to finish_call: which store instance is serving the call.
    Column("call_id", Text, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("instance", Text, nullable=False, index=True),
)


# -- A/B testing (additive: see SCHEMA_VERSION) -------------------------------------------

experiments = Table(
    "experiments",
    metadata,
    Column("name", Text, primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    # At most one running experiment, kept by the database even across processes.
    Index("ix_experiments_one_running", "status", unique=True,
          sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'")),
)

experiment_epochs = Table(
    "experiment_epochs",
    metadata,
    Column("experiment", Text, ForeignKey("experiments.name", ondelete="CASCADE"),
           primary_key=True),
    Column("epoch", Integer, primary_key=True, autoincrement=False),
    Column("weights", JSON, nullable=False),
    Column("since", UTCDateTime, nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("call_id", Text, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("experiment", Text, nullable=False, index=True),
    Column("arm", Text, nullable=False),
    Column("how", String(16), nullable=False),
    Column("unit_key", Text, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(["experiment", "epoch"],
                         ["experiment_epochs.experiment", "experiment_epochs.epoch"],
                         ondelete="CASCADE"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Text, ForeignKey("calls.id", ondelete="CASCADE"), index=True),
    Column("caller_key", Text, index=True),
    # Exactly one of call_id / caller_key (the normalized caller id) is set.
    Column("kind", Text, nullable=False),
    Column("value", Float),
    Column("at", UTCDateTime, nullable=False),
    Column("source", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)


def ensure_schema(engine: Engine, now: datetime) -> int:
    """Create missing tables; return the database's schema version (recorded as
    SCHEMA_VERSION when the database is new)."""
    metadata.create_all(engine)
    with engine.connect() as conn:
        found = conn.execute(select(func.max(schema_version.c.version))).scalar_one_or_none()
    if found is not None:
        return int(found)
    try:
        with engine.begin() as conn:
            conn.execute(insert(schema_version).values(version=SCHEMA_VERSION, applied_at=now))
    except IntegrityError:
        pass  # another process recorded it first
    return SCHEMA_VERSION


# -- records ----------------------------------------------------------------------------


class TurnRecord(StrictModel):
    """One stored exchange: the caller's line and the agent's reply to it."""

    index: int
    at: datetime
    user_text: str
    """Empty for turn 0, the greeting."""
    agent_text: str
    """What the caller heard."""
    interrupted: bool
    timings: dict[str, Any]
    thought: dict[str, Any] | None
    strategy: str | None
    info: dict[str, Any]
    """Every other private note of the reply (sector, outcome evidence, ...)."""


class CallSummary(StrictModel):
    id: str
    source: Source
    transport: str
    created_at: datetime
    finished_at: datetime | None
    """None while the call runs, or if the server died during it."""
    caller_id: str | None
    """Normalized (agent.compliance.normalize_caller_id)."""
    program_version: str
    variant: str | None
    outcome: Outcome | None
    outcome_intent: str | None
    end_reason: str | None
    turn_count: int


class CallDetail(CallSummary):
    caller: CallerProfile
    caller_wav: str | None
    agent_wav: str | None
    turns: list[TurnRecord]


def _detail_list(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(d, dict) and all(isinstance(v, str) for v in d.values()) for d in value)


def to_dialogue(detail: CallDetail) -> Dialogue:
    """A stored call as the shared dialogue record: each exchange becomes a user turn
    (none for the greeting) and an agent turn. The info keys "sector" and "compliance"
    fill those Turn fields when they validate; call details go to ``metadata``."""
    out: list[Turn] = []
    for t in detail.turns:
        if t.user_text:
            out.append(Turn(speaker="user", text=t.user_text))
        sector = t.info.get("sector")
        compliance = t.info.get("compliance")
        why = t.info.get("compliance_detail")
        out.append(
            Turn(
                speaker="agent",
                text=t.agent_text,
                thought=None if t.thought is None else Thought.model_validate(t.thought),
                strategy=t.strategy,
                sector=_sector(sector),
                interrupted=t.interrupted,
                compliance=compliance if _str_list(compliance) else [],
                compliance_detail=why if _detail_list(why) else [],
                timings=t.timings,
            )
        )
    metadata: dict[str, Any] = {"transport": detail.transport}
    extra = {
        "finished_at": None if detail.finished_at is None else detail.finished_at.isoformat(),
        "end_reason": detail.end_reason,
        "caller_wav": detail.caller_wav,
        "agent_wav": detail.agent_wav,
    }
    metadata.update({k: v for k, v in extra.items() if v is not None})
    return Dialogue(
        id=detail.id,
        source=detail.source,
        created_at=detail.created_at,
        caller=detail.caller,
        program_version=detail.program_version,
        variant=detail.variant,
        turns=out,
        outcome=detail.outcome,
        outcome_intent=detail.outcome_intent,
        metadata=metadata,
    )


def _sector(value: object) -> SectorGuess | None:
    try:
        return None if value is None else SectorGuess.model_validate(value)
    except ValidationError:
        return None


def _str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _summary_query() -> Select[Any]:
    n_turns = (
        select(func.count())
        .select_from(turns)
        .where(turns.c.call_id == calls.c.id)
        .correlate(calls)
        .scalar_subquery()
    )
    return select(calls, n_turns.label("turn_count"))


def _summary_fields(row: RowMapping) -> dict[str, Any]:
    fields = {k: row[k] for k in CallSummary.model_fields if k in row}
    fields["caller_id"] = row["caller_key"]
    return fields


def read_summaries(conn: Connection, limit: int, offset: int) -> list[CallSummary]:
    """Calls, newest first."""
    stmt = (
        _summary_query()
        .order_by(calls.c.created_at.desc(), calls.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [CallSummary(**_summary_fields(r)) for r in conn.execute(stmt).mappings()]


def call_exists(conn: Connection, call_id: str) -> bool:
    return conn.execute(select(calls.c.id).where(calls.c.id == call_id)).first() is not None


def read_detail(conn: Connection, call_id: str) -> CallDetail | None:
    row = conn.execute(_summary_query().where(calls.c.id == call_id)).mappings().first()
    if row is None:
        return None
    stmt = select(turns).where(turns.c.call_id == call_id).order_by(turns.c.turn_index)
    records = [
        TurnRecord(index=r["turn_index"], **{k: r[k] for k in TurnRecord.model_fields if k in r})
        for r in conn.execute(stmt).mappings()
    ]
    return CallDetail(
        **_summary_fields(row),
        caller=CallerProfile.model_validate(row["caller"]),
        caller_wav=row["caller_wav"],
        agent_wav=row["agent_wav"],
        turns=records,
    )


# -- retention ---------------------------------------------------------------------------

_CHUNK = 500
"""Ids per IN (...) list: well under every backend's bound on parameters."""


class PurgeCounts(StrictModel):
    """What a purge deletes (or, dry, would delete)."""

    calls: int
    turns: int
    assignments: int
    outcomes: int
    """Later outcomes recorded against those calls (outcomes by caller id stay)."""
    unfinished_kept: int
    """Calls before the date that have not ended: a live call is never purged."""
    call_ids: list[str]
    recordings: list[str]
    """The recording paths those calls name."""


def purge_calls(conn: Connection, before: datetime, *, dry_run: bool) -> PurgeCounts:
    """Delete every finished call created before ``before`` with its turns, A/B
    assignment and outcomes; the caller deletes the recording files."""
    old = calls.c.created_at < before
    ids = list(conn.execute(
        select(calls.c.id).where(old, calls.c.finished_at.is_not(None)).order_by(calls.c.id)
    ).scalars())
    kept = conn.execute(
        select(func.count()).select_from(calls).where(old, calls.c.finished_at.is_(None))
    ).scalar_one()
    counts = {"calls": 0, "turns": 0, "assignments": 0, "outcomes": 0}
    recordings: list[str] = []
    children = {"turns": turns.c.call_id, "assignments": assignments.c.call_id,
                "outcomes": outcomes.c.call_id}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for name, column in children.items():
            counts[name] += conn.execute(
                select(func.count()).select_from(column.table).where(column.in_(chunk))
            ).scalar_one()
        for row in conn.execute(
            select(calls.c.caller_wav, calls.c.agent_wav).where(calls.c.id.in_(chunk))
        ):
            recordings += [path for path in row if path]
        counts["calls"] += len(chunk)
        if dry_run:
            continue
        # Children first: the foreign keys cascade too, but not every SQLite connection
        # has them on.
        for column in (*children.values(), live_calls.c.call_id):
            conn.execute(delete(column.table).where(column.in_(chunk)))
        conn.execute(delete(calls).where(calls.c.id.in_(chunk)))
    return PurgeCounts(**counts, unfinished_kept=kept, call_ids=ids, recordings=recordings)
