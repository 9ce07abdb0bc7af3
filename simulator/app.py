"""``salesvoice simulate``: run a batch with a progress bar, then write its report."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from simulator.batch import (
    BatchConfig,
    BatchResult,
    SimSettings,
    Toolkit,
    local_runner,
    personas_for,
    run_batch,
)
from simulator.store import DialogueLog, read_dialogues


class AppSettings(SimSettings, Protocol):
    data_dir: Path


@contextmanager
def progress_bar(console: Console, total: int) -> Iterator[Any]:
    with Progress(
        TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
        console=console, transient=False,
    ) as bar:
        task = bar.add_task("batch", total=total, status="")

        last = [0.0]

        def update(r: BatchResult) -> None:
            now = time.monotonic()
            if now - last[0] < 0.2 and r.skipped + r.done + r.failed < total:
                return  # redrawing per dialogue would cost more than the dialogue
            last[0] = now
            rate = r.successes / r.done if r.done else 0.0
            bar.update(task, completed=r.skipped + r.done + r.failed,
                       status=f"success {rate:.0%} · {r.per_hour:.0f}/h · failed {r.failed}")

        yield update


async def simulate(
    config: BatchConfig,
    settings: AppSettings,
    console: Console,
    *,
    ray_address: str | None = None,
    report: bool = True,
) -> BatchResult:
    """Run (or resume) the batch; returns what happened. The store and report live in
    ``<data_dir>/simulations/<name>/`` unless the config says otherwise."""
    store = config.store_path(settings.data_dir)
    with console.status("loading models..."):
        kit = await Toolkit.build(config, settings) if ray_address is None else None
    try:
        personas = await personas_for(config, kit.llm if kit else None)
        with DialogueLog(store) as log:
            if ray_address is not None:
                from simulator.cluster import ray_runner

                runner = ray_runner(ray_address, config, settings)
            else:
                assert kit is not None
                runner = local_runner(kit, config.workers)
            total = len(personas) * len(config.agent.programs) * len(config.seeds) * (
                config.dialogues_per_persona)
            with progress_bar(console, total) as update:
                result = await run_batch(config, personas, log, runner, progress=update)
    finally:
        if kit is not None:
            await kit.aclose()
    console.print(
        f"{result.done} dialogues run, {result.skipped} already in {store}, "
        f"{result.failed} failed; {result.per_hour:.0f} dialogues/hour with "
        f"{config.workers} worker(s)")
    for err in result.errors[:10]:
        console.print(f"[red]failed:[/] {err}", highlight=False)
    summary = {"config": config.model_dump(mode="json"), "store": str(store),
               "planned": result.planned, "skipped": result.skipped, "done": result.done,
               "failed": result.failed, "elapsed_s": round(result.elapsed_s, 2),
               "dialogues_per_hour": round(result.per_hour, 1),
               "per_worker": result.per_worker, "errors": result.errors}
    (store.parent / "batch.json").write_text(json.dumps(summary, indent=2))
    if report:
        write_batch_report([store], store.parent / "report", config.name, console,
                           extra={"throughput (this run)": {
                               "dialogues": result.done,
                               "dialogues per hour": round(result.per_hour, 1),
                               "workers": config.workers, "mode": config.mode}})
    return result


def write_batch_report(stores: list[Path], out_dir: Path, title: str, console: Console,
                       extra: dict[str, Any] | None = None) -> Path:
    from simulator.report import write_report

    dialogues = read_dialogues(*stores)
    paths = write_report(dialogues, out_dir, title=title, extra=extra)
    console.print(f"report: {paths.markdown} ({paths.html.name}, {len(dialogues)} dialogues)")
    return out_dir
