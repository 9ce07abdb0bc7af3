"""Teacher data by best-of-N (rejection sampling): N sampled dialogues per persona, the
winners kept as SFT examples, winner-versus-loser replies in one context as pairs.

Sampling is per dialogue, not per reply: a reply is only judged by where the call went,
and the outcome is known once per dialogue (the programmatic user's own verdict, or the
agent's reading of an LLM user). Sampling N replies at one turn would need N
continuations of each to be scored, which is the dialogue-level design again with more
calls. The N samples are a batch's ``dialogues_per_persona`` (k = 0..N-1), run and
resumed by ``run_batch`` like any batch.

A sample is *accepted* when it passes the recipe's outcome filter (and the judge filter
when ``min_judge_mean`` is set). Per persona the accepted samples are ranked by the
judge's mean score (judged before unjudged), then by sample order; ``keep = "best"``
keeps the first as the persona's winner, ``keep = "all"`` every accepted sample. The
build of ``optimizer.dataset`` then makes the SFT set of the winners' turns, KTO of the
winners' (desirable) and failed samples' (undesirable) turns, and DPO pairs where a
winner's reply and a lower-ranked sample's differ in the same context.

What varies between the N samples: the user's draws always (k is part of a programmatic
user's seeds: its hidden need, decisions and wording are drawn anew), and the agent's
replies only with the LLM agent (sampled at the program's decoding temperature, unseeded).
The rule agent is deterministic, so with it best-of-N selects the calls that met a
favourable user; it adds no reply the agent would not have said, and one arm yields no
DPO pairs (the same context always gets the same reply).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.dialogue import Dialogue
from models.errors import ConfigError
from optimizer.dataset import DatasetConfig, EmptyDataset, passing, sector_of
from optimizer.judge import JudgeScores
from simulator.batch import BatchConfig
from simulator.evaluate import truth_of
from simulator.metrics import persona_id, variant_of

Keep = Literal["best", "all"]


class NoWinners(EmptyDataset):
    """No sampled dialogue passed the outcome (and judge) filters."""


@dataclass(frozen=True, slots=True)
class Selection:
    winners: frozenset[str]
    """Ids of the dialogues whose turns are SFT examples."""
    counts: dict[str, Any]
    """The card's ``best_of_n`` section."""


def sampling_batch(batch: BatchConfig, n: int | None) -> BatchConfig:
    """``batch`` with ``n`` samples per persona and arm (None: the batch's own)."""
    if n is None:
        return batch
    if n < 1:
        raise ConfigError(f"N (samples per persona and arm) must be at least 1, got {n}")
    return batch.model_copy(update={"dialogues_per_persona": n})


def samples_of(batch: BatchConfig, dialogues: Sequence[Dialogue]) -> list[Dialogue]:
    """The dialogues of ``batch``'s design in its store: a store that also holds samples
    of an earlier run with a larger N, other seeds or other arms keeps them out."""
    seeds, arms = set(batch.seeds), set(batch.agent.programs)
    return [d for d in dialogues
            if d.metadata.get("batch") == batch.name and d.metadata.get("seed") in seeds
            and variant_of(d) in arms
            and int(d.metadata.get("index", 0)) < batch.dialogues_per_persona]


def _order(d: Dialogue) -> tuple[int, int, str, str]:
    m = d.metadata
    return int(m.get("seed", 0)), int(m.get("index", 0)), variant_of(d), d.id


def select(dialogues: Sequence[Dialogue], config: DatasetConfig,
           scores: Mapping[str, JudgeScores] | None = None, *, keep: Keep = "best",
           n: int | None = None) -> Selection:
    """Each persona's winners among its samples, and the acceptance counts.
    ``n``: the samples per persona and arm the batch asked for (for the card)."""
    scores = scores or {}
    won, judged = passing(dialogues, scores, config)
    accepted = won & judged
    by_persona: dict[str, list[Dialogue]] = defaultdict(list)
    for d in dialogues:
        by_persona[persona_id(d)].append(d)
    winners: set[str] = set()
    sectors: dict[str, Counter[str]] = defaultdict(Counter)
    for samples in by_persona.values():
        passed = sorted((d for d in samples if d.id in accepted), key=lambda d: (
            -scores[d.id].mean if d.id in scores else math.inf, _order(d)))
        winners.update(d.id for d in (passed[:1] if keep == "best" else passed))
        s = sectors[sector_of(min(samples, key=_order))]
        s.update(personas=1, samples=len(samples), accepted_samples=len(passed),
                 personas_with_winner=int(bool(passed)))
    total = Counter[str]()
    for s in sectors.values():
        total.update(s)
    if not winners:
        raise NoWinners(
            f"no winner among {len(dialogues)} samples of {len(by_persona)} personas"
            f"{f' (N = {n} per persona and arm)' if n else ''}: "
            f"{len(dialogues) - len(won)} failed the outcome filter (keep_outcomes "
            f"{', '.join(o.value for o in config.keep_outcomes)}, outcome source "
            f"{config.outcome_source}), {len(won - judged)} more the judge filter. "
            "Raise N, loosen the filters, or check the agent and the users.")
    by_truth = sum(truth_of(d) is not None for d in dialogues if d.id in winners)
    counts: dict[str, Any] = {
        "n": n, "keep": keep, "samples": len(dialogues),
        "arms": sorted({variant_of(d) for d in dialogues}),
        "personas": len(by_persona),
        "samples_per_persona": {"min": min(map(len, by_persona.values())),
                                "max": max(map(len, by_persona.values()))},
        **_rates(total),
        "winners": len(winners),
        "winners_decided_by": {"user_truth": by_truth,
                               "agent_reading": len(winners) - by_truth},
        "by_sector": {k: _rates(v) for k, v in sorted(sectors.items())},
    }
    return Selection(frozenset(winners), counts)


def _rates(c: Counter[str]) -> dict[str, Any]:
    return {"personas": c["personas"], "samples": c["samples"],
            "accepted_samples": c["accepted_samples"],
            "sample_acceptance": round(c["accepted_samples"] / c["samples"], 4),
            "personas_with_winner": c["personas_with_winner"],
            "persona_acceptance": round(c["personas_with_winner"] / c["personas"], 4)}


def render_section(counts: Mapping[str, Any], sft_by_sector: Mapping[str, int]) -> str:
    """The card's best-of-N section as markdown."""
    c = counts
    spp = c["samples_per_persona"]
    spread = str(spp["min"]) if spp["min"] == spp["max"] else f"{spp['min']}-{spp['max']}"
    rows = [
        ("N (samples per persona and arm)", c["n"] if c["n"] is not None else "not given"),
        ("arms", ", ".join(c["arms"])), ("samples drawn", c["samples"]),
        ("personas", c["personas"]), ("samples per persona", spread),
        ("accepted samples (one sample's acceptance)",
         f"{c['accepted_samples']} ({c['sample_acceptance']:.1%})"),
        ("personas with a winner (acceptance of best-of-N)",
         f"{c['personas_with_winner']} ({c['persona_acceptance']:.1%})"),
        (f"winners kept (keep = {c['keep']})", c["winners"]),
        ("winners decided by the user's truth / the agent's reading",
         f"{c['winners_decided_by']['user_truth']} / {c['winners_decided_by']['agent_reading']}"),
    ]
    lines = [
        "## Best-of-N", "",
        "Built by `salesvoice dataset sample`: N sampled dialogues per persona, the "
        "accepted ones (outcome and judge filters) ranked by judge score, then sample order.",
        "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), "",
        "| sector | personas | samples | accepted samples | personas with a winner "
        "| SFT examples |", "|---|---|---|---|---|---|",
        *(f"| {s} | {v['personas']} | {v['samples']} | {v['accepted_samples']} "
          f"({v['sample_acceptance']:.0%}) | {v['personas_with_winner']} "
          f"({v['persona_acceptance']:.0%}) | {sft_by_sector.get(s, 0)} |"
          for s, v in c["by_sector"].items()), "",
    ]
    return "\n".join(lines)


def readme_section(card: Mapping[str, Any]) -> str:
    """The best-of-N section of the dataset's ``README.md``."""
    sft = {s: v["sft"] for s, v in card["by_sector"].items()}
    return render_section(card["best_of_n"], sft)
