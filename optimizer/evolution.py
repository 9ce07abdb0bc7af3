"""How Algorithm 1 makes the next program version from an iteration's calls: the strategy
lever (the attribute analysis, fed by the program's own calls or by exploration calls) and
the SOP lever (the MADS optimization agent), per segment when stratified.

Both levers learn from the calls as the agent saw them (``agent_views``: detected outcomes,
inferred sectors), all that live calls would give them, whatever the run measures its
versions by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.dialogue import Dialogue
from agent.domain import DomainPack
from agent.program import AgentProgram, ProgramSet
from models.errors import SalesvoiceError
from models.llm.base import LLM
from optimizer.attitude import AttitudeChain, AttitudeSpace
from optimizer.attributes import exploration_programs, explored, strategy_program
from optimizer.batches import Batches, Status
from optimizer.evidence import agent_view
from optimizer.evolve import Evolver
from optimizer.judge import JudgeScores, filter_dialogues
from optimizer.segments import segment_route
from simulator.persona import Persona

if TYPE_CHECKING:
    from optimizer.loop import OptimizeConfig


def agent_views(dialogues: Sequence[Dialogue], program: AgentProgram) -> list[Dialogue]:
    """The calls as ``program``'s agent saw them (its sector threshold decides when an
    inferred sector counts)."""
    return [agent_view(d, threshold=program.sector_threshold) for d in dialogues]


class Evolution:
    """The levers of one run (models and batches shared with the loop)."""

    def __init__(self, config: OptimizeConfig, llm: LLM | None, domain: DomainPack,
                 batches: Batches, space: AttitudeSpace, status: Status) -> None:
        self.config = config
        self.llm = llm
        self.domain = domain
        self.batches = batches
        self.space = space
        self.status = status

    async def next_set(self, pset: ProgramSet, train: list[Dialogue],
                          chains: list[AttitudeChain], scores: dict[str, JudgeScores],
                          people: list[Persona], k: int) -> ProgramSet | None:
        """The next set (None: nothing changed): the default program evolved on every
        call and, when stratified, each segment's program on its own segment's calls.
        ``train``: the calls as the agent saw them (``agent_views``)."""
        st = self.config.stratify
        default = await self._evolve(pset.default, train, scores, people, k, "all")
        if st.by == "none":
            return None if default is None else ProgramSet(default=default)
        route = pset.route or segment_route(train, chains, st, self.space)
        programs: dict[str, AgentProgram] = {}
        for segment in sorted(set(route.values())):
            sectors = {s for s, seg in route.items() if seg == segment}
            mine = [d for d in train if d.caller.sector in sectors]
            base = pset.programs.get(segment, pset.default)
            if len(mine) < st.min_dialogues:
                self.status(f"iteration {k}: segment {segment} has {len(mine)} calls "
                            f"(< {st.min_dialogues}): it keeps its program")
                programs[segment] = base
                continue
            who = {p.id for p in people if p.sector in sectors}
            evolved = await self._evolve(base, mine, scores,
                                         [p for p in people if p.id in who], k, segment)
            programs[segment] = evolved or base
        child = ProgramSet(default=default or pset.default, programs=programs, route=route)
        return None if child.version == pset.version else child

    async def _evolve(self, program: AgentProgram, train: list[Dialogue],
                      scores: dict[str, JudgeScores], people: list[Persona],
                      k: int, segment: str) -> AgentProgram | None:
        c = self.config
        child = program
        if c.evolve.strategy != "off":
            evidence = train
            if c.evolve.strategy == "explore":
                arms = exploration_programs(program, self.domain)
                # tagged by the explored version: its arms are named alike for every one
                # each arm's users draw anew: eight arms, eight looks at each persona
                calls = await self.batches.simulate(f"explore-{k}.{segment}.{program.version}",
                                                    c.train, arms, people, draws="per_arm")
                evidence = agent_views(explored(calls, threshold=program.sector_threshold),
                                       program)
            child = await strategy_program(child, evidence, self.llm, self.domain,
                                           min_successes=c.evolve.min_successes)
        if c.evolve.sop:
            assert self.llm is not None
            kept: Sequence[Dialogue] = train
            if scores and (c.judge.min_mean is not None or c.judge.quantile is not None):
                kept = filter_dialogues(train, scores, min_mean=c.judge.min_mean,
                                        quantile=c.judge.quantile).kept
            evolver = Evolver(self.llm, self.domain, max_dialogues=c.evolve.max_dialogues)
            try:
                evolution = await evolver.evolve(child, kept, scores or None)
            except SalesvoiceError as exc:
                self.status(f"iteration {k}: the SOP of {segment} was not evolved: {exc}")
            else:
                child = evolution.program
        return None if child.version == program.version else child
