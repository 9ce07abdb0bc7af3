"""``salesvoice calls``: the call records — list, show, export, purge (retention)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from models.errors import SalesvoiceError
from server.cli_common import command, group, load_settings, open_store


def cmd_calls_list(args: argparse.Namespace, console: Console) -> int:
    async def run() -> int:
        async with open_store(args) as store:
            calls = await store.list_calls(limit=args.limit)
        table = Table(title="calls (newest first)")
        for col in ("id", "started", "transport", "variant", "program", "turns", "outcome",
                    "ended"):
            table.add_column(col)
        for c in calls:
            table.add_row(c.id, f"{c.created_at:%Y-%m-%d %H:%M:%S}", c.transport,
                          c.variant or "-", c.program_version, str(c.turn_count),
                          str(c.outcome or "-"), str(c.end_reason or "in progress"))
        console.print(table)
        return 0

    return asyncio.run(run())


def cmd_calls_show(args: argparse.Namespace, console: Console) -> int:
    async def run() -> int:
        async with open_store(args) as store:
            call = await store.get_call(args.call_id)
        if call is None:
            raise SalesvoiceError(f"no call {args.call_id!r} (see 'salesvoice calls list')")
        console.print(f"call {call.id}: {call.transport}, program {call.program_version}, "
                      f"variant {call.variant or '-'}, outcome {call.outcome or '-'}, "
                      f"ended {call.end_reason or 'in progress'}")
        for t in call.turns:
            v2v = t.timings.get("voice_to_voice_s")
            latency = f" [dim]({v2v:.2f} s)[/]" if isinstance(v2v, float) else ""
            if t.user_text:
                console.print(f"[cyan]caller:[/] {t.user_text}")
            thought = t.thought or {}
            plan = f"{thought.get('template')}/{thought.get('intent')}"
            note = f" [dim]<{plan}>[/]" if thought else ""
            cut = " [red](interrupted)[/]" if t.interrupted else ""
            console.print(f"[green]agent:[/]{note} {t.agent_text}{cut}{latency}")
        return 0

    return asyncio.run(run())


def cmd_calls_export(args: argparse.Namespace, console: Console) -> int:
    async def run() -> int:
        async with open_store(args) as store:
            n = await store.export_jsonl(args.out, finished_only=args.finished_only)
        console.print(f"wrote {n} dialogues to {args.out}")
        return 0

    return asyncio.run(run())


def cmd_calls_purge(args: argparse.Namespace, console: Console) -> int:
    before = parse_before(args.before)
    if before > datetime.now(UTC) and not args.force:
        raise SalesvoiceError(
            f"--before {args.before} is in the future: that deletes every finished call up "
            "to now; pass --force if that is what you want")
    settings = load_settings(args)

    async def run() -> int:
        async with open_store(args) as store:
            done = await store.purge(before, dry_run=args.dry_run,
                                     recordings_dir=settings.data_dir / "recordings")
        c = done.counts
        verb = "would delete" if args.dry_run else "deleted"
        console.print(
            f"{verb} {c.calls} calls created before {before.isoformat()}: {c.turns} turns, "
            f"{c.assignments} A/B assignments, {c.outcomes} outcomes, {done.files} "
            f"recording files; kept {c.unfinished_kept} unfinished calls", highlight=False)
        for failure in done.failed:
            console.print(f"[bold red]could not delete[/] {failure}", highlight=False)
        return 1 if done.failed else 0

    return asyncio.run(run())


def parse_before(text: str) -> datetime:
    """A purge cut-off: an ISO date (midnight UTC) or date-time (UTC unless it says)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SalesvoiceError(
            f"--before {text!r} is not a date: use YYYY-MM-DD or an ISO 8601 date-time "
            "such as 2025-01-31T18:00:00+01:00") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def add_parsers(sub: Any) -> None:
    calls = group(sub, "calls", "call records")
    cl = command(calls, "list", cmd_calls_list, "recent calls", "salesvoice calls list")
    cl.add_argument("--limit", type=int, default=20)
    cs = command(calls, "show", cmd_calls_show, "one call, turn by turn",
                 "salesvoice calls show 3f2a...")
    cs.add_argument("call_id")
    ce = command(calls, "export", cmd_calls_export, "dialogue JSONL (the simulator's format)",
                 "salesvoice calls export --out calls.jsonl")
    ce.add_argument("--out", type=Path, required=True)
    ce.add_argument("--finished-only", action="store_true")
    cp = command(calls, "purge", cmd_calls_purge,
                 "delete finished calls created before a date: turns, A/B assignments, "
                 "outcomes and recordings (retention; docs/security.md)",
                 "salesvoice calls purge --before 2025-01-01 --dry-run")
    cp.add_argument("--before", required=True, metavar="DATE",
                    help="YYYY-MM-DD (midnight UTC) or an ISO 8601 date-time")
    cp.add_argument("--dry-run", action="store_true", help="only count what would go")
    cp.add_argument("--force", action="store_true", help="allow a DATE in the future")
