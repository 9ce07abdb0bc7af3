"""Turn-taking: when does the caller start and stop talking? A pure state machine.

Input: one VAD speech probability per window (with the window's end time) and, when the
ASR has one, the latest partial transcript. Output: events. No I/O and no clock of its
own; times come in with the observations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

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
    """Silence that ends the turn when the partial transcript is a complete sentence."""
    max_utterance_s: float = 20.0


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
    """"hangover", "early" (complete sentence, shorter hang-over) or "max_length"."""
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


class TurnDetector:
    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self._state = _State.IDLE
        self._onset = 0.0
        self._speech_s = 0.0
        self._pause_at = 0.0
        self._partial_complete = False
        self._partial_covers = 0.0

    @property
    def in_speech(self) -> bool:
        """The caller is talking or in a pause that has not yet ended the turn."""
        return self._state in (_State.SPEAKING, _State.TRAILING)

    def on_partial(self, text: str, covers_until: float) -> None:
        """The latest ASR hypothesis, decoded from audio up to ``covers_until``."""
        self._partial_complete = is_complete_sentence(text)
        self._partial_covers = covers_until

    def on_vad(self, probability: float, window_end: float, window_s: float) -> list[TurnEvent]:
        c = self.config
        start = window_end - window_s
        speech = probability >= c.start_threshold
        silence = probability < c.end_threshold
        events: list[TurnEvent] = []
        if self._state is _State.IDLE:
            if speech:
                self._state, self._onset, self._speech_s = _State.ONSET, start, window_s
                self._partial_complete = False
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
                self._partial_complete = False
                events.append(SpeechResumed(start))
            else:
                early = self._partial_complete and self._partial_covers >= self._pause_at - 0.05
                hang = c.early_hangover_s if early else c.hangover_s
                if window_end - self._pause_at >= hang - 1e-9:
                    self._state = _State.IDLE
                    reason = "early" if early and hang < c.hangover_s else "hangover"
                    events.append(TurnEnded(self._pause_at, window_end, reason, self._onset))
        if self.in_speech and window_end - self._onset >= c.max_utterance_s:
            end = self._pause_at if self._state is _State.TRAILING else window_end
            self._state = _State.IDLE
            events.append(TurnEnded(end, window_end, "max_length", self._onset))
        return events

    def reset(self) -> None:
        self._state = _State.IDLE
