"""Simulations on the embedded models: the product agent on the real LLM talks to LLM
users in text (two thought modes compared by ``salesvoice evaluate``, radio-play
customers), and over synthesized audio through a telephone line (MADS prompt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from agent.dialogue import Outcome
from server.settings import Settings
from simulator.app import simulate
from simulator.batch import AgentSettings, BatchConfig, PersonaSet, UserSettings
from simulator.evaluate_run import Arm, EvaluateConfig, run_evaluation
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


async def test_evaluate_runs_two_thought_modes_on_the_same_radio_play_customers(
        settings: Settings, tmp_path: Path) -> None:
    """``salesvoice evaluate`` on the embedded LLM: the product agent (learned and
    single-model thought) meets the same role-played customers, told no occupation."""
    config = EvaluateConfig(
        name="real-eval", output=str(tmp_path / "ev"),
        arms={"learned": "insurance-default",
              "single": Arm(set={"decoding.mode": "single"})},
        personas=PersonaSet(count=2, seed=9001), bootstrap=200,
        simulation={"max_utterances": 4, "workers": 2, "user": {"kind": "radio"},
                    "agent": {"kind": "llm"}})
    console = Console(record=True, width=160)
    ev = await run_evaluation(config, settings, console)
    dialogues = read_dialogues(tmp_path / "ev" / "dialogues.jsonl")
    assert len(dialogues) == 4 and {d.variant for d in dialogues} == {"learned", "single"}
    assert ev.paired_personas == 2 and [a.arm for a in ev.arms] == ["learned", "single"]
    for d in dialogues:
        _check_dialogue_shape(d, 4)
        assert d.caller.occupation is None  # the agent must find out
        hints = d.metadata["user_hints"]
        assert hints and all(h["style"] == "radio" for h in hints)
    for arm in ev.arms:
        assert {"success", "turns", "words", "role_slips"} <= set(arm.metrics)
    assert "success" in ev.arm("single").vs_baseline
    report = tmp_path / "ev" / "report"
    assert json.loads((report / "evaluation.json").read_text())["baseline"] == "learned"
    assert "learned" in (report / "report.md").read_text()
    print(console.export_text()[-600:])
    for d in dialogues:  # for the log: what the small model actually said
        print(d.variant, d.outcome, [(t.speaker, t.text) for t in d.turns])


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
