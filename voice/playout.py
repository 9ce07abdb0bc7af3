"""Which part of the agent's reply did the caller actually hear? Pure.

Each TTS piece is registered with its text and audio length; playback advances a sample
counter. Within a piece, words are assumed to take time in proportion to their length
in characters — a close enough estimate to cut history at a word boundary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    start: int
    samples: int


class PlayoutTracker:
    def __init__(self) -> None:
        self._pieces: list[_Piece] = []
        self._queued = 0
        self.played = 0

    def add(self, text: str, samples: int) -> None:
        """A piece of audio for ``text`` was queued for playback."""
        self._pieces.append(_Piece(text, self._queued, samples))
        self._queued += samples

    def extend(self, samples: int) -> None:
        """More audio for the last piece (TTS engines deliver a piece in chunks)."""
        last = self._pieces[-1]
        self._pieces[-1] = _Piece(last.text, last.start, last.samples + samples)
        self._queued += samples

    def advance(self, samples: int) -> None:
        """``samples`` more have been played."""
        self.played = min(self._queued, self.played + samples)

    def rewind(self, samples: int) -> None:
        """``samples`` counted as played were not heard (flushed downstream)."""
        self.played = max(0, self.played - samples)

    def heard_to(self, position: int) -> None:
        """The caller's side confirmed playback up to ``position``: nothing beyond it
        was heard (never moves forward past what was sent)."""
        self.played = max(0, min(self.played, position))

    @property
    def at_piece_end(self) -> bool:
        """Playback is exactly at the end of a piece (a point worth a playout mark)."""
        return any(self.played == p.start + p.samples for p in self._pieces)

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def done(self) -> bool:
        return self.played >= self._queued

    def played_text(self) -> str:
        """The words heard so far: whole pieces, then the words of the current piece
        whose (estimated) end has been played."""
        heard: list[str] = []
        for p in self._pieces:
            if self.played >= p.start + p.samples:
                heard.append(p.text)
                continue
            if self.played > p.start:
                words = p.text.split()
                total = sum(len(w) + 1 for w in words)
                at, upto = 0, []
                for w in words:
                    at += len(w) + 1
                    if (self.played - p.start) * total >= at * p.samples:
                        upto.append(w)
                    else:
                        break
                if upto:
                    heard.append(" ".join(upto))
            break
        return " ".join(heard)

    def full_text(self) -> str:
        return " ".join(p.text for p in self._pieces)
