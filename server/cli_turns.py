"""``salesvoice turns ...`` and ``salesvoice bench turns``: the turn-completion head.
Parse, delegate."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from server.cli_common import command, group, load_settings, write_result


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from optimizer.turn_head import train_and_save
    from voice.endpoint import DEFAULT

    with console.status("training the turn-completion head..."):
        report = train_and_save(args.out or DEFAULT, seed=args.seed)
    console.print_json(data=report)
    return 0


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from optimizer.turn_head import evaluate_head
    from voice.endpoint import DEFAULT

    result = evaluate_head(args.head or DEFAULT, seed=args.seed)
    console.print_json(data={k: v for k, v in result.items() if k != "confident_mistakes"})
    return write_result(result, args.out, console)


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    settings = load_settings(args)
    start = time.monotonic()
    result = asyncio.run(_bench(args, settings, console))
    result["wall_s"] = round(time.monotonic() - start, 1)
    return write_result(result, args.out, console)


async def _bench(args: argparse.Namespace, settings: Any, console: Console) -> dict[str, Any]:
    from models import registry
    from optimizer.turn_head import EVAL_SOURCE, read_lines
    from voice.bench_turns import run_turns_bench, standard_rules, synthesized_clips

    extra = []
    if args.sales_lines:
        # Held-out caller lines (the head never trained on them), in the caller's voice.
        tts = registry.build_tts(settings.tts.model_copy(update={"backend": args.user_voice}),
                                 settings.cache_dir)
        try:
            extra = await synthesized_clips(tts, read_lines([EVAL_SOURCE])[: args.sales_lines])
        finally:
            await tts.aclose()
    return await run_turns_bench(
        settings, console, rules=standard_rules(settings, args.head),
        pauses=[float(p) for p in args.pauses.split(",")], asr_delay_s=args.asr_delay,
        limit=args.clips, extra=extra)


def add_parsers(sub: Any, bench: Any) -> None:
    turns = group(sub, "turns", "the turn-completion head ([voice] turn_head)")
    train = command(turns, "train", cmd_train,
                    "train the head on the packaged caller lines and their prefixes",
                    "salesvoice turns train")
    train.add_argument("--out", type=Path, default=None,
                       help="head JSON (default: the packaged voice/heads/turn.json)")
    train.add_argument("--seed", type=int, default=0)
    ev = command(turns, "eval", cmd_eval,
                 "the head on held-out caller lines (an independent author's) and prefixes",
                 "salesvoice turns eval")
    ev.add_argument("--head", type=Path, default=None, help="head JSON (default: packaged)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--out", type=Path, default=Path("bench/results/turn_head_eval.json"))
    b = command(bench, "turns", cmd_bench,
                "false cut-ins and turn-end delay on real speech with pauses spliced in, "
                "punctuation rule vs the head",
                "salesvoice bench turns --pauses 0.5,0.7,0.9")
    b.add_argument("--pauses", default="0.5,0.7,0.9",
                   help="spliced silences in seconds, comma-separated")
    b.add_argument("--asr-delay", type=float, default=0.4,
                   help="simulated seconds from a pause to its partial transcript")
    b.add_argument("--head", type=Path, default=None, help="head JSON (default: packaged)")
    b.add_argument("--clips", type=int, default=None,
                   help="only the first N recorded clips")
    b.add_argument("--sales-lines", type=int, default=12,
                   help="also N held-out caller lines of sales calls, synthesized (0: none)")
    b.add_argument("--user-voice", choices=("espeak-ng", "flite"), default="espeak-ng",
                   help="the voice of the synthesized caller lines")
    b.add_argument("--out", type=Path, default=Path("bench/results/turns.json"))
