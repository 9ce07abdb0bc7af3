"""``salesvoice call``: a terminal caller for a running server (browser protocol).

Speaks from the microphone and plays the agent through the speakers (sounddevice), or
plays a WAV file as the caller (``--wav``) at real-time pace — handy for demos and for
checking a deployment end to end.
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from rich.console import Console

from models.audio import HOUSE_RATE, PCM, resample
from voice.audio import FRAME_SAMPLES

Printer = Callable[[str], None]


def read_wav(path: Path) -> PCM:
    """A mono 16-bit WAV file as 16 kHz PCM."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return resample(pcm, rate, HOUSE_RATE)


class _Speaker:
    """Plays agent audio through the default output device; flushable on barge-in."""

    def __init__(self) -> None:
        import sounddevice as sd

        self._queue: queue.Queue[PCM] = queue.Queue()
        self._stream = sd.OutputStream(
            samplerate=HOUSE_RATE, channels=1, dtype="int16", blocksize=FRAME_SAMPLES,
            callback=self._fill,
        )
        self._stream.start()

    def _fill(self, out: Any, frames: int, _time: Any, _status: Any) -> None:
        try:
            chunk = self._queue.get_nowait()
        except queue.Empty:
            chunk = np.zeros(frames, dtype=np.int16)
        out[:, 0] = np.resize(chunk, frames)

    def play(self, pcm: PCM) -> None:
        self._queue.put(pcm)

    def flush(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


async def run_call(
    url: str,
    caller: dict[str, Any],
    *,
    token: str | None,
    wav: Path | None,
    save_agent: Path | None,
    linger_s: float,
    console: Console,
) -> int:
    """One call; returns 0 when it ended normally."""
    start = {"type": "start", "version": 1, "sample_rate": HOUSE_RATE, "caller": caller}
    if token:
        start["token"] = token
    agent_audio: list[PCM] = []
    speaker = None if wav is not None else _Speaker()
    last_activity = time.monotonic()
    answered = asyncio.Event()
    """Set when the agent finishes a turn (a reply to the caller, not the greeting)."""
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps(start))

        async def receive() -> None:
            nonlocal last_activity
            async for m in ws:
                last_activity = time.monotonic()
                if isinstance(m, bytes):
                    pcm = np.frombuffer(m, dtype="<i2").astype(np.int16)
                    agent_audio.append(pcm)
                    if speaker is not None:
                        speaker.play(pcm)
                    continue
                msg = json.loads(m)
                kind = msg["type"]
                if kind == "transcript" and msg["final"]:
                    console.print(f"[cyan]you:[/] {msg['text']}")
                elif kind == "agent_text":
                    console.print(f"[green]agent:[/] {msg['text']}")
                elif kind in ("interrupt", "clear") and speaker is not None:
                    speaker.flush()
                elif kind == "turn" and msg["timings"].get("voice_to_voice_s") is not None:
                    v2v = msg["timings"]["voice_to_voice_s"]
                    console.print(f"[dim]voice-to-voice {v2v:.2f} s[/]")
                    answered.set()
                elif kind in ("error", "end"):
                    console.print(f"[yellow]{kind}:[/] {msg}")

        rx = asyncio.create_task(receive())
        try:
            if wav is not None:
                await _play_file(ws, read_wav(wav), linger_s, lambda: last_activity, answered)
                await ws.send(json.dumps({"type": "end"}))
            else:
                await _play_microphone(ws)
            await asyncio.wait_for(rx, 30)
        except (KeyboardInterrupt, asyncio.CancelledError):
            await ws.send(json.dumps({"type": "end"}))
        finally:
            if speaker is not None:
                speaker.close()
    if save_agent is not None and agent_audio:
        with wave.open(str(save_agent), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(HOUSE_RATE)
            w.writeframes(np.concatenate(agent_audio).astype("<i2").tobytes())
    code = ws.close_code or 1000
    console.print(f"call closed with code {code}")
    return 0 if code == 1000 else 1


async def _play_file(
    ws: Any, pcm: PCM, linger_s: float, last_activity: Callable[[], float],
    answered: asyncio.Event, answer_timeout_s: float = 60.0,
) -> None:
    """Silence until the greeting is over, the file, silence until the agent has
    answered (a slow machine thinks longer than ``linger_s``; bounded by
    ``answer_timeout_s``), then until the agent is quiet for ``linger_s``."""
    due = time.monotonic()

    async def send(chunk: PCM) -> None:
        nonlocal due
        await ws.send(chunk.astype("<i2").tobytes())
        due += len(chunk) / HOUSE_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))

    quiet = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    await send(quiet)
    while time.monotonic() - last_activity() < 1.0:
        await send(quiet)
    for i in range(0, len(pcm), FRAME_SAMPLES):
        await send(pcm[i : i + FRAME_SAMPLES])
    answered.clear()  # the greeting does not count as the answer
    await send(quiet)
    give_up = time.monotonic() + answer_timeout_s
    while not answered.is_set() and time.monotonic() < give_up:
        await send(quiet)
    while time.monotonic() - last_activity() < linger_s:
        await send(quiet)


async def _play_microphone(ws: Any) -> None:
    import sounddevice as sd

    loop = asyncio.get_running_loop()
    frames: asyncio.Queue[bytes] = asyncio.Queue()

    def on_audio(data: Any, _frames: int, _time: Any, _status: Any) -> None:
        loop.call_soon_threadsafe(frames.put_nowait, bytes(data))

    with sd.RawInputStream(samplerate=HOUSE_RATE, channels=1, dtype="int16",
                           blocksize=FRAME_SAMPLES, callback=on_audio):
        while True:
            await ws.send(await frames.get())
