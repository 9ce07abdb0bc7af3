"""Retention: deleting old finished calls with their recording files
(``salesvoice calls purge --before``; ``CallStore.purge`` runs this on its worker).

The rows go in one transaction (``server.store_schema.purge_calls``); the recording files
after it, so a file that cannot be deleted is reported, never a reason to keep the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from server.store_schema import PurgeCounts, purge_calls


@dataclass(frozen=True, slots=True)
class PurgeResult:
    counts: PurgeCounts
    files: int
    """Recording files deleted (or, dry, that would be)."""
    failed: list[str]
    """Files that could not be deleted, with why."""


def purge_with_recordings(
    engine: Engine, before: datetime, *, dry_run: bool, recordings_dir: Path | None
) -> PurgeResult:
    """Delete every finished call created before ``before`` and its recordings (blocking);
    see ``CallStore.purge``."""
    with engine.begin() as conn:
        counts = purge_calls(conn, before, dry_run=dry_run)
    named = {Path(p) for p in counts.recordings}
    if recordings_dir is not None:  # a crashed call's recording is in no record
        for call_id in counts.call_ids:
            named.update(recordings_dir.glob(f"{call_id}-*"))
    files = sorted(f for f in named if f.is_file())
    failed = []
    if not dry_run:
        for f in files:
            try:
                f.unlink()
            except OSError as exc:
                failed.append(f"{f}: {exc.strerror}")
    return PurgeResult(counts=counts, files=len(files), failed=failed)
