"""``salesvoice dataset audio``: an audio-mode batch that keeps its caller audio (fake
voices and a fake recognizer, the real line and batch) → an audiofolder dataset."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import soundfile as sf

from agent.dialogue import Dialogue
from agent.domain import load_domain
from agent.program import load_program
from models.asr import FakeASR
from models.audio import HOUSE_RATE
from models.tts.fake import FakeTTS
from optimizer.audio_dataset import (
    AudioDatasetError,
    audio_card,
    collect,
    write_audio_dataset,
)
from server.cli import main
from simulator.audio import kept_audio_dir
from simulator.batch import (
    AgentSettings,
    BatchConfig,
    PersonaSet,
    Toolkit,
    UserSettings,
    local_runner,
    personas_for,
    run_batch,
)
from simulator.store import DialogueLog, read_dialogues
from voice.wer import wer

HEARD = ["hello I'm a nurse", "what does it cost", "no thanks bye"]


def config(store: Path, *, keep: bool = True, mode: str = "audio") -> BatchConfig:
    return BatchConfig.model_validate({
        "name": "aud", "mode": mode, "dialogues_per_persona": 1, "max_utterances": 6,
        "workers": 1, "output": str(store), "personas": PersonaSet(count=2, seed=4),
        "user": UserSettings(kind="programmatic"), "agent": AgentSettings(kind="rule"),
        "audio": {"keep": keep}})


async def run(store: Path, *, keep: bool = True, mode: str = "audio") -> list[Dialogue]:
    cfg = config(store, keep=keep, mode=mode)
    kit = Toolkit(cfg, load_domain("insurance"), {"default": load_program()})
    if mode == "audio":
        kit.user_tts, kit.agent_tts = FakeTTS(seconds_per_word=0.1), FakeTTS()
        kit.asr = FakeASR(HEARD)
        kit.audio_dir = kept_audio_dir(store) if keep else None
    with DialogueLog(store) as log:
        result = await run_batch(cfg, await personas_for(cfg, None), log, local_runner(kit, 1))
    assert (result.done, result.failed) == (2, 0), result.errors
    return read_dialogues(store)


@pytest.fixture
async def store(tmp_path: Path) -> Path:
    await run(tmp_path / "b" / "dialogues.jsonl")
    return tmp_path / "b" / "dialogues.jsonl"


def export(store: Path, out: Path) -> dict[str, object]:
    got = collect(read_dialogues(store), kept_audio_dir(store))
    return write_audio_dataset(out, got, audio_card(got, {str(store): 2}))


def test_the_batch_keeps_each_caller_line_as_the_16k_wav_the_recognizer_heard(
        store: Path) -> None:
    dialogues = read_dialogues(store)
    lines = [c for d in dialogues for c in d.metadata["channel"] if c["speaker"] == "user"]
    assert lines and all("audio" in c for c in lines)
    agent_lines = [c for d in dialogues for c in d.metadata["channel"] if c["speaker"] == "agent"]
    assert not any("audio" in c for c in agent_lines)  # only the caller's side is kept
    for c in lines:
        data, rate = sf.read(kept_audio_dir(store) / c["audio"], dtype="int16")
        assert rate == HOUSE_RATE and data.ndim == 1
        # What crossed the line: as long as the fake voice's speech, not silent.
        assert abs(len(data) / rate - c["audio_s"]) < 0.01 and abs(data).max() > 100


def test_export_rows_pair_audio_reference_hypothesis_and_the_agents_next_turn(
        store: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    card = export(store, out)
    rows = [json.loads(x) for x in (out / "metadata.jsonl").read_text().splitlines()]
    dialogues = {d.id: d for d in read_dialogues(store)}
    assert len(rows) == card["counts"]["rows"] == sum(  # type: ignore[index]
        c["speaker"] == "user" for d in dialogues.values() for c in d.metadata["channel"])
    for r in rows:
        assert set(r) == {"file_name", "reference", "asr_hypothesis", "agent_target",
                          "persona_id", "sector", "dialogue_id", "turn"}
        d = dialogues[r["dialogue_id"]]
        user, reply = d.turns[r["turn"]], d.turns[r["turn"] + 1]
        assert user.speaker == "user" and user.text == r["asr_hypothesis"]
        assert r["asr_hypothesis"] in HEARD and r["reference"] not in HEARD
        assert reply.speaker == "agent" and r["agent_target"] == reply.text
        assert r["persona_id"] == d.metadata["persona_id"] and r["sector"] != "unknown"
        assert (out / r["file_name"]).is_file()
    seconds = sum(sf.info(str(out / r["file_name"])).duration for r in rows)
    assert card["audio_seconds"] == pytest.approx(seconds, abs=1e-3)
    assert card["wer"] == pytest.approx(wer([r["reference"] for r in rows],
                                            [r["asr_hypothesis"] for r in rows]), abs=1e-4)
    assert "ASR WER" in (out / "README.md").read_text()


def test_export_is_read_by_the_datasets_audiofolder_builder(store: Path, tmp_path: Path) -> None:
    """The real ``audiofolder`` builder resolves every row to its WAV. (Its Arrow step
    needs torchcodec to encode audio; the PyPI wheel links CUDA, so it is not run here.)"""
    out = tmp_path / "ds"
    export(store, out)
    builder = datasets.load_dataset_builder("audiofolder", data_dir=str(out))
    (split,) = builder._split_generators(datasets.DownloadManager())
    examples = [x for _, x in builder._generate_examples(**split.gen_kwargs)]
    rows = [json.loads(x) for x in (out / "metadata.jsonl").read_text().splitlines()]
    assert split.name == "train" and len(examples) == len(rows)
    assert isinstance(builder.info.features["audio"], datasets.Audio)
    for x, r in zip(examples, rows, strict=True):
        assert Path(x["audio"]) == (out / r["file_name"]).resolve()
        assert x["reference"] == r["reference"] and x["agent_target"] == r["agent_target"]


def test_the_same_store_gives_the_same_dataset_byte_for_byte(store: Path,
                                                             tmp_path: Path) -> None:
    a, b = export(store, tmp_path / "x"), export(store, tmp_path / "y")
    assert a == b
    files = sorted(p.relative_to(tmp_path / "x") for p in (tmp_path / "x").rglob("*")
                   if p.is_file())
    assert len(files) > 3
    for f in files:
        assert (tmp_path / "x" / f).read_bytes() == (tmp_path / "y" / f).read_bytes()


async def test_a_text_batch_an_unkept_audio_batch_and_an_empty_store_are_clear_errors(
        tmp_path: Path) -> None:
    text = tmp_path / "t" / "dialogues.jsonl"
    with pytest.raises(AudioDatasetError, match="audio-mode batch"):
        collect(await run(text, mode="text", keep=False), kept_audio_dir(text))
    unkept = tmp_path / "u" / "dialogues.jsonl"
    with pytest.raises(AudioDatasetError, match=r"keep = true"):
        collect(await run(unkept, keep=False), kept_audio_dir(unkept))
    with pytest.raises(AudioDatasetError, match="empty"):
        collect([], tmp_path)


def test_a_missing_wav_is_named_and_nothing_is_written(store: Path, tmp_path: Path) -> None:
    first = sorted(kept_audio_dir(store).rglob("*.wav"))[0]
    first.unlink()
    with pytest.raises(AudioDatasetError, match=first.name):
        export(store, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_keep_needs_audio_mode() -> None:
    with pytest.raises(ValueError, match=r"audio\.keep"):
        config(Path("x.jsonl"), mode="text")


def test_cli_writes_the_dataset_and_refuses_a_text_store(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["dataset", "audio", str(store), "--out", str(out)]) == 0
    assert "caller lines" in capsys.readouterr().out
    assert (out / "metadata.jsonl").is_file() and (out / "card.json").is_file()
    assert main(["dataset", "audio", str(store), "--out", str(out)]) == 2  # no --overwrite
    assert "exists" in capsys.readouterr().out
    text = tmp_path / "text.jsonl"
    text.write_text("".join(d.model_copy(update={"metadata": {"mode": "text"}}).to_json()
                            + "\n" for d in read_dialogues(store)))
    assert main(["dataset", "audio", str(text), "--out", str(tmp_path / "t")]) == 2
    assert "audio-mode batch" in capsys.readouterr().out
