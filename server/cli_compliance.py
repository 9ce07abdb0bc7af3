"""``salesvoice compliance ...`` and ``salesvoice bench compliance``: parse, delegate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from models.errors import SalesvoiceError
from server.cli_common import command, group, write_result


def _guard(args: argparse.Namespace) -> Any:
    from agent.claim_head import DEFAULT, load_head
    from agent.compliance import ComplianceGuard
    from agent.domain import load_domain

    head = None if args.rules_only else load_head(args.head or DEFAULT)
    return ComplianceGuard(load_domain(args.domain), "", head=head)


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    found = _guard(args).check_reply(args.text)
    for v in found:
        console.print(f"{v.rule}: {v.detail}", highlight=False)
    console.print("may be said" if not found else f"stopped ({len(found)} finding(s))")
    return 0 if not found else 1


MAX_FP = {"claims": 0.015, "injection": 0.02}
"""Out-of-fold false-positive budget per head. Claims: 1.5 % (2 % chose a threshold of 0.73
that cost the development sets 5 more false positives for 3 more catches)."""


def cmd_train_head(args: argparse.Namespace, console: Console) -> int:
    from agent.claim_head import DEFAULT
    from agent.injection import HEAD
    from models.embed import load_embedder
    from optimizer.claim_head import INJECTION_TRAIN, TRAIN_FILES, train_head

    files = args.data or (list(TRAIN_FILES) if args.kind == "claims" else [INJECTION_TRAIN])
    out = args.out or (DEFAULT if args.kind == "claims" else HEAD)
    with console.status(f"embedding {len(files)} file(s) and fitting (5-fold CV)..."):
        budget = args.max_fp if args.max_fp is not None else MAX_FP[args.kind]
        head, report = train_head(load_embedder(), files, max_fp=budget)
    head.save(out)
    console.print_json(json.dumps(report))
    console.print(f"wrote {out} (sha256 {head.meta.get('sha256', '')[:12]})")
    return 0


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from agent.compliance_bench import EVAL_FILES, run_compliance_bench

    files = args.files or [p for p in EVAL_FILES if p.is_file()]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise SalesvoiceError(f"labelled file(s) not found: {', '.join(missing)}")
    result = run_compliance_bench(files, console, _guard(args))
    return write_result(result, args.out, console)


def cmd_bench_injection(args: argparse.Namespace, console: Console) -> int:
    from agent.claim_head import load_head
    from agent.compliance_bench import INJECTION_EVAL, run_injection_bench
    from agent.injection import HEAD

    path = args.file or INJECTION_EVAL
    if not path.is_file():
        raise SalesvoiceError(f"labelled file not found: {path}")
    head = None if args.rules_only else load_head(args.head or HEAD)
    result = run_injection_bench(path, console, head)
    return write_result(result, args.out, console)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--domain", default="insurance", help="domain pack (name or TOML file)")
    p.add_argument("--rules-only", action="store_true", help="without the learned head")
    p.add_argument("--head", type=Path, default=None, help="claim head JSON (default: packaged)")


def add_parsers(sub: Any, bench: Any) -> None:
    comp = group(sub, "compliance", "the claim checker and its learned head")
    check = command(comp, "check", cmd_check,
                    "what the checker stops in one reply (exit 1 if anything)",
                    "salesvoice compliance check 'Travel Insurance is 120 dollars a month.'")
    check.add_argument("text")
    _common(check)
    train = command(comp, "train-head", cmd_train_head,
                    "train a learned head: claims in replies, or injections by callers",
                    "salesvoice compliance train-head --kind injection")
    train.add_argument("--kind", choices=("claims", "injection"), default="claims",
                       help="claims: replies by category; injection: caller lines")
    train.add_argument("--data", type=Path, nargs="*", help="labelled JSONL (default: packaged)")
    train.add_argument("--max-fp", type=float, default=None,
                       help="out-of-fold false-positive budget on compliant clauses "
                            "(default: claims 0.015, injection 0.02)")
    train.add_argument("--out", type=Path, default=None,
                       help="head JSON (default: the packaged one of that kind)")
    b = command(bench, "compliance", cmd_bench,
                "claim checker recall per category and false positives",
                "salesvoice bench compliance tests/data/compliance_eval.jsonl")
    b.add_argument("files", type=Path, nargs="*",
                   help="labelled JSONL (default: the independent sets in tests/data)")
    _common(b)
    b.add_argument("--out", type=Path, default=Path("bench/results/compliance.json"))
    inj = command(bench, "injection", cmd_bench_injection,
                  "how many callers' attempts to extract or override the instructions are "
                  "caught, and false positives",
                  "salesvoice bench injection")
    inj.add_argument("file", type=Path, nargs="?",
                     help="labelled JSONL (default: tests/data/injection_eval.jsonl)")
    inj.add_argument("--rules-only", action="store_true", help="without the learned head")
    inj.add_argument("--head", type=Path, default=None,
                     help="injection head JSON (default: packaged)")
    inj.add_argument("--out", type=Path, default=Path("bench/results/injection.json"))
