"""``salesvoice outcomes import FILE``: later outcomes (a policy bought, a complaint) from
a CRM export into the call database, where experiments count them. Parse, delegate."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console

from server.cli_common import command, group, open_store


def cmd_import(args: argparse.Namespace, console: Console) -> int:
    from server.outcomes import ImportResult, read_outcomes
    from server.store_ab import ExperimentStore

    rows = read_outcomes(args.file)  # a bad file fails before the database is opened
    source = args.source or args.file.name

    async def run() -> ImportResult:
        async with open_store(args) as store:
            return await ExperimentStore(store).add_outcomes(rows, source)

    result = asyncio.run(run())
    console.print(f"imported {result.added} outcome(s) from {args.file} as source {source!r}; "
                  f"{result.skipped} already stored, skipped", highlight=False)
    return 0


def add_parsers(sub: Any) -> None:
    out = group(sub, "outcomes", "outcomes that arrive after the call (CRM results)")
    imp = command(out, "import", cmd_import,
                  "import a CSV (header row) or JSON-lines file of outcomes, all or nothing; "
                  "columns: call_id or caller_id, outcome, value (optional), time (ISO 8601 "
                  "with a zone); rows already stored are skipped",
                  "salesvoice outcomes import crm-2026-01.csv --source crm  (crm-2026-01.csv: "
                  "'caller_id,outcome,value,time' then '+15550100199,policy_bought,420,"
                  "2026-01-05T14:30:00Z')")
    imp.add_argument("file", type=Path, help="outcomes file (.csv with a header, or .jsonl)")
    imp.add_argument("--source", default=None,
                     help="where the outcomes come from (default: the file's name)")
    # SUPPRESS: without the flag, the global --config (given before the command) stands.
    imp.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                     help="TOML settings file naming the call database (as the global "
                     "--config)")
