"""Turn-taking: when does the caller start and stop talking? A pure state machine.

Input: one VAD speech probability per window (with the window's end time) and, when the
ASR has one, the latest partial transcript, optionally with the probability that it is a
finished turn (``voice.endpoint``). Output: events. No I/O and no clock of its own; times
come in with the observations.

The hang-over follows the partial that covers the pause: with a completion probability,
short when it is confidently finished, long when it is confidently unfinished, the
default otherwise; without one, short when it ends like a sentence (the punctuation rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Self

from pydantic import model_validator

from models.config import StrictModel


class TurnConfig(StrictModel):
    start_threshold: float = 0.5
    """Probability at or above which a window counts as speech."""
    end_threshold: float = 0.35
    """Below this a window counts as silence (hysteresis between the two)."""
    min_speech_s: float = 0.15
    """Shorter bursts (clicks, a cough) do not start a turn."""
    hangover_s: float = 0.55
    """Silence that ends the turn."""
    early_hangover_s: float = 0.3
    """Silence that ends the turn when the partial transcript is a complete sentence (or
    its completion probability is at least ``complete_at``)."""
    late_hangover_s: float = 1.0
    """Silence that ends the turn when the partial's completion probability is below
    ``incomplete_below``: pauses inside a turn are mostly shorter than a second."""
    complete_at: float = 0.69
    """Completion probability from which the partial counts as a finished turn (the
    packaged turn head's cross-validated point: 5 % of unfinished prefixes pass)."""
    incomplete_below: float = 0.14
    """Completion probability under which the partial counts as unfinished (the packaged
    turn head's cross-validated point: 5 % of finished lines fall under it)."""
    max_utterance_s: float = 20.0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not 0.0 <= self.incomplete_below <= self.complete_at <= 1.0:
            raise ValueError(f"need 0 <= incomplete_below ({self.incomplete_below}) <= "
                             f"complete_at ({self.complete_at}) <= 1")
        return self


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at: float
    """Onset of the first speech window."""


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    at: float
    """Start of a silence that may end the turn (the ASR can finish its decode now)."""


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    at: float


@dataclass(frozen=True, slots=True)
class TurnEnded:
    speech_end: float
    """When the caller actually stopped talking (start of the final silence)."""
    decided_at: float
    """When the detector was sure (speech_end + hang-over, or the length limit)."""
    reason: str
    """"hangover" (the default hang-over), "early" (a finished partial, shorter hang-over),
    "late" (an unfinished partial, longer hang-over) or "max_length"."""
    speech_start: float


TurnEvent = SpeechStarted | SpeechPaused | SpeechResumed | TurnEnded


class _State(Enum):
    IDLE = 0
    ONSET = 1
    SPEAKING = 2
    TRAILING = 3


_COMPLETE = re.compile(r"\w.*[.?!]['\"]?\s*$")


def is_complete_sentence(text: str) -> bool:
    """A partial transcript that ends like a finished sentence (two or more words)."""
    text = text.strip()
    return len(text.split()) >= 2 and bool(_COMPLETE.search(text)) and not text.endswith("...")


HANGOVER, EARLY, LATE = "hangover", "early", "late"


class TurnDetector:
    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self._state = _State.IDLE
        self._onset = 0.0
        self._speech_s = 0.0
        self._pause_at = 0.0
        self._verdict = HANGOVER  # what the latest partial says about the hang-over
        self._partial_covers = 0.0

    @property
    def in_speech(self) -> bool:
        """The caller is talking or in a pause that has not yet ended the turn."""
        return self._state in (_State.SPEAKING, _State.TRAILING)

    def on_partial(self, text: str, covers_until: float, complete: float | None = None) -> None:
        """The latest ASR hypothesis, decoded from audio up to ``covers_until``.

        ``complete``: the probability that ``text`` is a finished turn; None falls back
        to the punctuation rule (``is_complete_sentence``).
        """
        c = self.config
        if complete is None:
            self._verdict = EARLY if is_complete_sentence(text) else HANGOVER
        elif complete >= c.complete_at:
            self._verdict = EARLY
        elif complete < c.incomplete_below:
            self._verdict = LATE
        else:
            self._verdict = HANGOVER
        self._partial_covers = covers_until

    def _hangover(self) -> tuple[float, str]:
        """The silence that ends the current pause, and why."""
        c = self.config
        # Only a partial decoded up to the pause knows the last words.
        verdict = self._verdict if self._partial_covers >= self._pause_at - 0.05 else HANGOVER
        if verdict == EARLY:
            return c.early_hangover_s, EARLY if c.early_hangover_s < c.hangover_s else HANGOVER
        if verdict == LATE:
            return c.late_hangover_s, LATE if c.late_hangover_s > c.hangover_s else HANGOVER
        return c.hangover_s, HANGOVER

    def on_vad(self, probability: float, window_end: float, window_s: float) -> list[TurnEvent]:
        c = self.config
        start = window_end - window_s
        speech = probability >= c.start_threshold
        silence = probability < c.end_threshold
        events: list[TurnEvent] = []
        if self._state is _State.IDLE:
            if speech:
                self._state, self._onset, self._speech_s = _State.ONSET, start, window_s
                self._verdict = HANGOVER
                if self._speech_s >= c.min_speech_s:
                    self._state = _State.SPEAKING
                    events.append(SpeechStarted(self._onset))
        elif self._state is _State.ONSET:
            if silence:
                self._state = _State.IDLE
            else:
                self._speech_s += window_s
                if self._speech_s >= c.min_speech_s:
                    self._state = _State.SPEAKING
                    events.append(SpeechStarted(self._onset))
        elif self._state is _State.SPEAKING:
            if silence:
                self._state, self._pause_at = _State.TRAILING, start
                events.append(SpeechPaused(start))
        elif self._state is _State.TRAILING:
            if speech:
                self._state = _State.SPEAKING
                self._verdict = HANGOVER
                events.append(SpeechResumed(start))
            else:
                hang, reason = self._hangover()
                if window_end - self._pause_at >= hang - 1e-9:
                    self._state = _State.IDLE
                    events.append(TurnEnded(self._pause_at, window_end, reason, self._onset))
        if self.in_speech and window_end - self._onset >= c.max_utterance_s:
            end = self._pause_at if self._state is _State.TRAILING else window_end
            self._state = _State.IDLE
            events.append(TurnEnded(end, window_end, "max_length", self._onset))
        return events

    def reset(self) -> None:
        self._state = _State.IDLE
