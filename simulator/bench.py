"""``salesvoice bench simulate``: how many simulated dialogues an hour this machine runs.

Settings measured: the programmatic environment (RuleAgent x ProgrammaticUser, no
models), and the embedded stack — the product agent (SalesAgent on the embedded LLM)
talking to an LLM user with the MADS prompt — in text mode and in audio mode (user voice
espeak-ng, agent voice piper, whisper both ways, telephone line), each with 1 and 2
workers. Prints a table and returns the numbers; asserts nothing.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from simulator.batch import (
    AgentSettings,
    BatchConfig,
    PersonaSet,
    SimSettings,
    Toolkit,
    UserSettings,
    local_runner,
    personas_for,
    run_batch,
)
from simulator.store import DialogueLog


async def _measure(config: BatchConfig, settings: SimSettings, console: Console) -> dict[str, Any]:
    t0 = time.monotonic()
    kit = await Toolkit.build(config, settings)
    load_s = time.monotonic() - t0
    try:
        personas = await personas_for(config, kit.llm)
        with tempfile.TemporaryDirectory() as tmp, DialogueLog(Path(tmp) / "d.jsonl") as log:
            result = await run_batch(config, personas, log, local_runner(kit, config.workers))
            dialogues = list(log.read())
    finally:
        await kit.aclose()
    utterances = [d.metadata.get("utterances", 0) for d in dialogues]
    wers = [c["wer"] for d in dialogues for c in d.metadata.get("channel", []) if "wer" in c]
    row = {
        "mode": config.mode, "user": config.user.kind, "agent": config.agent.kind,
        "workers": config.workers, "dialogues": result.done, "failed": result.failed,
        "load_s": round(load_s, 2), "elapsed_s": round(result.elapsed_s, 2),
        "dialogues_per_hour": round(result.per_hour, 1),
        "per_worker_per_hour": round(result.per_hour / config.workers, 1),
        "mean_utterances": round(statistics.mean(utterances), 2) if utterances else None,
        "s_per_utterance": round(result.elapsed_s * config.workers / sum(utterances), 3)
        if utterances and sum(utterances) else None,
        "asr_wer_mean": round(statistics.mean(wers), 4) if wers else None,
        "errors": result.errors[:3],
    }
    console.print(f"[dim]{config.name}: {row['dialogues']} dialogues in "
                  f"{row['elapsed_s']} s[/]")
    return row


async def run_simulate_bench(settings: SimSettings, console: Console, *, dialogues: int = 4,
                             modes: tuple[str, ...] = ("text", "audio"),
                             max_utterances: int = 10) -> dict[str, Any]:
    rows = []
    fast = BatchConfig(
        name="bench-programmatic", mode="text", dialogues_per_persona=15, workers=1,
        personas=PersonaSet(grid=True), user=UserSettings(kind="programmatic"),
        agent=AgentSettings(kind="rule"))
    rows.append(await _measure(fast, settings, console))
    for mode in modes:
        for workers in (1, 2):
            config = BatchConfig(
                name=f"bench-{mode}-w{workers}", mode=mode,
                dialogues_per_persona=1, workers=workers, max_utterances=max_utterances,
                personas=PersonaSet(count=dialogues, seed=7),
                user=UserSettings(kind="mads"), agent=AgentSettings(kind="llm"))
            with console.status(f"{config.name}: {dialogues} dialogues..."):
                rows.append(await _measure(config, settings, console))
    table = Table(title="simulated dialogues per hour (this machine)")
    cols = ("mode", "user", "agent", "workers", "dialogues", "failed", "dialogues_per_hour",
            "per_worker_per_hour", "mean_utterances", "s_per_utterance", "asr_wer_mean",
            "load_s")
    for col in cols:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in cols))
    console.print(table)
    return {"max_utterances": max_utterances, "rows": rows}
