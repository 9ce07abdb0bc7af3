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
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.ab_analysis import Analysis, Epoch, UnitsData, analyze
from agent.compliance import normalize_caller_id
from models.config import StrictModel
from server.experiments import Experiment, ExperimentError, How, UnknownArmError, check_weights
from server.outcomes import ImportResult, OutcomeImportError, OutcomeRow, raise_rows
from server.store import CallStore
from server.store_ab_units import read_units
from server.store_db import StoreError, UnknownCallError
from server.store_schema import (
    assignments,
    call_exists,
    calls,
    experiment_epochs,
    experiments,
    outcomes,
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
                return read_units(conn, _record(conn, name), include_forced)

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
                data = read_units(conn, record, include_forced)
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


__all__ = [
    "Epoch",
    "ExperimentRecord",
    "ExperimentStore",
    "UnitsData",
    "UnknownExperimentError",
]
"""Epoch and UnitsData are agent.ab_analysis's (what analyze reads), re-exported."""
