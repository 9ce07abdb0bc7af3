"""``salesvoice thought train|eval``: the learned thought head. Parse, delegate."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from models.errors import SalesvoiceError
from server.cli_common import command, group, load_settings, write_result

EVAL_FILE = Path(__file__).parents[1] / "tests" / "data" / "thought_eval.jsonl"


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from agent.thought_head import DEFAULT
    from models.embed import load_embedder
    from optimizer.thought_head import TRAIN_FILES, train_thought_head

    files = args.data or list(TRAIN_FILES)
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise SalesvoiceError(f"labelled file(s) not found: {', '.join(missing)}")
    out = args.out or DEFAULT
    with console.status(f"embedding {len(files)} file(s), choosing L2 by 5-fold CV..."):
        head, report = train_thought_head(load_embedder(), files)
    head.save(out)
    console.print_json(json.dumps(report))
    console.print(f"wrote {out} (sha256 {head.meta.get('sha256', '')[:12]})")
    return 0


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from agent.thought_head import DEFAULT, load_thought_head
    from optimizer.thought_head import evaluate, read_turns

    if not args.file.is_file():
        raise SalesvoiceError(f"labelled file not found: {args.file}")
    try:
        rows = read_turns(args.file)
    except ValueError as exc:
        raise SalesvoiceError(str(exc)) from None
    result = evaluate(load_thought_head(args.head or DEFAULT), rows)
    table = Table(title=f"thought head on {len(rows)} held-out turns ({args.file.name})")
    for col in ("field", "right", "accuracy", "95% CI"):
        table.add_column(col)
    for name, r in result["fields"].items():
        lo, hi = r["ci95"]
        table.add_row(name, f"{r['right']}/{r['of']}", f"{r['accuracy']:.1%}",
                      f"{lo:.0%} to {hi:.0%}")
    console.print(table)
    return write_result(result, args.out, console)


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from agent.domain import load_domain
    from agent.program import load_program
    from agent.thought_head import DEFAULT, load_thought_head
    from optimizer.thought_bench import compare, planted_turns, print_comparison
    from optimizer.thought_head import read_turns
    from simulator.persona import PersonaSampler, load_spec
    from simulator.users import load_world

    if not args.file.is_file():
        raise SalesvoiceError(f"labelled file not found: {args.file}")
    program = load_program()
    domain = load_domain(program.domain)
    personas = PersonaSampler(load_spec(), seed=args.seed).sample(args.personas)
    sets = {args.file.name: read_turns(args.file),
            "planted truth": planted_turns(personas, load_world(), domain, seed=args.seed)}
    head = load_thought_head(args.head or DEFAULT)
    llm_fields: dict[str, list[list[str] | None] | None] = dict.fromkeys(sets)
    if args.llm:
        llm_fields = asyncio.run(_llm_fields(args, console, program, sets))
    result = {}
    for name, rows in sets.items():
        result[name] = compare(head, rows, llm_fields[name])
        print_comparison(console, name, result[name])
    return write_result(result, args.out, console)


async def _llm_fields(args: argparse.Namespace, console: Console, program: Any,
                      sets: dict[str, list[dict[str, str]]]
                      ) -> dict[str, list[list[str] | None] | None]:
    from rich.progress import Progress

    from models.registry import build_llm
    from optimizer.thought_bench import llm_thoughts

    settings = load_settings(args)
    llm = build_llm(settings.llm, settings.cache_dir)
    out: dict[str, list[list[str] | None] | None] = {}
    try:
        with Progress(console=console) as progress:
            for name, rows in sets.items():
                task = progress.add_task(f"LLM thought on {name}", total=len(rows))

                def advance(n: int, task: Any = task) -> None:
                    progress.update(task, completed=n)

                out[name] = await llm_thoughts(llm, program, rows, advance)
    finally:
        await llm.aclose()
    return out


def add_parsers(sub: Any, bench: Any) -> None:
    thought = group(sub, "thought", "the learned thought head (the live default)")
    train = command(thought, "train", cmd_train,
                    "train the thought head on labelled turns (5-fold CV report)",
                    "salesvoice thought train")
    train.add_argument("--data", type=Path, nargs="*",
                       help="labelled JSONL turns (default: agent/data/thought_train.jsonl)")
    train.add_argument("--out", type=Path, default=None,
                       help="head JSON (default: the packaged agent/heads/thought.json)")
    ev = command(thought, "eval", cmd_eval, "accuracy per field on held-out labelled turns",
                 "salesvoice thought eval tests/data/thought_eval.jsonl")
    ev.add_argument("file", type=Path, nargs="?", default=EVAL_FILE)
    ev.add_argument("--head", type=Path, default=None, help="head JSON (default: packaged)")
    ev.add_argument("--out", type=Path, default=Path("bench/results/thought.json"))
    b = command(bench, "thought", cmd_bench,
                "learned thought head vs the LLM's thought, paired, on held-out and "
                "planted-truth turns",
                "salesvoice bench thought --llm --personas 40")
    b.add_argument("file", type=Path, nargs="?", default=EVAL_FILE)
    b.add_argument("--llm", action="store_true",
                   help="also run the configured LLM's thought on every turn (slow)")
    b.add_argument("--personas", type=int, default=40,
                   help="programmatic users with planted truth")
    b.add_argument("--seed", type=int, default=7)
    b.add_argument("--head", type=Path, default=None, help="head JSON (default: packaged)")
    b.add_argument("--out", type=Path, default=Path("bench/results/thought_bench.json"))
