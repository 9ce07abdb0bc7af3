"""Cut streamed reply text into pieces for TTS. Pure.

The first piece is short (a few words, ending at a clause boundary) so the first audio
comes early; later pieces end at sentence boundaries, which sound more natural.
"""

from __future__ import annotations

import re

from models.config import StrictModel

_CLAUSE_END = re.compile(r"(?:[,;:\u2014]|[.!?]['\")\]]*)(?=\s)")
_SENTENCE_END = re.compile(r"[.!?]['\")\]]*(?=\s)")
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "vs.", "approx.")


class ChunkerConfig(StrictModel):
    first_min_words: int = 3
    """A first piece ends at a comma only after this many words; at a sentence end ("I
    see.") it may be shorter: said at once while the rest is written."""
    first_max_words: int = 6
    """With no clause boundary by then, the first piece ends at this word."""
    max_words: int = 40
    """A later piece this long ends at the next clause boundary instead."""


class ClauseChunker:
    def __init__(self, config: ChunkerConfig | None = None) -> None:
        self.config = config or ChunkerConfig()
        self._buf = ""
        self._first = True

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the pieces it completed."""
        self._buf += text
        out = []
        while (cut := self._cut()) is not None:
            piece, self._buf = self._buf[:cut].strip(), self._buf[cut:]
            if piece:
                out.append(piece)
                self._first = False
        return out

    def flush(self) -> str | None:
        """The rest, at the end of the reply."""
        piece, self._buf = self._buf.strip(), ""
        self._first = False
        return piece or None

    def _cut(self) -> int | None:
        c = self.config
        if self._first:
            for m in _CLAUSE_END.finditer(self._buf):
                n = len(self._buf[: m.end()].split())
                if n > c.first_max_words:
                    break
                if (n >= c.first_min_words or m.group(0)[0] in ".!?") and self._ok(m.end()):
                    return m.end()
            words = list(re.finditer(r"\S+(?=\s)", self._buf))
            if len(words) >= c.first_max_words:
                return words[c.first_max_words - 1].end()
            return None
        for m in _SENTENCE_END.finditer(self._buf):
            if self._ok(m.end()):
                return m.end()
        if len(self._buf.split()) > c.max_words:
            for m in _CLAUSE_END.finditer(self._buf):
                if len(self._buf[: m.end()].split()) >= c.first_min_words:
                    return m.end()
        return None

    def _ok(self, end: int) -> bool:
        """Not a boundary inside an abbreviation such as "Mr." or "e.g."."""
        tail = self._buf[:end].lower().split()
        return not (tail and tail[-1].lstrip("\"'([") in _ABBREVIATIONS)
