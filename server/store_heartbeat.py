"""Crash safety of a call store: its store instance as the owner of its live calls, the
heartbeat that keeps that instance alive, and the ending of calls left by dead servers.

A store registers its instance (``store_instances``) and owns each call it starts
(``live_calls``) until the call finishes. The first call starts a heartbeat on a thread of
its own, so a busy event loop does not look like a dead server; each beat also sweeps the
calls of dead peers. The rules for when an owner is gone are ``server.store_db``'s
(``recover_crashed``); this module runs them for one store, on its worker.

    owner = CallOwner(worker, heartbeat_s=HEARTBEAT_S, stale_after=STALE_AFTER,
                      process=ProcessIdentity.current())
    owner.recover(unowned=True)                      # at opening
    with worker.engine.begin() as conn:              # in the call's own transaction
        owner.beat(conn, now); ...; owner.own(conn, call_id)
    owner.start()                                    # beats until stop()
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert
from sqlalchemy.exc import SQLAlchemyError

from server.store_db import (
    CRASH_END_REASON,
    ProcessIdentity,
    StoreError,
    heartbeat,
    recover_crashed,
)
from server.store_schema import live_calls, store_instances
from server.store_worker import StoreWorker

# The call store logs under one name, whichever of its modules the record comes from.
log = logging.getLogger("server.store")


class CallOwner:
    """One store's instance as a call owner: its row, its live calls, its heartbeat thread.

    ``process`` and ``stale_after`` are for tests of other machines' servers."""

    def __init__(
        self,
        worker: StoreWorker,
        *,
        heartbeat_s: float,
        stale_after: timedelta,
        process: ProcessIdentity,
    ) -> None:
        self._worker = worker
        self._process = process
        self.instance = uuid.uuid4().hex
        """This store's id as a call owner (``store_instances``)."""
        self._heartbeat_s = heartbeat_s
        self._stale_after = stale_after
        self._beating: threading.Thread | None = None
        self._stop_beating = threading.Event()

    @property
    def started(self) -> bool:
        """Has the heartbeat thread been started (the instance registered)?"""
        return self._beating is not None

    def beat(self, conn: Connection, now: datetime) -> None:
        """Say this instance is alive, in ``conn``'s transaction (registering it)."""
        heartbeat(conn, self.instance, self._process, now)

    def own(self, conn: Connection, call_id: str) -> None:
        """Make this instance the owner of the live call ``call_id``, in ``conn``'s transaction."""
        conn.execute(insert(live_calls).values(call_id=call_id,
                                               instance=self.instance))

    def release(self, conn: Connection, call_id: str) -> None:
        """The call ``call_id`` has finished: it has no owner any more."""
        conn.execute(delete(live_calls).where(live_calls.c.call_id == call_id))

    def recover(self, *, unowned: bool) -> list[str]:
        """End the calls of servers that died; their ids (blocking: run it on the worker,
        or at opening). ``unowned``: also the old calls no instance ever owned."""
        try:
            with self._worker.engine.begin() as conn:
                ended = recover_crashed(conn, self._process, self._worker.now(),
                                        stale_after=self._stale_after, unowned=unowned)
        except SQLAlchemyError as exc:  # e.g. a read-only database opened to list calls
            log.warning("could not check %s for calls of crashed servers: %s",
                        self._worker.url, exc)
            return []
        if ended:
            log.warning("%d call(s) left unfinished by a server that died are now ended "
                        "with end_reason %r: %s", len(ended), CRASH_END_REASON,
                        ", ".join(ended))
        return ended

    def start(self) -> None:
        """Beat every ``heartbeat_s`` until stop() (once; not after the worker closed)."""
        if self._beating is not None or self._worker.closed:
            return
        self._beating = threading.Thread(
            target=self._beat_until_closed, name="callstore-heartbeat", daemon=True)
        self._beating.start()

    def stop(self) -> None:
        """Beat no more (a beat already queued on the worker does nothing)."""
        self._stop_beating.set()

    def unregister(self) -> None:
        """Remove this instance's row (blocking: run it on the worker, after stop())."""
        with self._worker.engine.begin() as conn:
            conn.execute(delete(store_instances).where(store_instances.c.id == self.instance))

    def _beat_until_closed(self) -> None:
        def beat() -> None:
            if self._stop_beating.is_set():  # aclose() has queued the unregistering
                return
            with self._worker.engine.begin() as conn:
                self.beat(conn, self._worker.now())
            self.recover(unowned=False)  # a peer on another machine may have died

        while not self._stop_beating.wait(self._heartbeat_s):
            try:
                self._worker.submit(beat).result()
            except StoreError:
                return  # closed
            except Exception:  # the database is away: the next beat tries again
                log.warning("call store heartbeat failed", exc_info=True)
