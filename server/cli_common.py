"""What every ``server/cli*.py`` module shares: settings, result files, parser wiring."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from server.store import CallStore

Command = Callable[[argparse.Namespace, Console], int]


def load_settings(args: argparse.Namespace) -> Any:
    """The settings of ``--config`` (imported lazily: ``--help`` loads no model code)."""
    # Any, as before the move: each floor takes the sections it reads as a Protocol of
    # its own, with settable members that mypy does not match to this frozen model.
    from server.settings import load

    return load(args.config)


def open_store(args: argparse.Namespace) -> CallStore:
    """The call database ``--config`` names (its data folder made), for ``async with``."""
    from server.store import CallStore

    settings = load_settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return CallStore(settings.database_url())


def write_result(result: object, out: Path, console: Console) -> int:
    """Write ``result`` as indented JSON to ``out`` (its folder made) and say so."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {out}")
    return 0


def group(sub: Any, name: str, help: str) -> Any:
    """A command with sub-commands (``salesvoice NAME SUBCOMMAND``); returns their parsers."""
    parser = sub.add_parser(name, help=help)
    return parser.add_subparsers(dest=f"{name}_command", required=True)


def command(sub: Any, name: str, func: Command, help: str,
            example: str) -> argparse.ArgumentParser:
    """One (sub-)command run by ``func``; its ``--help`` shows the worked ``example``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=f"example: {example}")
    parser.set_defaults(func=func)
    return parser
