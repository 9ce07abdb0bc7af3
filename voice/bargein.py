"""Barge-in: does caller speech during agent speech interrupt the agent? Pure.

Speech that is only a backchannel ("uh-huh", "okay", "mm") and shorter than
``backchannel_max_s`` does not interrupt. Longer speech always does; shorter speech does
as soon as its partial transcript shows a word that is not a backchannel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.config import StrictModel

DEFAULT_BACKCHANNELS = frozenset(
    "uh-huh uh huh mhm mm mmm hmm hm yeah yep yes ok okay right sure alright i see "
    "got it oh ah aha cool nice".split()
)


class BargeInConfig(StrictModel):
    min_speech_s: float = 0.25
    """Speech shorter than this never interrupts."""
    backchannel_max_s: float = 0.7
    """Speech longer than this interrupts whatever it says."""
    backchannels: frozenset[str] = DEFAULT_BACKCHANNELS
    """Words that, alone, make a backchannel."""
    pause_after_s: float = 0.06
    """Caller speech over the agent this long pauses the agent's audio at once (before
    deciding whether it interrupts); 0 disables pausing."""
    resume_after_s: float = 0.3
    """Caller silence after which paused agent audio resumes (the sound was a backchannel
    or noise)."""


@dataclass(frozen=True, slots=True)
class Interrupt:
    at: float
    speech_s: float
    words: str


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower().replace("-", " "))


class BargeInPolicy:
    def __init__(self, config: BargeInConfig | None = None) -> None:
        self.config = config or BargeInConfig()
        self._agent_speaking = False
        self._speech_s = 0.0
        self._words = ""
        self._fired = False
        self._silence_s = 0.0

    def agent_started(self) -> None:
        self._agent_speaking = True
        self._speech_s, self._words, self._fired = 0.0, "", False
        self._silence_s = 0.0

    def agent_stopped(self) -> None:
        self._agent_speaking = False

    def on_partial(self, text: str) -> None:
        """Partial transcript of the caller's current speech."""
        self._words = text

    def caller_silent(self, window_s: float = 0.0) -> None:
        """One more window of caller silence: their burst of speech ended (a backchannel,
        if it did not interrupt)."""
        self._speech_s, self._words = 0.0, ""
        self._silence_s += window_s

    def should_pause(self) -> bool:
        """Caller speech over the agent has lasted long enough to stop its audio now."""
        c = self.config
        return self._agent_speaking and 0 < c.pause_after_s <= self._speech_s + 1e-9

    def should_resume(self) -> bool:
        """The caller has been quiet long enough, without interrupting, to go on."""
        return not self._fired and self._silence_s >= self.config.resume_after_s - 1e-9

    def is_backchannel(self, text: str) -> bool:
        words = _words(text)
        return all(w in self.config.backchannels for w in words)

    def on_speech(self, window_s: float, at: float) -> Interrupt | None:
        """One more window of caller speech; an Interrupt the first time it should."""
        if not self._agent_speaking or self._fired:
            return None
        self._speech_s += window_s
        self._silence_s = 0.0
        c = self.config
        if self._speech_s < c.min_speech_s:
            return None
        content = bool(_words(self._words)) and not self.is_backchannel(self._words)
        if content or self._speech_s >= c.backchannel_max_s:
            self._fired = True
            return Interrupt(at, self._speech_s, self._words)
        return None
