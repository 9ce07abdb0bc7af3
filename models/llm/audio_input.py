"""The caller's own voice to an audio-input LLM (Ultravox, Qwen2-Audio served by vLLM).

The local ASR keeps running: its partials drive turn-taking and barge-in, and its
transcript is what the agent's text-side logic (opt-out phrases, claim checks, the
sector head) reads and what the call record keeps. What changes is what the model
*hears*: in the request of a reply, the last user message — the transcript of the
caller's latest utterance — is replaced by that utterance's audio, an ``input_audio``
content part (base64 WAV, 16 kHz mono 16-bit), so the reply does not inherit the ASR's
errors on product names and figures. Earlier turns stay text (cheaper, and their prefix
stays cached). The chat completions API returns no transcript of input audio, so the
record's transcript is the local ASR's.

Wiring: ``ListeningASR`` wraps the shared ASR for one call and files each finalized
utterance (transcript → audio) in the LLM's ``CallerAudio`` under the call's session;
the OpenAI-compatible backend (``llm.openai.audio_input = true``) looks the last user
message up there when it builds a request of that session.
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict, deque
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

from models.asr.base import ASR, ASRCapabilities, ASRSession, Transcript
from models.audio import HOUSE_RATE, PCM

MAX_CLIPS = 4
"""Utterances kept per call: the latest, plus a few a reply may join (a caller who went
on talking before the previous reply was heard is answered for both lines at once)."""
MAX_SESSIONS = 64
"""Calls kept; the least recently heard is dropped first (ended calls age out)."""


def wav_base64(pcm: PCM, rate: int = HOUSE_RATE) -> str:
    """Mono 16-bit PCM as a base64 WAV file, the ``input_audio`` payload."""
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(pcm, dtype=np.int16), rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def audio_part(pcm: PCM, rate: int = HOUSE_RATE) -> dict[str, Any]:
    """An OpenAI chat completions content part carrying ``pcm`` (vLLM reads the same)."""
    return {"type": "input_audio", "input_audio": {"data": wav_base64(pcm, rate), "format": "wav"}}


def _words(text: str) -> str:
    return " ".join(text.split())


class CallerAudio:
    """Recent caller utterances per call session: transcript → audio."""

    def __init__(self) -> None:
        self._calls: OrderedDict[str, deque[tuple[str, PCM]]] = OrderedDict()

    def heard(self, session: str, text: str, pcm: PCM) -> None:
        """The ASR finalized ``text`` from ``pcm`` (16 kHz) in call ``session``."""
        if not _words(text):
            return
        clips = self._calls.pop(session, None) or deque(maxlen=MAX_CLIPS)
        clips.append((_words(text), np.asarray(pcm, dtype=np.int16)))
        self._calls[session] = clips
        while len(self._calls) > MAX_SESSIONS:
            self._calls.popitem(last=False)

    def clip_for(self, session: str | None, text: str) -> PCM | None:
        """The audio of which ``text`` is the transcript: the latest utterance, or the
        latest few joined when the line joins their transcripts; None if unknown."""
        if session is None or session not in self._calls:
            return None
        wanted = _words(text)
        said: list[str] = []
        audio: list[PCM] = []
        for clip_text, pcm in reversed(self._calls[session]):
            said.insert(0, clip_text)
            audio.insert(0, pcm)
            joined = " ".join(said)
            if joined == wanted:
                return np.concatenate(audio)
            if not wanted.endswith(" " + joined):
                return None
        return None

    def attach(self, messages: list[dict[str, Any]], session: str | None) -> bool:
        """Replace the last user message of an OpenAI-style ``messages`` list by its
        audio, if this call's caller said it; True if it did."""
        last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        if last is None or not isinstance(last.get("content"), str):
            return False
        clip = self.clip_for(session, last["content"])
        if clip is None:
            return False
        last["content"] = [audio_part(clip)]
        return True


def listening_asr(asr: ASR, llm: object, session: str) -> ASR:
    """The ASR for call ``session``: ``asr`` itself, or, if ``llm`` hears audio (has a
    ``CallerAudio`` as ``ear``), ``asr`` wrapped to file each utterance's audio there."""
    ear = getattr(llm, "ear", None)
    return ListeningASR(asr, ear, session) if isinstance(ear, CallerAudio) else asr


class ListeningASR(ASR):
    """One call's view of a shared ASR: the same transcripts, and each finalized
    utterance's audio filed in ``ear`` under the call's ``session``."""

    name = "listening"
    capabilities: ClassVar[ASRCapabilities] = ASRCapabilities(partials=True, word_timings=True)

    def __init__(self, inner: ASR, ear: CallerAudio, session: str) -> None:
        self._inner = inner
        self._ear = ear
        self._session = session

    def session(self) -> ASRSession:
        return _ListeningSession(self._inner.session(), self._ear, self._session)

    async def aclose(self) -> None:
        return None  # the shared ASR belongs to whoever built it


class _ListeningSession(ASRSession):
    def __init__(self, inner: ASRSession, ear: CallerAudio, session: str) -> None:
        self._inner = inner
        self._ear = ear
        self._session = session
        self._audio: list[PCM] = []

    def push(self, pcm: PCM) -> None:
        self._audio.append(np.asarray(pcm, dtype=np.int16))
        self._inner.push(pcm)

    def partial(self) -> Transcript | None:
        return self._inner.partial()

    def prefetch(self) -> None:
        self._inner.prefetch()

    async def finalize(self) -> Transcript:
        final = await self._inner.finalize()
        if self._audio:
            self._ear.heard(self._session, final.text, np.concatenate(self._audio))
        return final

    async def aclose(self) -> None:
        await self._inner.aclose()
