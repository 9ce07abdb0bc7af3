"""``salesvoice bench ...``: benchmarks print tables and write JSON. Parse, delegate."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from server.cli_common import command, group, load_settings, write_result

if TYPE_CHECKING:
    from models.llm.base import LLM
    from voice.responder import Responder


def cmd_models(args: argparse.Namespace, console: Console) -> int:
    from models.bench import run_models_bench

    settings = load_settings(args)
    return write_result(asyncio.run(run_models_bench(settings, console)), args.out, console)


def cmd_pipeline(args: argparse.Namespace, console: Console) -> int:
    from voice.bench import run_pipeline_bench

    settings = load_settings(args)
    if args.agent == "plain":
        from voice.bench import plain_responder as factory
    else:
        from agent.policy import SalesAgent
        from agent.program import load_program

        program = load_program(args.program)
        if args.mode is not None and args.mode != program.decoding.mode:
            program = program.evolve(
                "bench", decoding=program.decoding.model_copy(
                    update={"mode": args.mode}).model_dump())

        def factory(llm: LLM, session: str) -> Responder:
            return SalesAgent(program, llm, session=session)

    result = asyncio.run(run_pipeline_bench(settings, console, args.turns, factory))
    return write_result(result, args.out, console)


def cmd_calls(args: argparse.Namespace, console: Console) -> int:
    from server.bench_calls import CallsBench
    from server.bench_calls_run import run_calls_bench

    bench = CallsBench.from_cli(
        protocols=args.protocols, concurrency=args.concurrency, calls=args.calls,
        turns=args.turns, barge_in_every=args.barge_in_every,
        reply_timeout_s=args.reply_timeout, user_voice=args.user_voice, program=args.program)
    plot = args.plot or args.out.with_suffix(".png")
    result = asyncio.run(run_calls_bench(bench, load_settings(args), args.config, console, plot,
                                         args.out.with_suffix(".server.log")))
    return write_result(result, args.out, console)


def cmd_soak(args: argparse.Namespace, console: Console) -> int:
    from server.bench_soak import SoakBench, run_soak_bench

    soak = SoakBench(
        callers=args.callers, minutes=args.minutes, turns=args.turns,
        protocols=tuple(p.strip() for p in args.protocols.split(",") if p.strip()),
        hang_up_every=args.hang_up_every, slow_reader_every=args.slow_reader_every,
        window_s=args.window * 60, warmup_s=args.warmup * 60, user_voice=args.user_voice,
        program=args.program)
    result = asyncio.run(run_soak_bench(
        soak, load_settings(args), args.config, console, url=args.url, token=args.token,
        api_token=args.api_token, pid=args.pid, server_log=args.out.with_suffix(".server.log")))
    return write_result(result, args.out, console)


def cmd_longcall(args: argparse.Namespace, console: Console) -> int:
    from agent.context_bench import run_long_call

    settings = load_settings(args)
    result = asyncio.run(run_long_call(settings.llm, settings.cache_dir, args.turns,
                                       max_tokens=args.max_tokens,
                                       context_tokens=args.context_tokens))
    console.print_json(data=result["summary"])
    return write_result(result, args.out, console)


def cmd_simulate(args: argparse.Namespace, console: Console) -> int:
    from simulator.bench import run_simulate_bench

    settings = load_settings(args)
    result = asyncio.run(run_simulate_bench(settings, console, dialogues=args.dialogues,
                                            modes=tuple(args.modes.split(","))))
    return write_result(result, args.out, console)


def cmd_vocab(args: argparse.Namespace, console: Console) -> int:
    from simulator.vocab_bench import run_vocab_bench

    result = asyncio.run(run_vocab_bench(
        load_settings(args), console, domain=args.domain, lines=tuple(args.lines.split(",")),
        voices=tuple(args.voices.split(",")), limit=args.limit))
    return write_result(result, args.out, console)


def cmd_dashboard(args: argparse.Namespace, console: Console) -> int:
    from server.bench_dashboard import run

    return write_result(run(calls=args.calls), args.out, console)


def add_parsers(sub: Any) -> Any:
    """The ``bench`` command and its own sub-commands; returns the sub-command parsers,
    to which ``server.cli_compliance`` and ``server.cli_thought`` add theirs."""
    bench = group(sub, "bench", "benchmarks: print tables, write JSON (not tests)")
    bm = command(bench, "models", cmd_models,
                 "ASR/TTS/LLM/VAD speed, latency, load time and memory",
                 "salesvoice bench models --out bench/results/models.json")
    bm.add_argument("--out", type=Path, default=Path("bench/results/models.json"))
    bp = command(bench, "pipeline", cmd_pipeline,
                 "voice-to-voice latency on real speech, per stage, against the stack's floor",
                 "salesvoice bench pipeline --turns 10")
    bp.add_argument("--turns", type=int, default=10)
    bp.add_argument("--agent", choices=("sales", "plain"), default="sales",
                    help="the sales agent (thought + response), or a plain LLM responder")
    bp.add_argument("--program", default="insurance-default", help="agent program name or file")
    bp.add_argument("--mode", choices=("learned", "single", "two-model"), default=None,
                    help="the sales agent's thought mode (default: the program's)")
    bp.add_argument("--out", type=Path, default=Path("bench/results/pipeline.json"))
    bc = command(bench, "calls", cmd_calls,
                 "synthetic callers phone the real server over both protocols: voice-to-voice, "
                 "greeting, barge-in stop, unanswered turns, RSS per call, at each concurrency",
                 "salesvoice bench calls --concurrency 1,2,4 --calls 2 --turns 4")
    bc.add_argument("--concurrency", default="1,2,4", help="comma-separated levels")
    bc.add_argument("--calls", type=int, default=2,
                    help="calls made one after another by each concurrent caller")
    bc.add_argument("--turns", type=int, default=4, help="caller lines per call")
    bc.add_argument("--protocols", default="browser,twilio")
    bc.add_argument("--barge-in-every", type=int, default=3,
                    help="every Nth caller line talks over the agent's answer (0: never)")
    bc.add_argument("--reply-timeout", type=float, default=15.0,
                    help="seconds without agent audio after which a line is unanswered")
    bc.add_argument("--user-voice", choices=("espeak-ng", "flite"), default="espeak-ng")
    bc.add_argument("--program", default=None, help="agent program (default: the server's)")
    bc.add_argument("--out", type=Path, default=Path("bench/results/calls.json"))
    bc.add_argument("--plot", type=Path, default=None, help="PNG (default: next to --out)")
    bk = command(bench, "soak", cmd_soak,
                 "N synthetic callers for a set time over both protocols (barge-ins, hang-ups "
                 "mid-turn, slow readers): calls completed, turns lost, server errors, latency "
                 "per window, RSS/fds/tasks over time",
                 "salesvoice bench soak --callers 4 --minutes 30")
    bk.add_argument("--callers", type=int, default=4)
    bk.add_argument("--minutes", type=float, default=30.0)
    bk.add_argument("--url", default=None,
                    help="soak a running server (http://host:port); default: start one with "
                         "the embedded models")
    bk.add_argument("--token", default=None, help="the server's call token (with --url)")
    bk.add_argument("--api-token", default=None,
                    help="its [server] api_token, to read the call records back (with --url)")
    bk.add_argument("--pid", type=int, default=None,
                    help="the server's pid, for RSS and fds from /proc (with --url)")
    bk.add_argument("--turns", type=int, default=4, help="caller lines per call")
    bk.add_argument("--protocols", default="browser,twilio")
    bk.add_argument("--hang-up-every", type=int, default=4,
                    help="every Nth call of a caller hangs up mid-answer (0: never)")
    bk.add_argument("--slow-reader-every", type=int, default=5,
                    help="every Nth call of a caller reads no audio for a while (0: never)")
    bk.add_argument("--window", type=float, default=5.0, help="minutes per latency window")
    bk.add_argument("--warmup", type=float, default=5.0,
                    help="minutes left out of the RSS slope")
    bk.add_argument("--user-voice", choices=("espeak-ng", "flite"), default="espeak-ng")
    bk.add_argument("--program", default=None, help="agent program (default: the server's)")
    bk.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    bl = command(bench, "longcall", cmd_longcall,
                 "one long call on the configured LLM, turn by turn: prompt tokens sent and "
                 "evaluated, first-token time, history cuts; early, late and after-cut medians",
                 "salesvoice bench longcall --turns 100 --context-tokens 1900")
    bl.add_argument("--turns", type=int, default=100, help="caller lines")
    bl.add_argument("--context-tokens", type=int, default=None,
                    help="tokens per request (default: the backend's, llama.cpp: n_ctx / "
                         "slots); smaller makes the history cut sooner")
    bl.add_argument("--max-tokens", type=int, default=16,
                    help="reply tokens (the bench measures the prompt, not speech)")
    bl.add_argument("--out", type=Path, default=Path("bench/results/longcall.json"))
    bs = command(bench, "simulate", cmd_simulate,
                 "simulated dialogues per hour on the embedded stack (text, audio), per worker",
                 "salesvoice bench simulate --dialogues 4 --modes text,audio")
    bs.add_argument("--dialogues", type=int, default=4, help="dialogues per mode and setting")
    bs.add_argument("--modes", default="text,audio")
    bs.add_argument("--out", type=Path, default=Path("bench/results/simulate.json"))
    bv = command(bench, "vocab", cmd_vocab,
                 "ASR word error on the product sheet's names and figures, spoken by the "
                 "agent and caller voices, through the telephone line and without",
                 "salesvoice bench vocab --lines telephone --voices agent,caller")
    bv.add_argument("--domain", default="insurance", help="domain pack name or file")
    bv.add_argument("--lines", default="telephone,clean",
                    help="comma-separated: telephone (8 kHz mu-law, 30 dB SNR), clean")
    bv.add_argument("--voices", default="agent,caller",
                    help="agent (piper) and/or caller (espeak-ng)")
    bv.add_argument("--limit", type=int, default=None, help="at most this many sentences")
    bv.add_argument("--out", type=Path, default=Path("bench/results/vocab.json"))
    bd = command(bench, "dashboard", cmd_dashboard,
                 "the dashboard on a fresh store of synthetic calls: time to its JSON and to "
                 "the page drawn in headless Chromium",
                 "salesvoice bench dashboard --calls 10000")
    bd.add_argument("--calls", type=int, default=10_000, help="synthetic calls to seed")
    bd.add_argument("--out", type=Path, default=Path("bench/results/dashboard.json"))
    return bench
