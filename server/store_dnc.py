"""The do-not-call list kept in the call database (``agent.compliance.DoNotCall``), on the
call store's worker (``server.store_worker.StoreWorker``): ``CallStore.do_not_call``."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from agent.compliance import normalize_caller_id
from server.store_schema import do_not_call
from server.store_worker import StoreWorker


class SqlDoNotCall:
    """The do-not-call list in the call database (agent.compliance.DoNotCall).

    ``add`` queues the write on the store's worker (ordered with the call records) and
    is seen by ``in`` at once; ``in`` runs a quick query on the calling thread, since the
    agent asks synchronously. Numbers are compared normalized.
    """

    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker
        self._known: set[str] = set()
        # Listed numbers seen or added here; the protocol has no removal, so never stale.

    def add(self, caller_id: str, reason: str) -> None:
        key = normalize_caller_id(caller_id)
        now = self._worker.now()
        engine = self._worker.engine

        def write() -> None:
            with engine.begin() as conn:
                listed = conn.execute(
                    update(do_not_call).where(do_not_call.c.caller_key == key).values(reason=reason)
                )
                if listed.rowcount == 0:
                    conn.execute(
                        insert(do_not_call).values(caller_key=key, reason=reason, added_at=now)
                    )

        self._worker.queue(write)
        self._known.add(key)

    def __contains__(self, caller_id: object) -> bool:
        if not isinstance(caller_id, str):
            return False
        key = normalize_caller_id(caller_id)
        if key in self._known:
            return True
        with self._worker.engine.connect() as conn:
            found = conn.execute(
                select(do_not_call.c.caller_key).where(do_not_call.c.caller_key == key)
            ).first()
        if found is not None:
            self._known.add(key)
        return found is not None
