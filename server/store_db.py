"""Opening the call database: where it is, URL checks, SQLite set-up, the schema check.

``open_database`` gives ``server.store.CallStore`` an engine whose tables exist and
whose schema version this salesvoice understands; the errors of the call store live
here too, since opening is where most of them start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from models.config import StrictModel, default_data_dir
from models.errors import MissingExtraError, SalesvoiceError
from server.store_schema import SCHEMA_VERSION, ensure_schema


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
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
