"""Simulations on the embedded models: the product agent on the real LLM talks to LLM
users (MADS prompt) in text, and over synthesized audio through a telephone line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from agent.dialogue import Outcome
from server.settings import Settings
from simulator.app import simulate
from simulator.batch import AgentSettings, BatchConfig, PersonaSet, UserSettings
from simulator.store import read_dialogues

pytestmark = pytest.mark.real


def _check_dialogue_shape(d, limit: int) -> None:  # type: ignore[no-untyped-def]
    assert d.outcome is not None and isinstance(d.outcome, Outcome)
    assert 3 <= d.metadata["utterances"] <= limit + 1
    users = [t.text for t in d.turns if t.speaker == "user"]
    agents = [t for t in d.turns if t.speaker == "agent"][1:]  # after the greeting
    assert users and all(u.strip() for u in users)
    assert all(t.thought is not None for t in agents)  # a private thought every turn
    assert all("[" not in u for u in users)  # role-play tags never reach the agent


async def test_small_text_batch_of_llm_users_completes_with_outcomes_and_a_report(
        settings: Settings, tmp_path: Path) -> None:
    config = BatchConfig(
        name="real-text", mode="text", dialogues_per_persona=1, max_utterances=6, workers=2,
        personas=PersonaSet(count=3, seed=21), user=UserSettings(kind="mads"),
        agent=AgentSettings(kind="llm"), output=str(tmp_path / "sim" / "dialogues.jsonl"))
    console = Console(record=True, width=160)
    result = await simulate(config, settings, console)
    assert (result.done, result.failed) == (3, 0), result.errors
    dialogues = read_dialogues(tmp_path / "sim" / "dialogues.jsonl")
    assert len(dialogues) == 3 and len({d.id for d in dialogues}) == 3
    for d in dialogues:
        _check_dialogue_shape(d, 6)
        assert d.source == "simulated" and d.metadata["user_kind"] == "mads"
        assert d.caller.attributes["groups"]["sector"] == d.caller.sector
    report = tmp_path / "sim" / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["n_dialogues"] == 3
    assert (report / "report.html").stat().st_size > 1000
    assert (report / "intents_by_sector.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(console.export_text()[-600:])
    for d in dialogues:  # for the log: what the small model actually said
        print(d.outcome, [(t.speaker, t.text) for t in d.turns])


async def test_one_audio_dialogue_crosses_a_telephone_line_both_ways(
        settings: Settings, tmp_path: Path) -> None:
    config = BatchConfig(
        name="real-audio", mode="audio", dialogues_per_persona=1, max_utterances=4, workers=1,
        personas=PersonaSet(count=1, seed=5), user=UserSettings(kind="mads"),
        agent=AgentSettings(kind="llm"), output=str(tmp_path / "a" / "dialogues.jsonl"))
    result = await simulate(config, settings, Console(width=160), report=False)
    assert (result.done, result.failed) == (1, 0), result.errors
    (d,) = read_dialogues(tmp_path / "a" / "dialogues.jsonl")
    _check_dialogue_shape(d, 4)
    crossings = d.metadata["channel"]
    assert [c["speaker"] for c in crossings[:3]] == ["agent", "user", "agent"]
    for c in crossings:
        assert c["heard"].strip() and c["audio_s"] > 0.3
        assert 0.0 <= c["wer"]
    # The agent's turns record what it heard through ASR, not what the user said.
    heard_by_agent = [c["heard"] for c in crossings if c["speaker"] == "user"]
    assert [t.text for t in d.turns if t.speaker == "user"] == heard_by_agent
    agent_wer = [c["wer"] for c in crossings if c["speaker"] == "agent"]
    assert sum(agent_wer) / len(agent_wer) < 0.35  # piper over the phone line, heard by whisper
    print("crossings:", json.dumps(crossings, indent=1))
