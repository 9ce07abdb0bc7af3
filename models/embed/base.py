"""The sentence-embedding interface: texts in, L2-normalised float32 vectors out.

Template method: ``embed`` owns input validation, timing, error mapping, the shape check
and the normalisation; a backend implements ``_embed`` (raw vectors, one row per text).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelRuntimeError, SalesvoiceError

Vectors = NDArray[np.float32]
"""``[n, dim]`` float32, one row per text."""


@dataclass(frozen=True, slots=True)
class EmbedStats:
    """Work done by one embedder since it was built."""

    calls: int = 0
    texts: int = 0
    seconds: float = 0.0

    @property
    def ms_per_text(self) -> float:
        return 1000 * self.seconds / self.texts if self.texts else 0.0


def _validated(texts: Sequence[str]) -> list[str]:
    # A bare str is a Sequence[str] too; embedding it letter by letter is never meant.
    if isinstance(texts, str | bytes):
        raise TypeError("embed() takes a sequence of strings, not a single string: use [text]")
    batch = list(texts)
    if not batch:
        raise ValueError("embed() needs at least one text")
    for i, text in enumerate(batch):
        if not isinstance(text, str):
            raise TypeError(f"embed() texts must be str; item {i} is {type(text).__name__}")
    return batch


class Embedder(ABC):
    """A sentence embedder. Backends implement ``dim`` and ``_embed``; callers use ``embed``.

    Rows are unit length, so the dot product of two rows is their cosine similarity.
    ``embed`` is synchronous CPU work (a few ms per sentence): from a running event loop,
    call it through ``asyncio.to_thread`` on anything larger than a short batch.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.stats = EmbedStats()

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of every vector."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` as an ``[len(texts), dim]`` float32 array of unit rows.

        Raises TypeError for a non-string item (or one bare string), ValueError for none.
        """
        batch = _validated(texts)
        start = time.perf_counter()
        try:
            raw = self._embed(batch)
        except SalesvoiceError:
            raise
        except Exception as exc:  # vendor errors become one actionable type
            raise ModelRuntimeError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        vectors = np.asarray(raw, dtype=np.float32)
        if vectors.shape != (len(batch), self.dim):
            raise ModelRuntimeError(
                f"{self.name}: returned shape {vectors.shape}, expected {(len(batch), self.dim)}"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        out: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
        s = self.stats
        self.stats = EmbedStats(
            s.calls + 1, s.texts + len(batch), s.seconds + time.perf_counter() - start
        )
        return out

    @abstractmethod
    def _embed(self, texts: Sequence[str]) -> NDArray[np.floating]:
        """Raw (not necessarily normalised) vectors for a non-empty list of strings."""
