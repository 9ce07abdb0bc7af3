"""``salesvoice dataset build``: stored dialogues → SFT, KTO and DPO files. Parse, delegate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from models.errors import ConfigError, SalesvoiceError
from server.cli_common import command, group

_FLAGS = ("program", "mode", "outcome_source", "judge_scores", "min_judge_mean", "min_words",
          "max_words")
"""Recipe keys a flag may set; given flags override the ``--config`` file's."""


def cmd_build(args: argparse.Namespace, console: Console) -> int:
    from agent.domain import load_domain
    from agent.program import load_program
    from models.config import load_toml_config
    from optimizer.dataset import DatasetBuilder, DatasetConfig, load_scores
    from optimizer.dataset_card import dataset_card, write_dataset
    from simulator.store import read_dialogues

    overrides: dict[str, Any] = {k: getattr(args, k) for k in _FLAGS
                                 if getattr(args, k) is not None}
    for flag in ("compliance", "claim_head", "echo", "dedupe"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.keep_outcomes:
        overrides["keep_outcomes"] = args.keep_outcomes.split(",")
    if args.dataset_config is not None:
        config = load_toml_config(args.dataset_config, DatasetConfig, "dataset config",
                                  overrides)
    else:
        try:
            config = DatasetConfig.model_validate(overrides)
        except ValueError as exc:
            raise ConfigError(f"dataset options are invalid: {exc}") from None
    for path in args.dialogues:
        if not path.is_file():
            raise SalesvoiceError(f"no dialogue file at {path}")
    sources: dict[str, int] = {}
    dialogues = []
    for path in args.dialogues:
        got = read_dialogues(path)
        sources[str(path)] = len(got)
        dialogues += got
    program = load_program(config.program)
    builder = DatasetBuilder(config, program, load_domain(program.domain))
    with console.status(f"building from {len(dialogues)} dialogues"):
        built = builder.build(dialogues, load_scores(config.judge_scores, dialogues))
    card = write_dataset(args.out, built,
                         dataset_card(built, config, program, builder.mode, sources),
                         overwrite=args.overwrite)
    out = card["counts"]["outputs"]
    console.print(f"wrote {args.out}: {out['sft']} SFT, {out['kto']} KTO "
                  f"({out['kto_desirable']} desirable), {out['dpo']} DPO examples "
                  f"(card: {args.out / 'README.md'})", highlight=False)
    return 0


def add_parsers(sub: Any, bench: Any) -> None:
    """``bench``: unused (no dataset benchmark); kept for the common wiring."""
    ds = group(sub, "dataset", "fine-tuning datasets from stored dialogues")
    b = command(ds, "build", cmd_build,
                "SFT / KTO / DPO JSONL (TRL formats) and a card from dialogue files",
                "salesvoice dataset build data/simulations/demo/dialogues.jsonl calls.jsonl "
                "--out data/datasets/demo --min-words 3 (see docs/finetune.md)")
    b.add_argument("dialogues", type=Path, nargs="+",
                   help="JSON-lines dialogue files (batch stores, 'calls export')")
    b.add_argument("--out", type=Path, required=True, help="dataset folder (written atomically)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    b.add_argument("--config", dest="dataset_config", type=Path, default=None,
                   help="dataset recipe TOML (keys of DatasetConfig); flags override it")
    b.add_argument("--program", default=None,
                   help="program whose prompt frames the examples (default insurance-default)")
    b.add_argument("--mode", choices=("learned", "single"), default=None,
                   help="output format (default: the program's decoding mode)")
    b.add_argument("--outcome-source", choices=("detected", "truth"), default=None)
    b.add_argument("--keep-outcomes", default=None,
                   help="comma-separated outcomes that make a dialogue desirable "
                   "(default accepted,explicit_intent)")
    b.add_argument("--judge-scores", type=Path, default=None,
                   help="JSON object: dialogue id → judge scores")
    b.add_argument("--min-judge-mean", type=float, default=None)
    b.add_argument("--min-words", type=int, default=None)
    b.add_argument("--max-words", type=int, default=None)
    for flag, what in (("compliance", "drop replies the claim checker stops"),
                       ("claim-head", "the learned claim head beside the rules"),
                       ("echo", "drop replies that say back the caller's line"),
                       ("dedupe", "drop duplicate examples")):
        b.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None,
                       help=f"{what} (default on)")
