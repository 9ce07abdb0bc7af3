"""``salesvoice dataset build`` (stored dialogues → SFT, KTO and DPO files), ``dataset
sample`` (best-of-N: a batch of N samples per persona, then the build) and ``dataset
audio`` (kept caller audio → an audiofolder dataset). Parse, delegate."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console

from models.errors import ConfigError, SalesvoiceError
from server.cli_common import command, group

_FLAGS = ("program", "mode", "outcome_source", "judge_scores", "min_judge_mean", "min_words",
          "max_words")
"""Recipe keys a flag may set; given flags override the ``--config`` file's."""


def _recipe(args: argparse.Namespace) -> Any:
    """The ``DatasetConfig`` of ``--config`` with the given flags over it."""
    from models.config import load_toml_config
    from optimizer.dataset import DatasetConfig

    overrides: dict[str, Any] = {k: getattr(args, k) for k in _FLAGS
                                 if getattr(args, k) is not None}
    for flag in ("compliance", "claim_head", "echo", "dedupe"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.keep_outcomes:
        overrides["keep_outcomes"] = args.keep_outcomes.split(",")
    if args.dataset_config is not None:
        return load_toml_config(args.dataset_config, DatasetConfig, "dataset config",
                                overrides)
    try:
        return DatasetConfig.model_validate(overrides)
    except ValueError as exc:
        raise ConfigError(f"dataset options are invalid: {exc}") from None


def _build(args: argparse.Namespace, console: Console, config: Any, dialogues: list[Any],
           sources: dict[str, int], best_of_n: Any = None) -> dict[str, Any]:
    """Build and write the dataset; ``best_of_n``: a ``Selection`` whose winners alone
    are desirable, its counts added to the card."""
    from agent.domain import load_domain
    from agent.program import load_program
    from optimizer.best_of_n import readme_section, select
    from optimizer.dataset import DatasetBuilder, load_scores
    from optimizer.dataset_card import dataset_card, write_dataset

    program = load_program(config.program)
    builder = DatasetBuilder(config, program, load_domain(program.domain))
    scores = load_scores(config.judge_scores, dialogues)
    chosen = None
    if best_of_n is not None:
        chosen = select(dialogues, config, scores, keep=best_of_n["keep"], n=best_of_n["n"])
    with console.status(f"building from {len(dialogues)} dialogues"):
        built = builder.build(dialogues, scores,
                              select=chosen.winners if chosen is not None else None)
    card = dataset_card(built, config, program, builder.mode, sources)
    if chosen is not None:
        card["best_of_n"] = chosen.counts
    more = readme_section(card) if chosen is not None else ""
    card = write_dataset(args.out, built, card, overwrite=args.overwrite, more=more)
    if chosen is not None:
        b = chosen.counts
        console.print(f"best-of-N: {b['samples']} samples of {b['personas']} personas, "
                      f"{b['accepted_samples']} accepted ({b['sample_acceptance']:.0%}), "
                      f"{b['personas_with_winner']} personas with a winner "
                      f"({b['persona_acceptance']:.0%}), {b['winners']} winners kept",
                      highlight=False)
    out = card["counts"]["outputs"]
    console.print(f"wrote {args.out}: {out['sft']} SFT, {out['kto']} KTO "
                  f"({out['kto_desirable']} desirable), {out['dpo']} DPO examples "
                  f"(card: {args.out / 'README.md'})", highlight=False)
    return card


def cmd_build(args: argparse.Namespace, console: Console) -> int:
    from simulator.store import read_dialogues

    config = _recipe(args)
    for path in args.dialogues:
        if not path.is_file():
            raise SalesvoiceError(f"no dialogue file at {path}")
    sources: dict[str, int] = {}
    dialogues = []
    for path in args.dialogues:
        got = read_dialogues(path)
        sources[str(path)] = len(got)
        dialogues += got
    _build(args, console, config, dialogues, sources)
    return 0


def cmd_sample(args: argparse.Namespace, console: Console) -> int:
    from optimizer.best_of_n import samples_of, sampling_batch
    from server.cli_common import load_settings
    from simulator.app import simulate
    from simulator.batch import load_batch_config
    from simulator.store import read_dialogues

    config = _recipe(args)  # a bad recipe fails before any dialogue is run
    overrides = {"workers": args.workers} if args.workers else {}
    batch = sampling_batch(load_batch_config(args.batch, overrides), args.n)
    settings = load_settings(args)
    result = asyncio.run(simulate(batch, settings, console, report=False))
    if result.failed:
        raise SalesvoiceError(
            f"{result.failed} of {result.planned} samples failed (first: {result.errors[0]}); "
            "rerun the same command to finish them (finished samples are kept)")
    store = batch.store_path(settings.data_dir)
    dialogues = samples_of(batch, read_dialogues(store))
    _build(args, console, config, dialogues, {str(store): len(dialogues)},
           {"keep": args.keep, "n": batch.dialogues_per_persona})
    return 0


def cmd_audio(args: argparse.Namespace, console: Console) -> int:
    from optimizer.audio_dataset import audio_card, collect, write_audio_dataset
    from simulator.audio import kept_audio_dir
    from simulator.store import read_dialogues

    if not args.store.is_file():
        raise SalesvoiceError(f"no dialogue file at {args.store}")
    dialogues = read_dialogues(args.store)
    export = collect(dialogues, args.audio_dir or kept_audio_dir(args.store))
    card = write_audio_dataset(args.out, export, audio_card(export, {str(args.store):
                                                                     len(dialogues)}),
                               overwrite=args.overwrite)
    console.print(f"wrote {args.out}: {card['counts']['rows']} caller lines, "
                  f"{card['audio_seconds']:.1f} s of audio, ASR WER {card['wer']:.1%} "
                  f"(card: {args.out / 'README.md'})", highlight=False)
    return 0


def _recipe_flags(b: argparse.ArgumentParser) -> None:
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


def add_parsers(sub: Any, bench: Any) -> None:
    """``bench``: unused (no dataset benchmark); kept for the common wiring."""
    ds = group(sub, "dataset", "fine-tuning datasets from stored dialogues")
    b = command(ds, "build", cmd_build,
                "SFT / KTO / DPO JSONL (TRL formats) and a card from dialogue files",
                "salesvoice dataset build data/simulations/demo/dialogues.jsonl calls.jsonl "
                "--out data/datasets/demo --min-words 3 (see docs/finetune.md)")
    b.add_argument("dialogues", type=Path, nargs="+",
                   help="JSON-lines dialogue files (batch stores, 'calls export')")
    _recipe_flags(b)
    sa = command(ds, "sample", cmd_sample,
                 "teacher data by best-of-N: N sampled dialogues per persona (a resumable "
                 "batch), the winners as SFT, winner-vs-loser replies as DPO pairs",
                 "salesvoice dataset sample --batch examples/batch-text.toml --n 4 "
                 "--out data/datasets/bon (rerun after a crash: finished samples are kept; "
                 "see docs/finetune.md)")
    sa.add_argument("--batch", type=Path, required=True,
                    help="batch TOML (see docs/simulator.md); its store keeps the samples")
    sa.add_argument("--n", type=int, default=None,
                    help="samples per persona and arm (default: the batch's "
                    "dialogues_per_persona)")
    sa.add_argument("--keep", choices=("best", "all"), default="best",
                    help="per persona: the best accepted sample (default) or every one")
    sa.add_argument("--workers", type=int, default=None, help="override the batch's workers")
    _recipe_flags(sa)
    au = command(ds, "audio", cmd_audio,
                 "caller audio of an audio-mode batch (kept with [audio] keep = true) as a "
                 "Hugging Face audiofolder: audio/*.wav + metadata.jsonl (reference, ASR "
                 "hypothesis, agent target) and a card",
                 "salesvoice dataset audio data/simulations/demo-audio/dialogues.jsonl "
                 "--out data/datasets/demo-audio (see docs/finetune.md, Audio datasets)")
    au.add_argument("store", type=Path, help="the batch's dialogues.jsonl")
    au.add_argument("--audio-dir", type=Path, default=None,
                    help="its kept audio (default: <store>.audio beside it, e.g. "
                    "dialogues.audio/)")
    au.add_argument("--out", type=Path, required=True,
                    help="dataset folder (written atomically)")
    au.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
