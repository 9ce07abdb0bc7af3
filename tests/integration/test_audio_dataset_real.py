"""One short audio dialogue with the real voices (espeak-ng caller, piper agent) and the
embedded whisper, its caller audio kept and exported as an audiofolder dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from rich.console import Console

from models.asr import ASR
from optimizer.audio_dataset import audio_card, collect, write_audio_dataset
from server.settings import Settings
from simulator.app import simulate
from simulator.audio import kept_audio_dir
from simulator.batch import AgentSettings, BatchConfig, PersonaSet, UserSettings
from simulator.store import read_dialogues
from voice.wer import line_wer, wer

pytestmark = pytest.mark.real


async def test_a_real_audio_dialogue_exports_what_whisper_heard_beside_what_was_meant(
        settings: Settings, asr: ASR, tmp_path: Path) -> None:
    store = tmp_path / "a" / "dialogues.jsonl"
    config = BatchConfig.model_validate({
        "name": "real-audio-ds", "mode": "audio", "dialogues_per_persona": 1,
        "max_utterances": 4, "workers": 1, "output": str(store),
        "personas": PersonaSet(count=1, seed=5), "user": UserSettings(kind="programmatic"),
        "agent": AgentSettings(kind="rule"), "audio": {"keep": True}})
    result = await simulate(config, settings, Console(width=160), report=False)
    assert (result.done, result.failed) == (1, 0), result.errors
    dialogues = read_dialogues(store)
    export = collect(dialogues, kept_audio_dir(store))
    card = write_audio_dataset(tmp_path / "ds", export, audio_card(export, {str(store): 1}))
    rows = [json.loads(x) for x in (tmp_path / "ds" / "metadata.jsonl").read_text().splitlines()]
    assert rows and card["counts"]["rows"] == len(rows)
    for r in rows:
        data, rate = sf.read(tmp_path / "ds" / r["file_name"], dtype="int16")
        assert rate == 16000 and data.ndim == 1 and len(data) > 0.5 * rate
        assert r["asr_hypothesis"].strip() and r["agent_target"]
        # The kept WAV is the audio the hypothesis came from: the same recogniser hears
        # the same words in it again (whisper over the phone line is far from perfect on
        # the espeak-ng caller, 46.5 % WER in `bench vocab`: no bound on the reference).
        again = (await asr.transcribe(data)).text
        assert line_wer(r["asr_hypothesis"], again) <= 0.2, (r, again)
    assert card["wer"] == pytest.approx(wer([r["reference"] for r in rows],
                                            [r["asr_hypothesis"] for r in rows]), abs=1e-4)
    assert card["audio_seconds"] > 0.5 * len(rows)
    print("rows:", json.dumps(rows, indent=1), "card:", json.dumps(card, indent=1))
