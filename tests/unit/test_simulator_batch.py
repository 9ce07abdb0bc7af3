"""Batches: the store, planning, resume after SIGKILL, config errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.dialogue import Dialogue
from models.errors import ConfigError
from simulator.batch import (
    AgentSettings,
    BatchConfig,
    PersonaSet,
    Toolkit,
    UserSettings,
    load_batch_config,
    local_runner,
    personas_for,
    plan,
    run_batch,
)
from simulator.metrics import summarize
from simulator.store import DialogueLog, StoreCorrupt

GRID = BatchConfig(
    name="grid", mode="text", dialogues_per_persona=15, workers=1,
    personas=PersonaSet(grid=True, seed=0), user=UserSettings(kind="programmatic"),
    agent=AgentSettings(kind="rule"))


def dialogue(i: int) -> Dialogue:
    return Dialogue(id=f"d{i}", source="simulated", program_version="p")


def test_store_appends_one_line_per_dialogue_and_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "s" / "d.jsonl"
    with DialogueLog(path) as log:
        log.append(dialogue(1))
        log.append(dialogue(2))
        with pytest.raises(ValueError, match="already in"):
            log.append(dialogue(1))
    with DialogueLog(path) as log:
        assert log.done == {"d1", "d2"}
    assert len(path.read_text().splitlines()) == 2


def test_store_cuts_a_torn_last_line_left_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(dialogue(1).to_json() + "\n" + dialogue(2).to_json()[:40])
    with DialogueLog(path) as log:
        assert log.done == {"d1"}
        log.append(dialogue(2))
    assert [d.id for d in DialogueLog(path).read()] == ["d1", "d2"]


def test_store_keeps_a_complete_last_record_whose_newline_was_lost(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(dialogue(1).to_json())
    with DialogueLog(path) as log:
        log.append(dialogue(2))
    assert [d.id for d in DialogueLog(path).read()] == ["d1", "d2"]


def test_store_reports_a_corrupt_line_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(dialogue(1).to_json() + "\n{not json}\n" + dialogue(2).to_json() + "\n")
    with pytest.raises(StoreCorrupt, match=r"d.jsonl:2 is not a dialogue"):
        DialogueLog(path).open()


async def test_plan_covers_personas_variants_seeds_and_repeats() -> None:
    config = GRID.model_copy(update={
        "seeds": [0, 1], "dialogues_per_persona": 3,
        "agent": AgentSettings(kind="rule", programs={"a": "insurance-default",
                                                      "b": "insurance-default"})})
    personas = (await personas_for(config, None))[:4]
    items = plan(config, personas)
    assert len(items) == 4 * 2 * 2 * 3 == len({i.id for i in items})
    assert items[0].id == f"grid:{personas[0].id}:a:s0:k0"


async def test_grid_batch_of_7200_programmatic_dialogues_runs_in_seconds(tmp_path: Path) -> None:
    kit = await Toolkit.build(GRID, settings=None)  # type: ignore[arg-type]  # no models needed
    personas = await personas_for(GRID, None)
    started = time.monotonic()
    with DialogueLog(tmp_path / "d.jsonl") as log:
        result = await run_batch(GRID, personas, log, local_runner(kit, 1))
    elapsed = time.monotonic() - started
    assert (result.done, result.failed, result.skipped) == (7200, 0, 0)
    dialogues = list(DialogueLog(tmp_path / "d.jsonl").read())
    assert len({d.id for d in dialogues}) == 7200
    assert result.successes == sum(d.outcome in ("accepted", "explicit_intent")
                                   for d in dialogues)
    print(f"7,200 programmatic dialogues in {elapsed:.1f} s")  # a figure, not a threshold
    # The metrics, against a straightforward count: per persona, then the mean per sector.
    summary = summarize(dialogues, group_by=("sector",))
    by_persona: dict[str, list[Dialogue]] = {}
    for d in dialogues:
        by_persona.setdefault(d.metadata["persona_id"], []).append(d)
    assert set(map(len, by_persona.values())) == {15} and len(by_persona) == 480
    rates = {p: sum(d.outcome in ("accepted", "explicit_intent") for d in ds) / 15
             for p, ds in by_persona.items()}
    sector = {p: ds[0].caller.attributes["groups"]["sector"] for p, ds in by_persona.items()}
    for group in summary["groups"]["sector"]:
        mine = [r for p, r in rates.items() if sector[p] == group["value"]]
        assert len(mine) == 80 == group["n_personas"]
        assert group["success_rate"] == pytest.approx(sum(mine) / 80)
        turns = [sum(d.metadata["utterances"] for d in by_persona[p]) / 15
                 for p in rates if sector[p] == group["value"]]
        assert group["avg_turns"] == pytest.approx(sum(turns) / 80)
    assert summary["overall"]["success_rate"] == pytest.approx(result.successes / 7200)
    with DialogueLog(tmp_path / "d.jsonl") as log:  # a rerun has nothing left to do
        again = await run_batch(GRID, personas, log, local_runner(kit, 1))
    assert (again.done, again.skipped) == (0, 7200)


def test_unknown_batch_key_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('name = "x"\nworkerz = 2\n[user]\nkind = "programmatic"\n')
    with pytest.raises(ConfigError, match=r"workerz: unknown key"):
        load_batch_config(path)
    path.write_text('name = "x"\nmode = "video"\n')
    with pytest.raises(ConfigError, match=r"mode: Input should be"):
        load_batch_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_batch_config(tmp_path / "missing.toml")


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


_PER_PERSONA = 5
_TOTAL = 480 * _PER_PERSONA  # the persona grid times dialogues per persona
_KILL_AT = 250  # dialogues on disk when the batch is killed


def _write_config(path: Path, output: Path) -> None:
    path.write_text(
        f'name = "kill"\ndialogues_per_persona = {_PER_PERSONA}\nworkers = 2\n'
        f'output = "{output}"\n'
        '[personas]\ngrid = true\n[user]\nkind = "programmatic"\n[agent]\nkind = "rule"\n')


def _simulate(config: Path, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SALESVOICE_DATA_DIR": str(data)}
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "simulate", "run", "--batch", str(config),
         "--no-report"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_sigkilled_batch_resumes_without_losing_or_duplicating_dialogues(tmp_path: Path) -> None:
    killed_store, clean_store = tmp_path / "k" / "d.jsonl", tmp_path / "c" / "d.jsonl"
    _write_config(tmp_path / "killed.toml", killed_store)
    _write_config(tmp_path / "clean.toml", clean_store)
    proc = _simulate(tmp_path / "killed.toml", tmp_path)
    deadline = time.monotonic() + 120
    while _lines(killed_store) < _KILL_AT and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the batch ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _lines(killed_store)
    assert _KILL_AT <= before < _TOTAL

    rerun = _simulate(tmp_path / "killed.toml", tmp_path)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out.decode()
    assert b"already in" in out
    clean = _simulate(tmp_path / "clean.toml", tmp_path)
    clean.communicate(timeout=300)

    resumed = {d.id: d for d in DialogueLog(killed_store).read()}
    reference = {d.id: d for d in DialogueLog(clean_store).read()}
    lines = killed_store.read_text().splitlines()
    assert len(lines) == len(resumed) == len(reference) == _TOTAL  # none lost, none twice
    # The environment is deterministic: every resumed dialogue is the uninterrupted one.
    assert all(
        resumed[i].outcome == reference[i].outcome and
        [t.text for t in resumed[i].turns] == [t.text for t in reference[i].turns]
        for i in reference)
    batch = json.loads((killed_store.parent / "batch.json").read_text())
    assert batch["skipped"] >= before - 1 and batch["done"] + batch["skipped"] == _TOTAL
