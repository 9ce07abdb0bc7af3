"""Caller audio of audio-mode simulations as a Hugging Face "audiofolder" dataset.

Each caller line a batch kept (``[audio] keep = true``: the 16 kHz WAV the ASR heard,
after the telephone line) becomes one row: ``audio/<id>.wav`` and a line of
``metadata.jsonl`` with the reference (what the user model meant to say), the ASR
hypothesis (what the agent read), the agent's next turn (its target reply), persona,
sector, dialogue and turn index. That is the layout ``datasets.load_dataset("audiofolder",
data_dir=...)`` reads, for fine-tuning the ASR (audio → reference) or an audio-input LLM
(audio → agent target) on a GPU.

The WAVs are copied byte for byte and rows are ordered by dialogue id and turn, so the
same store gives the same dataset, byte for byte (``card.json`` carries the sha256 of
the metadata and of the audio). Written like ``dataset build``: into a temporary folder
beside the output, which replaces it in one rename.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from agent.dialogue import Dialogue
from models.audio import HOUSE_RATE
from models.errors import SalesvoiceError
from optimizer.dataset import sector_of
from optimizer.dataset_card import dataset_folder
from simulator.metrics import persona_id
from voice.wer import wer


class AudioDatasetError(SalesvoiceError):
    """The dialogues give no audio dataset (text mode, audio not kept, files missing)."""


@dataclass(frozen=True, slots=True)
class AudioRow:
    """One caller line: its kept WAV and what goes in ``metadata.jsonl``."""

    source: Path
    meta: dict[str, Any]


@dataclass
class AudioExport:
    rows: list[AudioRow]
    counts: dict[str, int]
    seconds: float = 0.0
    by_sector: dict[str, int] = field(default_factory=dict)


def caller_rows(dialogue: Dialogue, audio_dir: Path) -> list[AudioRow] | None:
    """The kept caller lines of one dialogue; None if it has no audio crossings."""
    crossings = dialogue.metadata.get("channel")
    if dialogue.metadata.get("mode") != "audio" or not crossings:
        return None
    said = [c for c in crossings if c.get("speaker") == "user"]
    users = [i for i, t in enumerate(dialogue.turns) if t.speaker == "user"]
    rows = []
    # The k-th caller crossing is the k-th user turn: the agent records what it heard.
    for crossing, index in zip(said, users, strict=False):
        if "audio" not in crossing:
            continue  # an empty line (nothing spoken) or a batch that did not keep audio
        after = dialogue.turns[index + 1] if index + 1 < len(dialogue.turns) else None
        name = Path(crossing["audio"]).stem
        rows.append(AudioRow(audio_dir / crossing["audio"], {
            "file_name": f"audio/{Path(crossing['audio']).parent.name}-{name}.wav",
            "reference": crossing["said"],
            "asr_hypothesis": crossing["heard"],
            "agent_target": after.text if after is not None and after.speaker == "agent"
            else None,
            "persona_id": persona_id(dialogue),
            "sector": sector_of(dialogue),
            "dialogue_id": dialogue.id,
            "turn": index,
        }))
    return rows


def collect(dialogues: Sequence[Dialogue], audio_dir: Path) -> AudioExport:
    """Every kept caller line of ``dialogues``, checked and in a stable order."""
    if not dialogues:
        raise AudioDatasetError("no dialogues to export (the store is empty)")
    counts = Counter(dialogues=len(dialogues))
    rows: list[AudioRow] = []
    for d in sorted(dialogues, key=lambda d: d.id):
        got = caller_rows(d, audio_dir)
        if got is None:
            counts["not_audio_mode"] += 1
        elif not got:
            counts["audio_not_kept"] += 1
        else:
            counts["with_audio"] += 1
            rows += got
    if not counts["with_audio"]:
        if counts["not_audio_mode"] == len(dialogues):
            raise AudioDatasetError(
                f"none of the {len(dialogues)} dialogues is from an audio-mode batch: text "
                "simulations have no caller audio (run a batch with mode = 'audio' and "
                "[audio] keep = true)")
        raise AudioDatasetError(
            f"{counts['audio_not_kept']} audio-mode dialogues, but no caller audio was kept: "
            "set [audio] keep = true in the batch TOML and run it into a new store (a new "
            "name or output; a rerun skips the dialogues already stored)")
    export = AudioExport(rows, dict(counts), by_sector=dict(Counter(
        r.meta["sector"] for r in rows)))
    for row in rows:
        if not row.source.is_file():
            raise AudioDatasetError(
                f"kept audio {row.source} of {row.meta['dialogue_id']} is missing (pass "
                "--audio-dir if the store's audio folder moved; with Ray across machines "
                "it stays on the node that ran the dialogue)")
        info = sf.info(str(row.source))
        if info.samplerate != HOUSE_RATE or info.channels != 1:
            raise AudioDatasetError(f"{row.source} is {info.samplerate} Hz x "
                                    f"{info.channels}, not {HOUSE_RATE} Hz mono")
        export.seconds += info.frames / info.samplerate
    export.counts["rows"] = len(rows)
    return export


def audio_card(export: AudioExport, sources: Mapping[str, int]) -> dict[str, Any]:
    """Counts, audio seconds and the hypotheses' corpus WER against the references."""
    metas = [r.meta for r in export.rows]
    return {
        "sources": dict(sources),
        "counts": export.counts,
        "audio_seconds": round(export.seconds, 3),
        "sample_rate": HOUSE_RATE,
        "wer": round(wer([m["reference"] for m in metas],
                         [m["asr_hypothesis"] for m in metas]), 4),
        "with_agent_target": sum(m["agent_target"] is not None for m in metas),
        "by_sector": dict(sorted(export.by_sector.items())),
    }


def render_readme(card: Mapping[str, Any]) -> str:
    c = card["counts"]
    return "\n".join([
        "# Caller audio of simulated sales calls", "",
        "Written by `salesvoice dataset audio` (see docs/finetune.md, \"Audio datasets\"): "
        "each caller line as the ASR heard it over the simulated telephone line, 16 kHz "
        "mono WAV, with the text the caller meant (`reference`), the ASR's transcript "
        "(`asr_hypothesis`) and the agent's next turn (`agent_target`).", "",
        "```python", "from datasets import load_dataset",
        'ds = load_dataset("audiofolder", data_dir="<this folder>", split="train")', "```",
        "", "| | |", "|---|---|",
        f"| dialogues read | {c['dialogues']} |",
        f"| dialogues with kept audio | {c.get('with_audio', 0)} |",
        f"| not audio mode / audio not kept | {c.get('not_audio_mode', 0)} / "
        f"{c.get('audio_not_kept', 0)} |",
        f"| caller lines (rows) | {c['rows']} |",
        f"| rows with an agent target | {card['with_agent_target']} |",
        f"| audio seconds | {card['audio_seconds']} |",
        f"| ASR WER (hypothesis vs reference) | {card['wer']:.1%} |", "",
        "| sector | rows |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in card["by_sector"].items()), "",
        "| file | sha256 |", "|---|---|",
        *(f"| {k} | `{v}` |" for k, v in card["sha256"].items()), "",
    ])


def write_audio_dataset(out: Path, export: AudioExport, card: dict[str, Any], *,
                        overwrite: bool = False) -> dict[str, Any]:
    """Write ``audio/``, ``metadata.jsonl``, ``card.json`` and ``README.md`` at once; the
    card with the sha256 of the metadata and of the audio is returned."""
    with dataset_folder(out, overwrite=overwrite) as tmp:
        (tmp / "audio").mkdir()
        audio = hashlib.sha256()
        for row in export.rows:
            target = tmp / row.meta["file_name"]
            shutil.copyfile(row.source, target)
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            audio.update(f"{row.meta['file_name']} {digest}\n".encode())
        meta = "".join(json.dumps(r.meta, ensure_ascii=False) + "\n" for r in export.rows)
        (tmp / "metadata.jsonl").write_bytes(meta.encode())
        card = {**card, "sha256": {"metadata.jsonl": hashlib.sha256(meta.encode()).hexdigest(),
                                   "audio (name sha256 per line)": audio.hexdigest()}}
        (tmp / "card.json").write_text(json.dumps(card, indent=2))
        (tmp / "README.md").write_text(render_readme(card))
    return card
