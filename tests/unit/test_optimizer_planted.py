"""The first paper's attribute analysis against planted truth, through the real path, on
several seeds: the rule agent is not told the caller's occupation (it asks, and infers the
sector from the answer, which programmatic users give in varied and often indirect words),
and the analysis sees the calls as the agent saw them: its detected outcomes, its inferred
sectors (``optimizer.evidence.agent_view``), and only the exploration calls in which the
arm's table applied (``optimizer.attributes.explored``).

Sample sizes, measured on seeds 0-19 (grid personas: the paper's 24 occupations x N, six
sectors; one call per persona and exploration arm, eight arms):

- sector ranks first (bias-corrected V) with a χ² p < 0.01: at N = 8 (192 personas),
  20 of 20 seeds;
- every sector's top-2 products, as a set: at N = 20 (480 personas), 19 of 20 seeds
  (N = 24, the grid's largest: 18 of 20; N = 24 with 2 calls per persona and arm: 8 of 8,
  seeds 0-7; N = 16: 5 of 8; N = 12: 2 of 8);
- the top-2 in planted order: not at N = 20 (3 of 8) nor N = 24 with 2 calls per persona
  and arm (2 of 8); at N = 24 with 6 (27,648 calls per seed), 3 of 3 (seeds 0-2). The
  planted weights are 0.45 and 0.30, and the agent's detector catches 33 to 45 % of the
  accepts depending on the product (its lexicon misses most paraphrases), which nearly
  cancels that ratio in some sectors. That size takes a minute or more per seed, past a
  unit test's budget: the order is stated here, not asserted.

The tests below run at those sizes on seeds 0-2 (among the measured ones; the rates above
are what another seed can expect).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from agent.dialogue import Dialogue
from agent.domain import load_domain
from agent.program import AgentProgram, load_program
from optimizer.attribute_report import attribute_report
from optimizer.attribute_stats import rank_attributes
from optimizer.attributes import (
    CREATED_BY,
    derive_strategy,
    exploration_programs,
    explored,
    strategy_program,
)
from optimizer.evidence import agent_view, paired_success
from simulator.batch import (
    AgentSettings,
    BatchConfig,
    PersonaSet,
    Toolkit,
    UserSettings,
    personas_for,
    plan,
    run_item,
)
from simulator.metrics import groups_of
from simulator.report import Table, render_markdown
from simulator.users import load_world

DOMAIN = load_domain("insurance")
DEFAULT = load_program("insurance-default")
WORLD = load_world("planted")
SEEDS = (0, 1, 2)
RANK_SIZE = 8
"""Personas per occupation at which sector ranks first (measured: 20 of 20 seeds)."""
TABLE_SIZE = 20
"""Personas per occupation at which every sector's top-2 set is found (19 of 20 seeds)."""
FRESH_SIZE = 8
"""Personas per occupation the derived program is tried on (192, none seen before)."""
GRID_SECTORS = frozenset("AJKPQR")


def run_grid(programs: dict[str, AgentProgram], *, seed: int, per_occupation: int,
             tmp: Path, draws: Literal["shared", "per_arm"] = "shared") -> list[Dialogue]:
    """Rule agent x programmatic users (planted world) on the paper's grid, in process,
    the agent not told the occupation; ``draws="per_arm"`` as the optimizer explores."""
    paths = {}
    for variant, program in programs.items():
        paths[variant] = str(tmp / f"{variant}.json")
        program.save(Path(paths[variant]))
    config = BatchConfig(
        name=f"planted-{seed}", dialogues_per_persona=1, workers=1,
        personas=PersonaSet(grid=True, seed=seed, per_occupation=per_occupation),
        user=UserSettings(kind="programmatic", world="planted", draws=draws),
        agent=AgentSettings(kind="rule", programs=paths, share_occupation=False))

    async def run() -> list[Dialogue]:
        kit = await Toolkit.build(config, settings=None)  # type: ignore[arg-type]  # no models
        personas = await personas_for(config, None)
        try:
            return [await run_item(kit, item) for item in plan(config, personas)]
        finally:
            await kit.aclose()

    return asyncio.run(run())


@dataclass(frozen=True)
class Planted:
    seed: int
    default: list[Dialogue]
    """The hand-written program's calls, as its agent saw them."""
    explore: list[Dialogue]
    """The exploration calls that explored, as their agent saw them."""
    explore_n: int
    """Exploration calls run (before ``explored``)."""


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def planted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Planted:
    seed: int = request.param
    tmp = tmp_path_factory.mktemp(f"planted{seed}")
    default = run_grid({"default": DEFAULT}, seed=seed, per_occupation=TABLE_SIZE, tmp=tmp)
    calls = run_grid(exploration_programs(DEFAULT, DOMAIN), seed=seed,
                     per_occupation=TABLE_SIZE, tmp=tmp, draws="per_arm")
    assert len(default) == 24 * TABLE_SIZE and len(calls) == 24 * TABLE_SIZE * 8
    return Planted(seed, [agent_view(d) for d in default],
                   [agent_view(d) for d in explored(calls)], len(calls))


def first(planted: Planted, per_occupation: int) -> list[Dialogue]:
    """The calls of the first ``per_occupation`` grid personas of each occupation (a grid
    of that size: the grid draws the same first personas whatever its size)."""
    return [d for d in planted.explore
            if int(str(d.metadata["persona_id"]).rsplit("-", 1)[1]) < per_occupation]


def test_exploration_arms_pitch_every_product_in_every_leading_place_once() -> None:
    arms = exploration_programs(DEFAULT, DOMAIN)
    assert len(arms) == len(DOMAIN.intent_ids) == 8
    for place in range(3):
        leading = sorted(arm.strategy["A"].intents[place] for arm in arms.values())
        assert leading == sorted(DOMAIN.intent_ids)
    for arm in arms.values():
        assert arm.parent == DEFAULT.version
        assert len({tuple(e.intents) for e in arm.strategy.values()}) == 1  # sectors alike


def test_the_agent_infers_sectors_it_was_not_told(planted: Planted) -> None:
    """The real path is taken: no sector comes from metadata, and the ones the agent
    inferred are the callers' own (the analysis keys on them)."""
    inferred = [d for d in planted.explore if d.caller.sector is not None]
    assert len(planted.explore) > planted.explore_n / 4
    assert all(t.sector is None or t.sector.source != "metadata"
               for d in planted.explore for t in d.agent_turns)
    right = sum(d.caller.sector == d.caller.attributes["persona"]["sector"] for d in inferred)
    assert right / len(inferred) > 0.95


def test_occupation_sector_predicts_the_success_intent_best(planted: Planted) -> None:
    ranking = rank_attributes(first(planted, RANK_SIZE))
    print("ranking:", [(r.label, r.n, round(r.cramers_v_corrected or 0, 3), r.p)
                       for r in ranking])
    top, others = ranking[0], ranking[1:]
    assert (top.key, top.label) == ("sector", "occupation sector")
    assert {r.key for r in ranking} == {"sector", "gender", "age_bucket", "mbti"}
    assert top.p is not None and top.p < 0.01
    # No association is planted for the others: their p-values are uniform, and a test at
    # 5 % finds one now and then (seed 14 found gender at p = 0.04), never a stronger V.
    assert all((r.cramers_v_corrected or 0.0) < (top.cramers_v_corrected or 0.0)
               for r in others)


def test_one_programs_calls_only_show_what_that_program_pitches(planted: Planted) -> None:
    """Why exploration exists: a program's own calls show what it pitches (its table,
    or its fallback order while it has not placed the caller), not what callers want:
    the default table never offers farmers home or car cover."""
    derived = derive_strategy(planted.default, min_successes=3, intents=DOMAIN.intent_ids)
    found = [s for s, e in derived.entries.items() if set(e.intents) == set(WORLD.top(s))]
    print(f"seed {planted.seed}: planted top-2 found in {found} of {sorted(derived.entries)}")
    assert len(found) <= len(derived.entries) / 2  # measured: at most 2 of 6, seeds 0-4
    if "A" in derived.entries:
        assert set(derived.entries["A"].intents) != set(WORLD.top("A"))


def test_derive_strategy_names_the_planted_top2_of_every_sector(planted: Planted) -> None:
    derived = derive_strategy(planted.explore, k=2, intents=DOMAIN.intent_ids)
    for sector, entry in sorted(derived.entries.items()):
        print(sector, entry.intents, entry.successes, WORLD.top(sector))
    assert set(derived.entries) == GRID_SECTORS
    for sector, entry in derived.entries.items():
        assert set(entry.intents) == set(WORLD.top(sector, 2)), sector
    assert set(derived.left_out) <= {"unknown"}  # calls the agent never placed


async def test_the_derived_program_sells_more_to_callers_it_never_saw(
        planted: Planted, tmp_path: Path) -> None:
    new = await strategy_program(DEFAULT, planted.explore, None, DOMAIN, k=2)
    assert new.parent == DEFAULT.version and new.created_by == CREATED_BY
    assert load_program("insurance-default") == DEFAULT  # the parent is untouched
    for sector in GRID_SECTORS:
        assert set(new.strategy[sector].intents) == set(WORLD.top(sector, 2)), sector
        assert "simulated calls" in new.strategy[sector].rationale
    for sector in set(DEFAULT.strategy) - GRID_SECTORS:  # no evidence: parent's entry
        assert new.strategy[sector] == DEFAULT.strategy[sector]

    fresh = await asyncio.to_thread(run_grid, {"default": DEFAULT, "derived": new},
                                    seed=planted.seed + 100, per_occupation=FRESH_SIZE,
                                    tmp=tmp_path)
    assert not {d.metadata["persona_id"] for d in fresh} & {
        d.metadata["persona_id"] for d in planted.explore}
    before = [d for d in fresh if d.variant == "default"]
    after = [d for d in fresh if d.variant == "derived"]
    # Paired by persona, each meeting both programs with the same hidden intent. Sales are
    # the callers' own verdicts: the agent's detector misses most accepts (its view of
    # the same gain is the optimizer's to report, in test_optimizer_loop.py).
    gain = paired_success(before, after, source="truth")
    print(f"seed {planted.seed}: derived - default {gain}")
    assert gain is not None and gain.n == 24 * FRESH_SIZE
    assert gain.low > 0.05


def test_attribute_report_is_plain_json_and_renders_its_tables(planted: Planted) -> None:
    derived = derive_strategy(planted.explore, intents=DOMAIN.intent_ids)
    report = attribute_report(planted.explore, derived=derived, program=DEFAULT)
    text = json.dumps(report.data, allow_nan=False)
    assert json.loads(text)["ranking"][0]["key"] == "sector"
    assert set(report.data["anova"]["sector"]) >= {"success_rate", "avg_turns"}
    titles = [s.title for s in report.sections]
    assert titles == ["Which attribute predicts the intent", "One-way ANOVA across groups",
                      "Pairwise ANOVA by occupation sector",
                      "Strategy derived per occupation sector"]
    pairs = next(b for b in report.sections[2].blocks if isinstance(b, Table))
    assert len(pairs.rows) == 15  # every pair of the six sectors
    markdown = render_markdown("Attributes", report.sections)
    assert "| occupation sector | 6 |" in markdown
    assert "| A · Agriculture, forestry and fishing |" in markdown
    assert "The unit is the persona" in markdown and "Cramér's V" in markdown
    assert all(groups_of(d).get("sector") in GRID_SECTORS | {None} for d in planted.explore)
