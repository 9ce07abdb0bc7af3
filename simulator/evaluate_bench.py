"""Does ``evaluate`` keep its promises? Planted worlds where the truth is known.

Both checks run on the real path: the scripted rule agent is not told the caller's job
(it asks, and reads the answer), outcomes are what the agent detected, and the
programmatic users speak with varied wording:

- **power**: arm A follows the planted world's strategy table; arm B the same except a
  few sectors served with the hand-written table. The sectors are chosen on a pilot so
  that B loses about ``difference`` in success, and the difference is then measured on
  fresh personas; ``replicates`` evaluations at the size ``evaluate plan`` recommends
  for that difference, each on fresh personas, count how often it is detected;
- **null**: two identical arms, ``replicates`` times: how often the interval covers 0.

A benchmark, not a test: it prints what it measured.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from agent.dialogue import Dialogue
from agent.domain import load_domain
from agent.program import AgentProgram, StrategyEntry, load_program
from agent.stats import rate
from simulator.batch import BatchConfig, Toolkit, plan, run_item
from simulator.evaluate import PRIMARY, evaluate, outcome_of, recommended_personas
from simulator.metrics import persona_id
from simulator.persona import PersonaSampler, load_spec
from simulator.runner import SUCCESS
from simulator.users import PlantedWorld, load_world

Reader = Literal["lexicon", "head"]
_WON = frozenset(o.value for o in SUCCESS)


def planted_program(world: PlantedWorld, base: AgentProgram, *, keep_base: Sequence[str] = (),
                    version: str = "planted") -> AgentProgram:
    """``base`` with the world's top products as the strategy, except for ``keep_base``."""
    strategy = {s: StrategyEntry(intents=top[:2], rationale="the planted top products")
                for s, top in world.sectors.items() if s not in keep_base}
    strategy.update({s: e for s, e in base.strategy.items() if s in keep_base})
    return base.model_copy(update={"strategy": strategy, "version": version})


@dataclass(frozen=True, slots=True)
class World:
    """Where the arms meet their callers."""

    planted: PlantedWorld
    reader: Reader = "head"

    async def dialogues(self, programs: dict[str, AgentProgram], *, personas: int,
                        seed: int) -> list[Dialogue]:
        """Every persona meets every arm once (rule agent, programmatic users, occupation
        not told), all dialogues at once: the learned reader batches their lines."""
        config = BatchConfig.model_validate({
            "name": f"planted-{seed}", "dialogues_per_persona": 1,
            "user": {"kind": "programmatic"},
            "agent": {"kind": "rule", "share_occupation": False, "reader": self.reader,
                      "programs": {arm: p.version or arm for arm, p in programs.items()}}})
        kit = Toolkit(config, load_domain(config.domain), programs, _world=self.planted)
        people = PersonaSampler(load_spec("insurance"), seed).sample(personas)
        return list(await asyncio.gather(*(run_item(kit, i) for i in plan(config, people))))


def served_sector(dialogue: Dialogue, threshold: float) -> str:
    """The sector whose strategy entry the agent used by the end ("?": none applied)."""
    for turn in reversed(dialogue.agent_turns):
        if turn.sector is not None:
            g = turn.sector
            return g.sector if g.sector and g.confidence >= threshold else "?"
    return "?"


def sector_gains(dialogues: Sequence[Dialogue], better: str, worse: str,
                 threshold: float) -> dict[str, float]:
    """Each served sector's share of the success difference between two arms (the
    shares sum to the difference): what reverting that sector's entry would cost."""
    gain: dict[str, float] = defaultdict(float)
    units = {persona_id(d) for d in dialogues}
    for d in dialogues:
        won = outcome_of(d, "detected") in _WON
        sign = 1 if d.variant == better else -1 if d.variant == worse else 0
        gain[served_sector(d, threshold)] += sign * won / len(units)
    gain.pop("?", None)
    return dict(gain)


def closest_subset(gains: dict[str, float], target: float, most: int = 3) -> list[str]:
    """At most ``most`` sectors whose gains sum closest to ``target`` (ties: fewer). Few
    large sectors, not many small ones: the more subsets to choose from, the more the
    choice fits the pilot's noise rather than the sectors' true gains."""
    best: tuple[float, int, tuple[str, ...]] = (abs(target), 0, ())
    for k in range(1, most + 1):
        for chosen in combinations(sorted(gains), k):
            best = min(best, (abs(sum(gains[n] for n in chosen) - target), k, chosen))
    return list(best[2])


async def plant(world: World, base: AgentProgram, difference: float, *, personas: int,
                seed: int) -> list[str]:
    """The sectors to serve with ``base``'s table so the arms differ by ``difference``."""
    better = planted_program(world.planted, base)
    dialogues = await world.dialogues({"base": base, "planted": better}, personas=personas,
                                      seed=seed)
    return closest_subset(sector_gains(dialogues, "planted", "base", base.sector_threshold),
                          difference)


@dataclass(frozen=True, slots=True)
class Check:
    replicates: int
    hits: int
    """Power: evaluations whose interval excludes 0 and whose test rejects (the report's
    "higher"); null: intervals covering 0."""
    mcnemar_hits: int
    """The same, read from the paired test at 5 % instead of the interval."""

    def as_dict(self) -> dict[str, object]:
        r = rate(self.hits, self.replicates)
        return {"replicates": self.replicates, "hits": self.hits,
                "share": round(r.value, 4), "interval": [round(r.low, 4), round(r.high, 4)],
                "mcnemar_hits": self.mcnemar_hits}


async def check(world: World, programs: dict[str, AgentProgram], *, personas: int,
                replicates: int, expect: Literal["higher", "same"], first_seed: int,
                n_boot: int = 200, tick: Callable[[int], None] | None = None) -> Check:
    """``expect``: the second arm beats the first ("higher"), or they are the same."""
    hits = by_test = 0
    base = next(iter(programs))
    for r in range(replicates):
        dialogues = await world.dialogues(programs, personas=personas, seed=first_seed + r)
        d = evaluate(dialogues, baseline=base, n_boot=n_boot, seed=r).arms[1].vs_baseline[PRIMARY]
        if expect == "higher":  # as the report's verdict reads it: interval and test
            hits += d.low > 0 and d.p < 0.05
            by_test += d.p < 0.05 and d.value > 0
        else:
            hits += d.covers_zero
            by_test += d.p >= 0.05
        if tick:
            tick(r + 1)
    return Check(replicates, hits, by_test)


async def run_bench(*, replicates: int, truth_personas: int, pilot_personas: int = 4000,
                    difference: float = 0.10, reader: Reader = "head",
                    tick: Callable[[str, int], None] | None = None) -> dict[str, object]:
    world = World(load_world(), reader)
    base = load_program("insurance-default")
    reverted = await plant(world, base, difference, personas=pilot_personas, seed=1)
    better = planted_program(world.planted, base, version="planted")
    worse = planted_program(world.planted, base, keep_base=reverted, version="planted-reverted")
    arms = {"reverted": worse, "planted": better}
    truth = evaluate(await world.dialogues(arms, personas=truth_personas, seed=2),
                     baseline="reverted", n_boot=200)
    true_diff = truth.arms[1].vs_baseline[PRIMARY]
    base_rate = truth.arms[0].metrics[PRIMARY].value
    # Sized for the difference actually planted (the pilot only aims near ``difference``).
    n = recommended_personas(base_rate, true_diff.value)
    power = await check(world, arms, personas=n, replicates=replicates, expect="higher",
                        first_seed=1000, tick=(lambda k: tick("power", k)) if tick else None)
    twin = better.model_copy(update={"version": "planted-twin"})
    null = await check(world, {"planted": better, "twin": twin}, personas=n,
                       replicates=replicates, expect="same", first_seed=5000,
                       tick=(lambda k: tick("null", k)) if tick else None)
    return {
        "reader": reader, "wording": world.planted.wording,
        "planted": {"reverted_sectors": reverted, "pilot_personas": pilot_personas},
        "truth": {"personas": truth_personas, "baseline_success": round(base_rate, 4),
                  "difference": round(true_diff.value, 4),
                  "interval": [round(true_diff.low, 4), round(true_diff.high, 4)],
                  "detector_agreement": truth.detector_agreement},
        "recommended_personas": n, "sized_for_difference": round(true_diff.value, 4),
        "aimed_at_difference": difference,
        "power": power.as_dict(), "null_coverage": null.as_dict(),
    }
