"""faster-whisper (CTranslate2) behind a streaming session.

Whisper is not a streaming model, so the session re-decodes the growing utterance in the
background every ``step_s`` of new audio. While the caller pauses at the end of a turn
(the VAD hang-over) the last decode finishes, and ``finalize`` can hand it over at once
instead of starting a fresh decode after the turn has ended. Utterances longer than the
model's 30 s window are cut at a decoded word boundary and the text before it committed.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.asr.base import ASR, ASRCapabilities, ASRSession, Transcript, Word
from models.audio import PCM, pcm_to_float
from models.config import FasterWhisperSettings
from models.errors import MissingExtraError, ModelNotFoundError, ModelRuntimeError

_MAX_WINDOW_S = 24.0
"""Decode at most this much audio at once (Whisper's window is 30 s)."""
_KEEP_TAIL_S = 4.0
"""When cutting a long utterance, keep this much of its end undecided."""


class FasterWhisperASR(ASR):
    name = "faster-whisper"
    capabilities: ClassVar[ASRCapabilities] = ASRCapabilities(partials=True, word_timings=True)

    def __init__(self, model: str | Path, settings: FasterWhisperSettings) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingExtraError("faster-whisper", "embedded", "faster_whisper") from exc
        self.settings = settings
        try:
            self._model: Any = WhisperModel(
                str(model),
                device=settings.device,
                compute_type=settings.compute_type,
                cpu_threads=settings.cpu_threads,
                local_files_only=True,
            )
        except Exception as exc:
            raise ModelNotFoundError(
                f"cannot load Whisper model {str(model)!r}: {exc}; use a packaged model id "
                "(salesvoice models list) or a CTranslate2 model directory"
            ) from exc
        # One decoder thread for all sessions: two concurrent decodes on two cores only
        # make both slower.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")

    def decode(self, audio: np.ndarray[Any, np.dtype[np.float32]], prompt: str) -> list[Word]:
        """Blocking decode of float audio → words with times relative to its start."""
        segments, _ = self._model.transcribe(
            audio,
            language=self.settings.language,
            beam_size=self.settings.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
            vad_filter=False,
        )
        words = []
        for seg in segments:
            for w in seg.words or ():
                words.append(Word(w.word, float(w.start), float(w.end), float(w.probability)))
        return words

    def session(self) -> FasterWhisperSession:
        return FasterWhisperSession(self)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _join(words: list[Word] | tuple[Word, ...]) -> str:
    return "".join(w.text for w in words).strip()


class FasterWhisperSession(ASRSession):
    def __init__(self, asr: FasterWhisperASR) -> None:
        self._asr = asr
        self._loop = asyncio.get_running_loop()
        self._chunks: list[PCM] = []
        self._total = 0  # samples pushed
        self._offset = 0  # samples before the current window (already committed)
        self._committed: list[Word] = []
        self._decoded_upto = 0  # samples covered by the latest hypothesis
        self._latest: Transcript | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._step = int(asr.settings.step_s * self.sample_rate)
        self._wanted = False  # prefetch() asked for a decode as soon as possible

    # -- feeding ----------------------------------------------------------------------
    def push(self, pcm: PCM) -> None:
        if self._closed:
            raise ModelRuntimeError("push() after finalize() on an ASR session")
        if len(pcm):
            self._chunks.append(np.asarray(pcm, dtype=np.int16))
            self._total += len(pcm)
        self._maybe_decode()

    def partial(self) -> Transcript | None:
        return self._latest

    def prefetch(self) -> None:
        self._wanted = True
        self._maybe_decode()

    def _maybe_decode(self) -> None:
        if self._task is not None or self._total == self._decoded_upto:
            return
        if self._wanted or self._total - self._decoded_upto >= self._step:
            self._wanted = False
            self._task = self._loop.create_task(self._decode_now())

    def _window(self) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        audio = self._chunks[0] if self._chunks else np.zeros(0, dtype=np.int16)
        return pcm_to_float(audio[self._offset :]), self._total

    async def _decode_now(self) -> None:
        try:
            await self._decode_window(final=False)
        finally:
            self._task = None
        if not self._closed:
            self._maybe_decode()

    async def _decode_window(self, *, final: bool) -> Transcript:
        audio, upto = self._window()
        start = time.monotonic()
        words = await self._loop.run_in_executor(
            self._asr._executor, self._asr.decode, audio, _join(self._committed)[-200:]
        )
        elapsed = time.monotonic() - start
        base = self._offset / self.sample_rate
        words = [Word(w.text, w.start_s + base, w.end_s + base, w.probability) for w in words]
        window_s = len(audio) / self.sample_rate
        if not final and window_s > _MAX_WINDOW_S:
            self._commit(words, upto)
            words = [w for w in words if w.start_s >= self._offset / self.sample_rate]
        all_words = (*self._committed, *words)
        self._latest = Transcript(
            _join(all_words), all_words, final, upto / self.sample_rate, elapsed
        )
        self._decoded_upto = upto
        return self._latest

    def _commit(self, words: list[Word], upto: int) -> None:
        """Commit words that end well before the window's end; move the window past them."""
        cut_s = upto / self.sample_rate - _KEEP_TAIL_S
        done = [w for w in words if w.end_s <= cut_s]
        if done:
            self._committed.extend(done)
            self._offset = int(done[-1].end_s * self.sample_rate)
        else:  # no word boundary: drop audio rather than exceed the model's window
            self._offset = int(cut_s * self.sample_rate)

    # -- ending -----------------------------------------------------------------------
    async def finalize(self) -> Transcript:
        self._closed = True
        if self._task is not None:
            await asyncio.shield(self._task)
        slack = int(self._asr.settings.final_slack_s * self.sample_rate)
        latest = self._latest
        if latest is not None and self._total - self._decoded_upto <= slack:
            self._latest = Transcript(
                latest.text, latest.words, True, self._total / self.sample_rate, latest.decode_s
            )
            return self._latest
        if self._total - self._offset == 0:
            return Transcript(_join(self._committed), tuple(self._committed), True, 0.0, 0.0)
        return await self._decode_window(final=True)

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.shield(task)
