"""A/B records in the call database: experiments and their weight epochs, each call's arm,
later outcomes, and the per-caller units an analysis reads.

Built on a ``CallStore``: same engine, same worker thread, so an assignment lands after
its call's row and in order with the turns.

    experiments = ExperimentStore(store)
    await experiments.create(load_experiment(Path("exp.toml")))
    running = await experiments.running()            # the hub asks at call start
    await experiments.assign(call_id, running.name, "B", "assigned", key, running.epoch)
    data = await experiments.units(running.name)     # what agent.ab_analysis.analyze reads
    result = await experiments.analysis(running.name)  # analysed: what reports show
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from agent.ab_analysis import Analysis, Epoch, Unit, UnitsData, analyze
from agent.compliance import normalize_caller_id
from models.config import StrictModel
from server.experiments import Experiment, ExperimentError, How, UnknownArmError, check_weights
from server.outcomes import ImportResult, OutcomeImportError, OutcomeRow, raise_rows
from server.store import CallStore
from server.store_db import StoreError, UnknownCallError
from server.store_schema import (
    assignments,
    call_exists,
    calls,
    experiment_epochs,
    experiments,
    outcomes,
    turns,
)

HOWS: tuple[How, ...] = ("assigned", "forced", "no_caller_id")
_CHUNK = 500
"""Ids per IN (...) list: well under every backend's bound on parameters."""


class UnknownExperimentError(StoreError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no experiment {name!r} (salesvoice ab status lists them)")
        self.name = name


class ExperimentRecord(StrictModel):
    """A stored experiment: its spec, status, times and weight epochs (oldest first)."""

    name: str
    spec: Experiment
    status: Literal["running", "stopped"]
    created_at: datetime
    started_at: datetime
    stopped_at: datetime | None
    epochs: list[Epoch]

    @property
    def epoch(self) -> int:
        """The current epoch (what a new assignment records)."""
        return self.epochs[-1].epoch

    @property
    def weights(self) -> dict[str, float]:
        """The current weights (what a new caller is assigned by)."""
        return self.epochs[-1].weights


class ExperimentStore:
    """Experiments, assignments and later outcomes in a CallStore's database."""

    def __init__(self, store: CallStore) -> None:
        self._store = store

    # -- experiments ----------------------------------------------------------------------
    async def create(self, exp: Experiment) -> None:
        """Store ``exp`` as running, its weights as epoch 0. Refused if the name exists or
        another experiment is running."""
        now = self._store.now()

        def write(engine: Engine) -> None:
            try:
                with engine.begin() as conn:
                    _refuse(conn, exp.name)
                    conn.execute(insert(experiments).values(
                        name=exp.name, spec=exp.model_dump(mode="json"), status="running",
                        created_at=now, started_at=now, stopped_at=None))
                    conn.execute(insert(experiment_epochs).values(
                        experiment=exp.name, epoch=0, weights=exp.weights, since=now))
            except IntegrityError:  # another process created one meanwhile: say which
                with engine.connect() as conn:
                    _refuse(conn, exp.name)
                raise

        await self._store.run(write)

    async def get(self, name: str) -> ExperimentRecord | None:
        def read(engine: Engine) -> ExperimentRecord | None:
            with engine.connect() as conn:
                found = _records(conn, name)
            return found[0] if found else None

        return await self._store.run(read)

    async def running(self) -> ExperimentRecord | None:
        """The running experiment, if any (at most one runs)."""

        def read(engine: Engine) -> ExperimentRecord | None:
            with engine.connect() as conn:
                name = conn.execute(select(experiments.c.name)
                                    .where(experiments.c.status == "running")).scalar()
                found = [] if name is None else _records(conn, name)
            return found[0] if found else None

        return await self._store.run(read)

    async def set_weights(self, name: str, weights: dict[str, float]) -> int:
        """Start a new epoch with ``weights`` (arms not named keep theirs); return its
        number. Only a running experiment's weights change."""
        now = self._store.now()

        def write(engine: Engine) -> int:
            with engine.begin() as conn:
                rec = _record(conn, name)
                if rec.status != "running":
                    raise ExperimentError(f"experiment {name!r} is stopped; its weights are "
                                          "final")
                arms = [a.name for a in rec.spec.arms]
                for arm in weights:
                    if arm not in arms:
                        raise UnknownArmError(arm, name, arms)
                new = {**rec.weights, **weights}
                check_weights(new)
                conn.execute(insert(experiment_epochs).values(
                    experiment=name, epoch=rec.epoch + 1, weights=new, since=now))
                return rec.epoch + 1

        return await self._store.run(write)

    async def stop(self, name: str) -> None:
        """Stop the experiment: new calls get no arm from it; its records stay."""
        now = self._store.now()

        def write(engine: Engine) -> None:
            with engine.begin() as conn:
                status = conn.execute(select(experiments.c.status)
                                      .where(experiments.c.name == name)).scalar()
                if status is None:
                    raise UnknownExperimentError(name)
                if status != "running":
                    raise ExperimentError(f"experiment {name!r} is already stopped")
                conn.execute(update(experiments).where(experiments.c.name == name)
                             .values(status="stopped", stopped_at=now))

        await self._store.run(write)

    # -- assignments and outcomes ---------------------------------------------------------
    async def assign(self, call_id: str, experiment: str, arm: str, how: How, unit_key: str,
                     epoch: int) -> None:
        """Record the arm of a call (after ``start_call``; UnknownCallError otherwise)."""
        if how not in HOWS:
            raise StoreError(f"unknown assignment {how!r}; expected one of {HOWS}")
        row = {"call_id": call_id, "experiment": experiment, "arm": arm, "how": how,
               "unit_key": unit_key, "epoch": epoch, "at": self._store.now()}

        def write(engine: Engine) -> None:
            try:
                with engine.begin() as conn:
                    conn.execute(insert(assignments).values(row))
            except IntegrityError:
                with engine.connect() as conn:
                    if not call_exists(conn, call_id):
                        raise UnknownCallError(call_id) from None
                    if not conn.execute(select(experiment_epochs.c.epoch).where(
                            experiment_epochs.c.experiment == experiment,
                            experiment_epochs.c.epoch == epoch)).first():
                        raise StoreError(f"experiment {experiment!r} has no epoch {epoch}") \
                            from None
                raise StoreError(f"call {call_id!r} already has an arm") from None

        await self._store.run(write)

    async def add_outcomes(self, rows: Sequence[OutcomeRow], source: str) -> ImportResult:
        """Store later outcomes in one transaction: all or nothing. An unknown call id, or a
        caller id no stored call has, fails the batch naming the row; rows identical to
        stored ones (or given twice) are skipped and counted."""
        received = self._store.now()

        def write(engine: Engine) -> ImportResult:
            keyed = [(r, r.call_id, None if r.caller_id is None
                      else normalize_caller_id(r.caller_id)) for r in rows]
            with engine.begin() as conn:
                call_ids = {c for _, c, _ in keyed if c is not None}
                caller_keys = {k for _, _, k in keyed if k is not None}
                known_calls = _present(conn, calls.c.id, call_ids)
                known_callers = _present(conn, calls.c.caller_key, caller_keys)
                errors = [f"row {r.row}: no call {c!r} in the call store" for r, c, _ in keyed
                          if c is not None and c not in known_calls]
                errors += [f"row {r.row}: no call from caller {r.caller_id!r} in the call "
                           "store" for r, _, k in keyed if k is not None
                           and k not in known_callers]
                if errors:
                    raise_rows(f"outcomes from {source!r}", errors)
                seen = _stored_outcomes(conn, call_ids, caller_keys)
                new: list[dict[str, Any]] = []
                for r, call_id, key in keyed:
                    ident = (call_id, key, r.outcome, r.time, r.value)
                    if ident in seen:
                        continue
                    seen.add(ident)
                    new.append({"call_id": call_id, "caller_key": key, "kind": r.outcome,
                                "value": r.value, "at": r.time, "source": source,
                                "received_at": received})
                if new:
                    conn.execute(insert(outcomes), new)
            return ImportResult(added=len(new), skipped=len(rows) - len(new))

        try:
            return await self._store.run(write)
        except IntegrityError as exc:  # a call deleted between the check and the insert
            raise OutcomeImportError(f"outcomes from {source!r}: {exc.orig}") from None

    # -- analysis input -------------------------------------------------------------------
    async def units(self, name: str, *, include_forced: bool = False) -> UnitsData:
        """The experiment's units (callers) with their arm, conversion and guardrail data.

        A unit's arm is that of its first counted call; its later calls in another arm
        are crossovers, left out. Forced calls are left out unless ``include_forced``;
        simulated calls never count. Later outcomes count from the unit's first call to
        ``window_days`` after it, by call id (any of the unit's calls but forced ones left
        out) or by caller id."""

        def read(engine: Engine) -> UnitsData:
            with engine.connect() as conn:
                return _units(conn, _record(conn, name), include_forced)

        return await self._store.run(read, bulk=True)

    async def analysis(self, name: str, *, include_forced: bool = False,
                       now: datetime | None = None) -> Analysis:
        """The experiment's analysis as of ``now`` (default: the store's clock): its record
        and ``units`` through ``agent.ab_analysis.analyze``. What ``ab report``, the API and
        the dashboard show."""
        at = self._store.now() if now is None else now

        def read(engine: Engine) -> Analysis:
            with engine.connect() as conn:
                record = _record(conn, name)
                data = _units(conn, record, include_forced)
            # On the export thread too: the arithmetic over every unit stays off the loop.
            return analyze(record, data, now=at)

        return await self._store.run(read, bulk=True)

    async def list(self) -> builtins.list[ExperimentRecord]:
        """Every experiment, newest first."""

        def read(engine: Engine) -> builtins.list[ExperimentRecord]:
            with engine.connect() as conn:
                return _records(conn, None)

        return await self._store.run(read)


# -- helpers (blocking, on the store's worker) -------------------------------------------


def _refuse(conn: Connection, name: str) -> None:
    """Raise ExperimentError if ``name`` is taken or another experiment is running."""
    if conn.execute(select(experiments.c.name).where(experiments.c.name == name)).first():
        raise ExperimentError(f"an experiment named {name!r} already exists; choose another "
                              "name")
    other = conn.execute(select(experiments.c.name)
                         .where(experiments.c.status == "running")).scalar()
    if other is not None:
        raise ExperimentError(f"experiment {other!r} is running; stop it first (salesvoice ab "
                              f"stop {other}) before creating {name!r}")


def _record(conn: Connection, name: str) -> ExperimentRecord:
    found = _records(conn, name)
    if not found:
        raise UnknownExperimentError(name)
    return found[0]


def _records(conn: Connection, name: str | None) -> list[ExperimentRecord]:
    stmt = select(experiments).order_by(experiments.c.created_at.desc(),
                                        experiments.c.name)
    epochs = select(experiment_epochs).order_by(experiment_epochs.c.epoch)
    if name is not None:
        stmt = stmt.where(experiments.c.name == name)
        epochs = epochs.where(experiment_epochs.c.experiment == name)
    by_name: dict[str, list[Epoch]] = {}
    for e in conn.execute(epochs).mappings():
        by_name.setdefault(e["experiment"], []).append(
            Epoch(epoch=e["epoch"], weights=e["weights"], since=e["since"]))
    return [ExperimentRecord(name=r["name"], spec=Experiment.model_validate(r["spec"]),
                             status=r["status"], created_at=r["created_at"],
                             started_at=r["started_at"], stopped_at=r["stopped_at"],
                             epochs=by_name[r["name"]])
            for r in conn.execute(stmt).mappings()]


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    items = sorted(values)
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _present(conn: Connection, column: Any, values: set[str]) -> set[str]:
    found: set[str] = set()
    for part in _chunks(values):
        found.update(conn.execute(select(column).where(column.in_(part)).distinct()).scalars())
    return found


_Ident = tuple[str | None, str | None, str, datetime, float | None]


def _stored_outcomes(conn: Connection, call_ids: set[str], caller_keys: set[str]) \
        -> set[_Ident]:
    cols = (outcomes.c.call_id, outcomes.c.caller_key, outcomes.c.kind, outcomes.c.at,
            outcomes.c.value)
    seen: set[_Ident] = set()
    for column, values in ((outcomes.c.call_id, call_ids), (outcomes.c.caller_key, caller_keys)):
        for part in _chunks(values):
            seen.update(tuple(r) for r in conn.execute(select(*cols).where(column.in_(part))))
    return seen


@dataclass(slots=True)
class _Unit:
    key: str
    arm: str
    first_at: datetime
    epoch: int
    in_call_at: datetime | None = None
    later_at: datetime | None = None
    opted_out: bool = False
    complained: bool = False
    calls: list[str] = field(default_factory=list)
    call_seconds: list[float] = field(default_factory=list)


def _units(conn: Connection, rec: ExperimentRecord, include_forced: bool) -> UnitsData:
    conv = rec.spec.conversion
    converts_in_call = {o.value for o in conv.in_call}
    in_exp = assignments.c.experiment == rec.name
    live = calls.c.source != "simulated"
    call_rows = conn.execute(
        select(assignments.c.call_id, assignments.c.arm, assignments.c.how,
               assignments.c.unit_key, assignments.c.epoch, calls.c.created_at,
               calls.c.finished_at, calls.c.outcome)
        .join(calls, calls.c.id == assignments.c.call_id)
        .where(in_exp, live)
        .order_by(calls.c.created_at, calls.c.id)).all()
    # .all(): one fetch of every row; iterating fetches row by row (3x slower on psycopg).
    units: dict[str, _Unit] = {}
    unit_of_call: dict[str, str] = {}  # counted and crossover calls → their unit
    counted: set[str] = set()
    forced = crossovers = 0
    for call_id, arm, how, key, epoch, created, finished, outcome in call_rows:
        if how == "forced" and not include_forced:
            forced += 1
            continue
        unit = units.get(key)
        if unit is None:
            unit = units[key] = _Unit(key, arm, created, epoch)
        unit_of_call[call_id] = key
        if arm != unit.arm:
            crossovers += 1
            continue
        counted.add(call_id)
        unit.calls.append(call_id)
        if finished is not None:
            unit.call_seconds.append((finished - created).total_seconds())
        if outcome in converts_in_call:
            at = finished or created
            unit.in_call_at = at if unit.in_call_at is None else min(unit.in_call_at, at)
        unit.opted_out |= outcome == "opted_out"

    n_turns: dict[str, int] = {}
    hits: dict[str, int] = {}
    v2v: dict[str, list[float]] = {}
    turn_rows = conn.execute(
        select(turns.c.call_id, turns.c.timings["voice_to_voice_s"].as_float(),
               turns.c.info["compliance"].as_string())
        .join(assignments, assignments.c.call_id == turns.c.call_id)
        .where(in_exp)
        .order_by(turns.c.call_id, turns.c.turn_index)).all()
    for call_id, seconds, compliance in turn_rows:
        if call_id not in counted:
            continue
        key = unit_of_call[call_id]
        n_turns[key] = n_turns.get(key, 0) + 1
        if compliance is not None and _nonempty_list(compliance):
            hits[key] = hits.get(key, 0) + 1
        if seconds is not None and math.isfinite(seconds):
            v2v.setdefault(key, []).append(float(seconds))

    window = timedelta(days=conv.window_days)
    kinds = {*conv.outcomes, "complaint"}
    exp_calls = select(assignments.c.call_id).where(in_exp)
    exp_callers = (select(calls.c.caller_key)
                   .join(assignments, assignments.c.call_id == calls.c.id)
                   .where(in_exp, calls.c.caller_key.is_not(None)))
    later = conn.execute(
        select(outcomes.c.call_id, outcomes.c.caller_key, outcomes.c.kind, outcomes.c.at)
        .where(outcomes.c.kind.in_(sorted(kinds)),
               or_(outcomes.c.call_id.in_(exp_calls), outcomes.c.caller_key.in_(exp_callers)))
    ).all()
    for call_id, caller_key, kind, at in later:
        key = unit_of_call.get(call_id) if call_id is not None else f"caller:{caller_key}"
        unit = units.get(key) if key is not None else None
        if unit is None or not unit.first_at <= at <= unit.first_at + window:
            continue
        if kind == "complaint":
            unit.complained = True
        if kind in conv.outcomes:
            unit.later_at = at if unit.later_at is None else min(unit.later_at, at)

    out = [Unit(key=u.key, arm=u.arm, first_at=u.first_at, epoch=u.epoch,
                converted_at=_converted(u.in_call_at, u.later_at, conv.require),
                opted_out=u.opted_out, complained=u.complained, calls=len(u.calls),
                turns=n_turns.get(u.key, 0), compliance_hits=hits.get(u.key, 0),
                call_seconds=u.call_seconds, v2v=v2v.get(u.key, []))
           for u in units.values()]
    return UnitsData(units=out, epochs=rec.epochs, excluded_forced=forced,
                     crossovers=crossovers,
                     no_caller_id=sum(u.key.startswith("call:") for u in units.values()))


def _converted(in_call: datetime | None, later: datetime | None, require: str) \
        -> datetime | None:
    if require == "all":
        return None if in_call is None or later is None else max(in_call, later)
    known = [t for t in (in_call, later) if t is not None]
    return min(known) if known else None


def _nonempty_list(text: str) -> bool:
    # Rare: most turns have no compliance key or "[]", so parse only what may be a hit.
    if text.strip() in ("[]", "null", ""):
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, list) and len(value) > 0


__all__ = [
    "Epoch",
    "ExperimentRecord",
    "ExperimentStore",
    "UnitsData",
    "UnknownExperimentError",
]
"""Epoch and UnitsData are agent.ab_analysis's (what analyze reads), re-exported."""
