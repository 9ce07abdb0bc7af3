"""The dataset card (``card.json`` and ``README.md``) and the atomic write of a dataset.

The files are written into a temporary folder beside the output, which then replaces
it in one rename: an interrupted build leaves the old dataset (or none), never half of
a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.program import AgentProgram
from models.errors import SalesvoiceError
from optimizer.dataset import Built, DatasetConfig, sector_of
from simulator.evaluate import outcome_of

FILES = ("sft.jsonl", "kto.jsonl", "dpo.jsonl")


def dataset_card(built: Built, config: DatasetConfig, program: AgentProgram, mode: str,
                 sources: Mapping[str, int]) -> dict[str, Any]:
    """The card's numbers: sources, the recipe, counts per filter, per sector and per
    outcome (``sha256`` is added by ``write_dataset``)."""
    outcomes = Counter(outcome_of(d, config.outcome_source) for d in built.dialogues)
    sft_outcomes = Counter(x.outcome for x in built.kept)
    sectors = Counter(sector_of(d) for d in built.dialogues)
    sft_sectors = Counter(x.sector for x in built.kept)
    return {
        "sources": dict(sources),
        "dialogue_kinds": dict(Counter(d.source for d in built.dialogues)),
        "program_versions": dict(Counter(d.program_version for d in built.dialogues)),
        "program": program.version,
        "mode": mode,
        "config": config.model_dump(mode="json"),
        "counts": built.counts,
        "by_sector": {s: {"dialogues": n, "sft": sft_sectors.get(s, 0)}
                      for s, n in sorted(sectors.items())},
        "by_outcome": {o: {"dialogues": n, "sft": sft_outcomes.get(o, 0)}
                       for o, n in sorted(outcomes.items())},
    }


def render_readme(card: Mapping[str, Any]) -> str:
    """The card as markdown."""
    c = card["counts"]
    rows = [("dialogues", c["dialogues"]), ("agent turns", c["agent_turns"])]
    rows += [(f"not a model reply: {k.replace('_', ' ')}", n)
             for k, n in c["not_a_model_reply"].items()]
    rows += [(f"removed by {k}", n) for k, n in c["turn_filters"].items()]
    rows.append(("pool (KTO candidates)", c["pool"]))
    rows += [(f"not desirable by {k}", f"{v['turns']} turns of {v['dialogues']} dialogues")
             for k, v in c["dialogue_filters"].items()]
    dup = c["duplicates"]
    rows += [(f"duplicates dropped ({k})", dup[k]) for k in ("sft", "kto", "dpo")]
    rows.append(("KTO examples seen with both labels (dropped)", dup["kto_conflicting"]))
    out = c["outputs"]
    lines = [
        "# Sales-agent fine-tuning dataset", "",
        "Built by `salesvoice dataset build` from stored dialogues (see docs/finetune.md).",
        f"Program `{card['program']}`, output format `{card['mode']}`.", "",
        "| file | examples | format |", "|---|---|---|",
        f"| sft.jsonl | {out['sft']} | `messages` |",
        f"| kto.jsonl | {out['kto']} ({out['kto_desirable']} desirable) "
        "| `prompt` / `completion` / `label` |",
        f"| dpo.jsonl | {out['dpo']} | `prompt` / `chosen` / `rejected` |", "",
        "## Filters", "", "| step | count |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows), "",
        "## Sources", "", "| file | dialogues |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in card["sources"].items()), "",
        "## Per sector", "", "| sector | dialogues | SFT examples |", "|---|---|---|",
        *(f"| {k} | {v['dialogues']} | {v['sft']} |" for k, v in card["by_sector"].items()),
        "",
        "## Per outcome", "", "| outcome | dialogues | SFT examples |", "|---|---|---|",
        *(f"| {k} | {v['dialogues']} | {v['sft']} |" for k, v in card["by_outcome"].items()),
        "", "## Files", "", "| file | sha256 |", "|---|---|",
        *(f"| {k} | `{v}` |" for k, v in card.get("sha256", {}).items()), "",
    ]
    return "\n".join(lines)


def _jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@contextmanager
def dataset_folder(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``out`` to write a dataset into; when the block ends
    without error its files are synced and it replaces ``out`` in one rename (an old
    dataset stays whole if that fails); on error it is removed. Nothing half-written is
    ever at ``out``."""
    if out.exists() and not overwrite:
        raise SalesvoiceError(f"{out} exists; pass --overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise SalesvoiceError(f"{out} is a file, not a dataset folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                with path.open("rb") as f:
                    os.fsync(f.fileno())
        tmp.chmod(0o755)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
        try:
            tmp.rename(out)
        except OSError:
            if old is not None:
                old.rename(out)
            raise
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_dataset(out: Path, built: Built, card: dict[str, Any], *,
                  overwrite: bool = False, more: str = "") -> dict[str, Any]:
    """Write the three files, ``card.json`` and ``README.md`` (the card, then ``more``
    markdown) to ``out`` at once; the card with each data file's sha256 is returned."""
    with dataset_folder(out, overwrite=overwrite) as tmp:
        card = {**card, "sha256": {}}
        for name, rows in zip(FILES, (built.sft, built.kto, built.dpo), strict=True):
            data = _jsonl(rows)
            (tmp / name).write_bytes(data)
            card["sha256"][name] = hashlib.sha256(data).hexdigest()
        (tmp / "card.json").write_text(json.dumps(card, indent=2))
        (tmp / "README.md").write_text(render_readme(card) + (f"\n{more}" if more else ""))
    return card
