"""``salesvoice ab ...``: live A/B experiments of conversion (create, status, weights,
report, stop) and the same experiment on simulated callers first (simulate). Parse,
delegate: experiments and assignment are ``server/experiments.py``, their records
``server/store_ab.py``, the statistics ``agent/ab_analysis.py``, the report
``server/ab_report.py``, the offline run ``server/ab_simulate.py``."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.table import Table

from models.errors import SalesvoiceError
from server.cli_common import command, group, load_settings, open_store

if TYPE_CHECKING:
    from server.store_ab import ExperimentRecord, ExperimentStore

T = TypeVar("T")


def _with_experiments(args: argparse.Namespace,
                      work: Callable[[ExperimentStore], Awaitable[T]]) -> T:
    """Run ``work`` on the configured call database's experiments."""
    from server.store_ab import ExperimentStore

    async def run() -> T:
        async with open_store(args) as store:
            return await work(ExperimentStore(store))

    return asyncio.run(run())


async def _record(experiments: ExperimentStore, name: str) -> ExperimentRecord:
    from server.store_ab import UnknownExperimentError

    record = await experiments.get(name)
    if record is None:
        raise UnknownExperimentError(name)
    return record


def _weights(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{arm}={w:g}" for arm, w in weights.items())


# -- commands --------------------------------------------------------------------------------
def cmd_create(args: argparse.Namespace, console: Console) -> int:
    from agent.program import load_program_set
    from server.experiments import load_experiment

    exp = load_experiment(args.exp_config)
    for arm in exp.arms:  # a missing program fails here, not on the first live call
        try:
            load_program_set(arm.program)
        except SalesvoiceError as exc:
            raise SalesvoiceError(f"arm {arm.name!r}: {exc}") from None

    async def create(experiments: ExperimentStore) -> dict[str, Any]:
        await experiments.create(exp)
        return (await experiments.analysis(exp.name)).to_json()

    a = _with_experiments(args, create)
    plan, comparisons = a["plan"], len(a["comparisons"])
    console.print(f"experiment {exp.name} is running: new callers get one of its arms "
                  f"({_weights(exp.weights)}; control {exp.control}).", highlight=False)
    console.print(
        f"plan: {plan['units_per_arm']} callers per arm to detect "
        f"{100 * plan['mde']:+.1f} points from {100 * plan['baseline']:.1f} % conversion with "
        f"{100 * plan['power']:.0f} % power at alpha {plan['alpha']:g} (two-sided"
        + (f", Bonferroni over {comparisons} comparisons" if comparisons > 1 else "")
        + f"); about {plan['units_per_arm'] * len(a['arms'])} callers in all at equal weights.",
        highlight=False)
    console.print(f"follow it: salesvoice ab status {exp.name}; salesvoice ab report "
                  f"{exp.name}", highlight=False)
    return 0


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    async def status(experiments: ExperimentStore) -> list[dict[str, Any]]:
        names = [args.name] if args.name else [r.name for r in await experiments.list()]
        return [(await experiments.analysis(name)).to_json() for name in names]

    analyses = _with_experiments(args, status)
    if not analyses:
        console.print("no experiments yet (salesvoice ab create --config exp.toml)")
        return 0
    table = Table(title="experiments (newest first)")
    for col in ("experiment", "status", "arms (weight)", "callers so far", "progress",
                "verdict"):
        table.add_column(col)
    for a in analyses:
        arms = a["arms"]
        table.add_row(a["experiment"], a["status"],
                      ", ".join(f"{x['arm']} ({x['weight']:g})" for x in arms),
                      " / ".join(str(x["units"]) for x in arms),
                      f"{100 * a['plan']['progress']:.0f} % of {a['plan']['units_per_arm']}",
                      a["verdict"])
    console.print(table)
    return 0


def parse_weights(items: Sequence[str]) -> dict[str, float]:
    """``["A=1", "B=3"]`` → {"A": 1.0, "B": 3.0}; SalesvoiceError naming a bad item."""
    weights: dict[str, float] = {}
    for item in items:
        arm, sep, value = item.partition("=")
        try:
            number = float(value) if sep and arm else math.nan
        except ValueError:
            number = math.nan
        if math.isnan(number):
            raise SalesvoiceError(f"weight {item!r}: write ARM=NUMBER, e.g. A=1 B=3")
        if arm in weights:
            raise SalesvoiceError(f"arm {arm!r} is given two weights")
        weights[arm] = number
    return weights


def cmd_weights(args: argparse.Namespace, console: Console) -> int:
    from server.experiments import assign_arm, moved_share

    asked = parse_weights(args.weights)

    async def change(experiments: ExperimentStore) -> tuple[dict[str, float],
                                                           dict[str, float], int, int, int]:
        before = await _record(experiments, args.name)
        epoch = await experiments.set_weights(args.name, asked)
        after = await _record(experiments, args.name)
        units = (await experiments.units(args.name)).units
        known = [u for u in units if u.key.startswith("caller:")]
        moving = sum(assign_arm(args.name, after.weights, u.key) != u.arm for u in known)
        return before.weights, after.weights, epoch, len(known), moving

    old, new, epoch, known, moving = _with_experiments(args, change)
    console.print(f"experiment {args.name}: weights {_weights(new)} from now on (weight "
                  f"setting {epoch}; was {_weights(old)}).", highlight=False)
    console.print(
        f"In expectation {100 * moved_share(old, new):.1f} % of callers get another arm "
        f"than before; of the {known} returning callers seen so far, {moving} would, and "
        "their later calls are crossovers, left out of the analysis.", highlight=False)
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from server.ab_report import Format, to_markdown, write_report

    async def report(experiments: ExperimentStore) -> dict[str, Any]:
        return (await experiments.analysis(args.name,
                                          include_forced=args.include_forced)).to_json()

    a = _with_experiments(args, report)
    fmt: Format = "json" if args.json else args.format
    if args.out is None and fmt in ("json", "md"):  # scripts and terminals read stdout
        console.out(json.dumps(a, indent=2) if fmt == "json" else to_markdown(a),
                    highlight=False)
        return 0
    out = args.out or load_settings(args).data_dir / "experiments" / args.name / f"report.{fmt}"
    written = write_report(a, fmt, out)
    console.print(a["verdict"] if a["verdict"] != "not enough data yet"
                  else "not enough data yet", highlight=False)
    console.print("wrote " + ", ".join(map(str, written)), highlight=False)
    return 0


def cmd_stop(args: argparse.Namespace, console: Console) -> int:
    async def stop(experiments: ExperimentStore) -> dict[str, Any]:
        await experiments.stop(args.name)
        return (await experiments.analysis(args.name)).to_json()

    a = _with_experiments(args, stop)
    console.print(f"experiment {args.name} is stopped: new calls get no arm from it "
                  f"({' / '.join(str(x['units']) for x in a['arms'])} callers; "
                  f"{a['verdict']}). Report: salesvoice ab report {args.name}",
                  highlight=False)
    return 0


def cmd_simulate(args: argparse.Namespace, console: Console) -> int:
    from server.ab_simulate import describe, simulate_experiment
    from server.experiments import load_experiment

    exp = load_experiment(args.exp_config)
    effects = asyncio.run(simulate_experiment(
        exp, load_settings(args), console, personas=args.personas, seed=args.seed,
        agent=args.agent, out=args.out))
    for line in describe(exp, effects):
        console.print(line, highlight=False)
    return 0


def add_parsers(sub: Any) -> None:
    ab = group(sub, "ab", "live A/B experiments of conversion (docs/ab-testing.md)")
    create = command(ab, "create", cmd_create,
                     "start an experiment from a TOML file and print its sample-size plan",
                     "salesvoice ab create --config examples/experiment.toml")
    create.add_argument("--config", dest="exp_config", type=Path, required=True,
                        help="experiment TOML (see examples/experiment.toml); the settings "
                        "file goes before 'ab' (salesvoice --config s.toml ab create ...)")
    status = command(ab, "status", cmd_status,
                     "experiments with their arms, weights, callers so far and progress",
                     "salesvoice ab status greeting-test")
    status.add_argument("name", nargs="?", default=None, help="one experiment (default: all)")
    weights = command(ab, "weights", cmd_weights,
                      "change the arms' weights (a new weight setting; arms not named keep "
                      "theirs); says how many callers change arm",
                      "salesvoice ab weights greeting-test control=1 warm=3")
    weights.add_argument("name")
    weights.add_argument("weights", nargs="+", metavar="ARM=WEIGHT")
    report = command(ab, "report", cmd_report,
                     "the experiment's verdict, per-arm conversion with intervals, "
                     "comparisons, guardrails, sample-ratio check (md, html, png or json)",
                     "salesvoice ab report greeting-test --format html --out report.html")
    report.add_argument("name")
    report.add_argument("--format", choices=("md", "html", "png", "json"), default="md",
                        help="md and json go to stdout without --out; html and png to "
                        "<data_dir>/experiments/NAME/report.EXT")
    report.add_argument("--out", type=Path, default=None)
    report.add_argument("--json", action="store_true", help="same as --format json")
    report.add_argument("--include-forced", action="store_true",
                        help="count calls whose arm the client forced (QA); left out by default")
    stop = command(ab, "stop", cmd_stop, "stop assigning callers; the records stay",
                   "salesvoice ab stop greeting-test")
    stop.add_argument("name")
    sim = command(ab, "simulate", cmd_simulate,
                  "run the experiment's arms on simulated callers first (salesvoice "
                  "evaluate's paired design): expected effect and the live sample size it needs",
                  "salesvoice ab simulate --config examples/experiment.toml --personas 400 "
                  "--agent rule")
    sim.add_argument("--config", dest="exp_config", type=Path, required=True,
                     help="experiment TOML")
    sim.add_argument("--personas", type=int, default=400,
                     help="simulated callers, each meeting every arm")
    sim.add_argument("--seed", type=int, default=9001,
                     help="persona seed (9001: shared with no training or selection set)")
    sim.add_argument("--agent", choices=("llm", "rule"), default="llm",
                     help="llm: the product agent on the arms' models; rule: the scripted "
                     "agent (seconds, no model; arms' llm settings do not apply)")
    sim.add_argument("--out", type=Path, default=None,
                     help="run folder (default <data_dir>/evaluations/ab-NAME/); rerun to "
                     "resume")
