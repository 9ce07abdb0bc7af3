"""The dialogue store of a batch: an append-only JSON-lines file, one dialogue per line.

Each finished dialogue is written as one line and flushed to the OS at once, so a killed
process loses at most the dialogues still running (the file is fsynced every few seconds
and on close, for power loss). A torn last line left by a crash is cut off on reopen.
Dialogue ids are the work items' keys: a rerun skips ids already present, and ``append``
refuses a duplicate, so nothing is written twice.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from agent.dialogue import Dialogue
from models.errors import SalesvoiceError


class StoreCorrupt(SalesvoiceError):
    """A line in the middle of the store is not a dialogue."""


class DialogueLog:
    def __init__(self, path: Path, *, fsync_every_s: float = 5.0) -> None:
        self.path = path
        self._fsync_every_s = fsync_every_s
        self._ids: set[str] = set()
        self._file: IO[str] | None = None
        self._synced = time.monotonic()

    def __enter__(self) -> DialogueLog:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._ids = {d.id for d in self.read()}
        self._file = self.path.open("a", encoding="utf-8")

    @property
    def done(self) -> frozenset[str]:
        return frozenset(self._ids)

    def append(self, dialogue: Dialogue) -> None:
        if self._file is None:
            raise RuntimeError("DialogueLog.append before open()")
        if dialogue.id in self._ids:
            raise ValueError(f"dialogue {dialogue.id} is already in {self.path}")
        self._file.write(dialogue.to_json() + "\n")
        self._file.flush()
        self._ids.add(dialogue.id)
        if time.monotonic() - self._synced >= self._fsync_every_s:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def read(self) -> Iterator[Dialogue]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield Dialogue.from_json(line)
                except ValidationError as exc:
                    raise StoreCorrupt(f"{self.path}:{n} is not a dialogue: {exc}") from None

    def _repair(self) -> None:
        """Cut a torn last line (a crash mid-write); anything else bad is an error."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as f:
            data = f.read()
            if not data or data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            try:
                json.loads(tail)
            except ValueError:
                f.truncate(cut)
                return
            f.write(b"\n")  # a complete record whose newline was lost


def read_dialogues(*paths: Path) -> list[Dialogue]:
    """Dialogues from JSON-lines files (batch stores or ``salesvoice calls export``)."""
    out: list[Dialogue] = []
    for path in paths:
        out.extend(DialogueLog(path).read())
    return out
