"""An embedder that remembers: repeated texts (an agent's templated lines, a simulated
caller's stock phrases) are embedded once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from models.embed.base import Embedder


class MemoEmbedder(Embedder):
    """Wraps ``inner``; keeps the ``size`` most recently used rows (least recent dropped)."""

    def __init__(self, inner: Embedder, size: int = 100_000) -> None:
        super().__init__()
        self.inner = inner
        self.name = f"memo({inner.name})"  # type: ignore[misc]  # per instance: names the inner model
        self._rows: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._size = size
        self.hits = 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._rows))
        if missing:
            for text, row in zip(missing, self.inner.embed(missing), strict=True):
                self._rows[text] = row
                if len(self._rows) > self._size:
                    self._rows.popitem(last=False)
        self.hits += len(texts) - len(missing)
        out = []
        for t in texts:
            self._rows.move_to_end(t)
            out.append(self._rows[t])
        return np.stack(out)
