"""``salesvoice optimize``: Algorithm 1 with a progress display and a final report, and
``salesvoice optimize analyze`` for any stored dialogues (live call exports included)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from agent.program import load_program
from models.llm.base import LLM
from optimizer.attitude import load_attitudes
from optimizer.lineage import OptimizeResult
from optimizer.loop import OptimizeConfig, optimize
from optimizer.report import analyze, write_files, write_optimize_report
from simulator.batch import SimSettings
from simulator.report import ReportPaths, pct_ci
from simulator.store import read_dialogues


class AppSettings(SimSettings, Protocol):
    data_dir: Path


@contextmanager
def _progress(console: Console) -> Iterator[tuple[Progress, TaskID]]:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                  console=console) as bar:
        yield bar, bar.add_task("starting", total=None, status="")


async def run_optimize(config: OptimizeConfig, settings: AppSettings,
                       console: Console) -> tuple[OptimizeResult, ReportPaths]:
    with _progress(console) as (bar, task):
        last = [0.0]

        def status(message: str) -> None:
            console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)
            bar.update(task, description=message.split(":")[0], completed=0, total=None)

        def tick(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] > 0.2 or done == total:
                last[0] = now
                bar.update(task, completed=done, total=total)

        result = await optimize(config, settings, settings.data_dir, status=status, tick=tick)
        status(f"report: writing into {result.run_dir / 'report'}")
        # The report's analyses reuse the loop's labels and scores; strategies need the LLM,
        # which the loop has closed: the report classifies them only when asked separately.
        paths = await write_optimize_report(result, load_attitudes(config.summary.attitudes),
                                            first=load_program(config.program), llm=None)
    for m in result.lineage:
        mark = " (chosen)" if m is result.chosen else ""
        console.print(f"  {m.iteration}: {m.version} ({m.created_by}){mark} success on the "
                      f"selection personas {pct_ci(m.select)} over {m.select_n} dialogues",
                      highlight=False)
    gain = result.gain
    shown = ("— (the start is handed back)" if gain is None else
             f"{100 * gain.value:+.1f} points ({100 * gain.low:+.1f} to {100 * gain.high:+.1f}, "
             f"{gain.n} paired personas)")
    console.print(f"stopped: {result.stopped}; chosen {result.chosen.version}; gain on the "
                  f"report personas {shown}; lineage {result.run_dir / 'lineage.jsonl'}",
                  highlight=False)
    console.print(f"report: {paths.markdown} ({paths.html.name})", highlight=False)
    return result, paths


async def run_analyze(files: list[Path], out_dir: Path, llm: LLM | None, console: Console, *,
                      title: str, group_by: str, baseline: str | None, attitudes: str,
                      coa: bool, judge: bool, strategies: bool) -> ReportPaths:
    dialogues = read_dialogues(*files)
    with _progress(console) as (bar, task):
        def tick(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        analysis = await analyze(dialogues, out_dir, llm=llm, space=load_attitudes(attitudes),
                                 group_by=group_by, baseline=baseline, coa=coa, judge=judge,
                                 strategies=strategies, tick=tick)
    paths = write_files(out_dir, title, analysis.data, analysis.sections, analysis.plots)
    console.print(f"report: {paths.markdown} ({paths.html.name}, {len(dialogues)} dialogues)",
                  highlight=False)
    return paths
