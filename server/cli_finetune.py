"""``salesvoice finetune ...``: LoRA SFT / DPO / KTO of the sales model. Parse, delegate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from models.errors import SalesvoiceError
from server.cli_common import command, group, load_settings

_METHODS = {
    "sft": ("supervised LoRA fine-tuning on the agent's target turns (messages JSONL)",
            "sft.jsonl"),
    "dpo": ("Direct Preference Optimization on chosen/rejected replies", "dpo.jsonl"),
    "kto": ("Kahneman-Tversky Optimization on replies labelled good or bad", "kto.jsonl"),
}


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from pydantic import ValidationError

    from optimizer.finetune import FinetuneConfig, finetune

    fields = ("base", "data", "steps", "batch_size", "grad_accum", "learning_rate", "lora_r",
              "lora_alpha", "lora_dropout", "max_length", "beta", "seed", "save_every",
              "dtype", "threads")
    try:
        config = FinetuneConfig(method=args.finetune_command,
                                **{f: getattr(args, f) for f in fields})
    except ValidationError as exc:
        raise SalesvoiceError(f"invalid finetune settings: {exc}") from None
    out = args.out or Path("data/finetune") / f"{args.finetune_command}-{args.data.stem}"
    result = finetune(config, out, load_settings(args).cache_dir, console)
    if result.seconds_per_step is not None:
        console.print(f"{result.seconds_per_step:.2f} s per step", highlight=False)
    return 0


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    from optimizer.finetune import resolve_base
    from optimizer.finetune_export import verify_adapter

    base_sha = None
    if args.base:
        base_sha = resolve_base(args.base, load_settings(args).cache_dir).sha256
    manifest = verify_adapter(args.adapter, base_sha)
    console.print(f"{args.adapter}: intact ({len(manifest['files'])} files), "
                  f"{manifest['method']} on {manifest['base']['ref']} "
                  f"(sha256 {manifest['base']['sha256'][:12]}), {manifest['steps']} steps, "
                  f"dataset sha256 {manifest['dataset']['sha256'][:12]}", highlight=False)
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from optimizer.finetune_export import export_lora_gguf

    out = args.out or args.adapter.parent / "adapter-lora.gguf"
    stamp = export_lora_gguf(args.adapter, out, load_settings(args).cache_dir)
    console.print(f"wrote {out} (sha256 {stamp['gguf_sha256'][:12]}), a llama.cpp LoRA for "
                  f"{stamp['base_gguf']}; provenance in {out.name}.json", highlight=False)
    return 0


def add_parsers(sub: Any) -> None:
    ft = group(sub, "finetune", "LoRA fine-tuning of the sales model (extra [train])")
    for method, (what, data) in _METHODS.items():
        p = command(ft, method, cmd_train, what,
                    f"salesvoice finetune {method} --base smollm2-135m-instruct-q4_1 "
                    f"--data data/datasets/demo/{data} --out data/finetune/demo-{method} "
                    "--steps 200 (rerun the same command after a crash: it resumes from the "
                    "last checkpoint)")
        p.add_argument("--base", default="qwen2.5-coder-1.5b-instruct-q4_k_m",
                       help="packaged LLM id (its GGUF is dequantized once into the cache), "
                       "a .gguf file, or an HF model folder")
        p.add_argument("--data", type=Path, required=True, help=f"TRL-format {data}")
        p.add_argument("--out", type=Path, default=None,
                       help="run folder (default: data/finetune/METHOD-DATASTEM)")
        p.add_argument("--steps", type=int, default=100, help="optimizer steps")
        p.add_argument("--batch-size", type=int, default=2)
        p.add_argument("--grad-accum", type=int, default=1)
        p.add_argument("--learning-rate", type=float, default=None,
                       help="default: 2e-4 for sft, 5e-5 for dpo/kto")
        p.add_argument("--lora-r", type=int, default=16)
        p.add_argument("--lora-alpha", type=int, default=32)
        p.add_argument("--lora-dropout", type=float, default=0.05)
        p.add_argument("--max-length", type=int, default=2048,
                       help="tokens per example (the agent's prompt alone is 1,100-1,450)")
        p.add_argument("--beta", type=float, default=0.1, help="dpo/kto only")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--save-every", type=int, default=25, help="checkpoint every N steps")
        p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
        p.add_argument("--threads", type=int, default=None,
                       help="torch threads (1 is faster when another job shares the cores)")
    v = command(ft, "verify", cmd_verify,
                "check an adapter against its manifest (and optionally a base model)",
                "salesvoice finetune verify data/finetune/demo-sft/adapter --base "
                "smollm2-135m-instruct-q4_1")
    v.add_argument("adapter", type=Path)
    v.add_argument("--base", default=None, help="also check it was trained on this base")
    e = command(ft, "export", cmd_export,
                "write a verified adapter as a llama.cpp LoRA GGUF (applied to the base GGUF)",
                "salesvoice finetune export data/finetune/demo-sft/adapter --out "
                "data/finetune/demo-sft/adapter-lora.gguf")
    e.add_argument("adapter", type=Path)
    e.add_argument("--out", type=Path, default=None,
                   help="default: adapter-lora.gguf beside the adapter folder")
