"""The optimizer's LLM steps on the embedded model: Chain-of-Attitude labels, the judge's
scores and the SOP rewrite, each on calls of the real path (the rule agent, not told the
job, with programmatic callers speaking varied wording).

The whole Algorithm 1 loop on the embedded LLM (LLM agent, radio-play customers, these
steps, selection and report personas) is a benchmark, not a test:
``salesvoice optimize --config examples/optimize-radio.toml`` (docs/optimizer.md, about 50
minutes); its orchestration is tested with a scripted LLM in tests/unit/test_optimizer_loop.py.
"""

from __future__ import annotations

import asyncio

import pytest

from agent.dialogue import Dialogue
from agent.domain import load_domain
from agent.program import load_program
from models.llm import LLM
from optimizer.attitude import AttitudeClassifier, label, load_attitudes
from optimizer.evolve import Evolver
from optimizer.history import rounds
from optimizer.judge import METRICS, Judge
from simulator.evaluate_bench import World
from simulator.users import load_world

pytestmark = pytest.mark.real

PROGRAM = load_program("insurance-default")
DOMAIN = load_domain(PROGRAM.domain)


@pytest.fixture(scope="module")
def calls() -> list[Dialogue]:
    """Four calls, two of them ending in a sale and two not (seeded, so the same four)."""
    made = asyncio.run(World(load_world(), "lexicon").dialogues({"p": PROGRAM}, personas=40,
                                                                  seed=77))
    won = [d for d in made if d.outcome is not None and d.outcome.value == "accepted"]
    lost = [d for d in made if d not in won and len(rounds(d)) >= 2]
    assert len(won) >= 2 and len(lost) >= 2
    return won[:2] + lost[:2]


async def test_attitudes_label_every_caller_round_with_a_state_of_the_space(
        qwen: LLM, calls: list[Dialogue]) -> None:
    space = load_attitudes("mads16")
    classifier = AttitudeClassifier(qwen, space)
    for dialogue in calls[2:3]:  # a lost call: the attitudes move
        chain = await classifier.classify(dialogue)
        assert len(chain.states) == len(rounds(dialogue)), chain
        assert set(chain.states) <= set(space.names)
        labelled = label(dialogue, chain)
        assert [t.attitude for t in labelled.turns if t.attitude] == list(chain.states)


async def test_the_judge_scores_every_metric_on_its_scale(qwen: LLM,
                                                          calls: list[Dialogue]) -> None:
    scores = await Judge(qwen).score_all(calls[1:3])
    assert set(scores) == {d.id for d in calls[1:3]}
    for s in scores.values():
        assert all(0 <= getattr(s, m) <= 3 for m in METRICS) and s.reason.strip()


async def test_the_sop_rewrite_makes_a_child_version_with_steps(
        qwen: LLM, calls: list[Dialogue]) -> None:
    evolution = await Evolver(qwen, DOMAIN, max_dialogues=4).evolve(PROGRAM, calls)
    child = evolution.program
    assert child.parent == PROGRAM.version and child.created_by == "optimizer.evolve"
    assert child.sop.startswith("Business SOP") and "Step 1" in child.sop
    assert child.sop != PROGRAM.sop
    assert child.greeting == PROGRAM.greeting and child.system_prompt == PROGRAM.system_prompt
    print("SOP:", child.sop)
