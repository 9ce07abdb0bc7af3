"""``salesvoice evaluate ...``: paired held-out comparison of agent configurations.
Parse, delegate."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console

from models.errors import SalesvoiceError
from server.cli_common import command, group, load_settings, write_result


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from simulator.evaluate_report import verdict
    from simulator.evaluate_run import load_evaluate_config, run_evaluation

    config = load_evaluate_config(args.run_config)
    ev = asyncio.run(run_evaluation(config, load_settings(args), console))
    for arm in ev.arms[1:]:
        console.print(verdict(ev, arm.arm), highlight=False)
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from simulator.evaluate import evaluate
    from simulator.evaluate_report import verdict, write_evaluation
    from simulator.evaluate_run import role_slip_check
    from simulator.store import read_dialogues

    for path in args.dialogues:
        if not path.is_file():
            raise SalesvoiceError(f"no dialogue file at {path}")
    dialogues = read_dialogues(*args.dialogues)
    try:
        ev = evaluate(dialogues, baseline=args.baseline, source=args.outcome,
                      role_slip=role_slip_check(), n_boot=args.bootstrap)
    except ValueError as exc:
        raise SalesvoiceError(str(exc)) from None
    md, _, data = write_evaluation(ev, args.out, title=args.title or args.dialogues[0].stem)
    for arm in ev.arms[1:]:
        console.print(verdict(ev, arm.arm), highlight=False)
    console.print(f"report: {md} ({data.name} for scripts)")
    return 0


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    from simulator.evaluate import detectable_difference, recommended_personas

    if not 0 <= args.baseline_rate <= 1 or not 0 < args.difference < 1:
        raise SalesvoiceError("--baseline-rate must be in [0, 1] and --difference in (0, 1)")
    n = recommended_personas(args.baseline_rate, args.difference, power=args.power)
    console.print(
        f"{n} personas (each meeting every arm) detect a success difference of "
        f"{100 * args.difference:g} points from {100 * args.baseline_rate:g} % with "
        f"{100 * args.power:g} % power (two-sided 5 %).", highlight=False)
    if args.discordant:
        from agent.stats import sample_size_paired

        only_a, only_b = args.discordant
        pairs = sample_size_paired(only_a, only_b, power=args.power)
        console.print(
            f"From a pilot's discordant shares ({100 * only_a:g} % of personas won only "
            f"with the baseline, {100 * only_b:g} % only with the other arm): {pairs} "
            "personas for McNemar's test (Connor 1987).", highlight=False)
    if args.personas:
        d = detectable_difference(args.baseline_rate, args.personas, power=args.power)
        what = "no difference" if d is None else f"about {100 * d:.1f} points"
        console.print(f"{args.personas} personas detect {what}.", highlight=False)
    return 0


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import Progress

    from simulator.evaluate_bench import run_bench

    def tick(name: str, k: int) -> None:
        bar.update(tasks[name], completed=k)
        if not console.is_terminal and (k % 20 == 0 or k == args.replicates):
            console.print(f"{name}: {k}/{args.replicates} replicates", highlight=False)

    with Progress(console=console, transient=True) as bar:
        tasks = {name: bar.add_task(name, total=args.replicates) for name in ("power", "null")}
        result = asyncio.run(run_bench(
            replicates=args.replicates, truth_personas=args.truth_personas,
            pilot_personas=args.pilot_personas, difference=args.difference, reader=args.reader,
            tick=tick))
    console.print_json(data=result)
    return write_result(result, args.out, console)


def add_parsers(sub: Any, bench: Any) -> None:
    ev = group(sub, "evaluate", "paired held-out comparison of agent configurations")
    run = command(ev, "run", cmd_run,
                  "run every arm on the same held-out personas, then compare (resumable)",
                  "salesvoice evaluate run --config examples/evaluate-programmatic.toml "
                  "(report in data/evaluations/<name>/report/)")
    run.add_argument("--config", dest="run_config", type=Path, required=True,
                     help="evaluation TOML (see docs/evaluate.md)")
    rep = command(ev, "report", cmd_report, "compare the arms of stored dialogues",
                  "salesvoice evaluate report data/evaluations/demo/dialogues.jsonl "
                  "--baseline default --out report/")
    rep.add_argument("dialogues", type=Path, nargs="+", help="JSON-lines dialogue files")
    rep.add_argument("--out", type=Path, required=True)
    rep.add_argument("--baseline", required=True, help="the arm the others are compared with")
    rep.add_argument("--outcome", choices=("detected", "truth"), default="detected")
    rep.add_argument("--bootstrap", type=int, default=2000)
    rep.add_argument("--title", default=None)
    plan = command(ev, "plan", cmd_plan, "how many personas a comparison needs",
                   "salesvoice evaluate plan --baseline-rate 0.4 --difference 0.1")
    plan.add_argument("--baseline-rate", type=float, required=True,
                      help="the baseline arm's success rate (from a pilot run)")
    plan.add_argument("--difference", type=float, default=0.1)
    plan.add_argument("--power", type=float, default=0.8)
    plan.add_argument("--discordant", type=float, nargs=2, default=None,
                      metavar=("ONLY_BASELINE", "ONLY_OTHER"),
                      help="from a pilot: shares of personas who succeeded only with the "
                      "baseline / only with the other arm (sizes the paired test itself)")
    plan.add_argument("--personas", type=int, default=None,
                      help="also: the difference this many personas detect")
    b = command(bench, "evaluate", cmd_bench,
                "planted worlds: does evaluate detect a planted difference with the power "
                "it promises, and see none between identical arms?",
                "salesvoice bench evaluate --replicates 200 --out bench-evaluate.json")
    b.add_argument("--replicates", type=int, default=200)
    b.add_argument("--truth-personas", type=int, default=10000,
                   help="fresh personas that measure the planted difference itself")
    b.add_argument("--pilot-personas", type=int, default=4000,
                   help="personas that choose the sectors planting the difference")
    b.add_argument("--reader", choices=("head", "lexicon"), default="head",
                   help="how the rule agent reads callers: the live agent's learned head, "
                   "or phrase lists")
    b.add_argument("--difference", type=float, default=0.1,
                   help="the difference the sample size is planned for")
    b.add_argument("--out", type=Path, default=Path("bench-evaluate.json"))
