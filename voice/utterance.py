"""The caller's utterance under way: a streaming ASR session from just before its onset.

The session hears the pre-roll, then every frame. While the caller pauses it hears
nothing more, so the decode started at the pause stays complete (likely the whole
line); if they go on, the held audio follows. No I/O of its own: the pipeline feeds it.
"""

from __future__ import annotations

from collections.abc import Iterable

from models.asr.base import ASRSession
from models.audio import PCM


class Utterance:
    """One caller utterance: its ASR session, its pause, its partial transcripts.

    ``started`` is when the session's audio begins (the pre-roll's first frame, on the
    pipeline's clock); ``over_agent`` says it began while the agent was speaking.
    """

    def __init__(self, session: ASRSession, preroll: Iterable[PCM], *, started: float,
                 over_agent: bool) -> None:
        self.session = session
        self.started = started
        self.over_agent = over_agent
        self.paused_at: float | None = None
        self._held: list[PCM] = []  # caller audio during a pause, pushed if speech resumes
        self._last_partial = ""
        self._pause_heard = False  # a partial covering the current pause was reported
        for frame in preroll:
            session.push(frame)

    def push(self, frame: PCM) -> None:
        """Caller audio: to the ASR, or held back while the caller pauses."""
        if self.paused_at is None:
            self.session.push(frame)
        else:
            self._held.append(frame)

    def pause(self, at: float) -> None:
        """The caller paused at ``at``: decode what they said so far."""
        self.paused_at = at
        self._pause_heard = False
        self.session.prefetch()

    def resume(self) -> None:
        """The caller went on: the ASR hears the held audio, then the rest."""
        self.paused_at = None
        for held in self._held:
            self.session.push(held)
        self._held = []

    def new_partial(self) -> tuple[str, float] | None:
        """A partial transcript not reported before, and the time its audio reaches; the
        first one that reaches the pause is reported even if its words are unchanged (the
        turn detector judges the pause by it)."""
        partial = self.session.partial()
        if partial is None or not partial.text.strip():
            return None
        covers = self.started + partial.audio_s
        reaches_pause = (self.paused_at is not None and not self._pause_heard
                         and covers >= self.paused_at - 0.05)
        if partial.text == self._last_partial and not reaches_pause:
            return None
        self._pause_heard = self._pause_heard or reaches_pause
        self._last_partial = partial.text
        return partial.text, covers
