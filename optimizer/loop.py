"""Algorithm 1 of MADS: simulate → summarise → evaluate → evolve, K times, until the
acceptance rate reaches θ and the attitude entropy reaches H_basic.

Every program version is measured on **held-out personas** that the evolution never
sees, so the lineage says whether a change helped rather than whether it fitted its own
training calls. Programs are saved as JSON under ``programs/``; ``lineage.jsonl`` holds
one line per version with its scores; each iteration's dialogues are crash-safe JSONL
stores (a rerun skips dialogues already simulated).

Evolution has two levers, each optional: the MADS optimization agent rewrites the SOP
(needs an LLM), and the first paper's attribute analysis rewrites the occupation
strategy table from the calls ("observed": the program's own calls; "explore": extra
calls with one exploration program per product, needed when the agent is the scripted
rule agent, which only ever pitches what its table says).
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from agent.dialogue import Dialogue
from agent.domain import DomainPack
from agent.program import AgentProgram, ProgramSet, load_program_set
from models.config import StrictModel
from models.errors import ConfigError, SalesvoiceError
from models.llm.base import LLM
from optimizer.attitude import AttitudeChain, AttitudeClassifier, AttitudeSpace, load_attitudes
from optimizer.attitude_stats import (
    average_entropy,
    normalized_entropy,
    transition_counts,
    transition_matrix,
)
from optimizer.attributes import exploration_programs, strategy_program
from optimizer.evolve import Evolver
from optimizer.judge import Judge, JudgeScores, acceptance_rate, filter_dialogues, score_means
from optimizer.lineage import Measured, OptimizeResult, write_lineage
from optimizer.segments import StratifySettings, segment_route
from simulator.batch import BatchConfig, PersonaSet, SimSettings, Toolkit, local_runner, run_batch
from simulator.persona import Persona
from simulator.runner import is_success
from simulator.store import DialogueLog

log = logging.getLogger(__name__)


class SummarySettings(StrictModel):
    enabled: bool = True
    """Classify every caller turn's attitude (needs an LLM); off: H is not measured."""
    attitudes: str = "mads16"


class JudgeSettings(StrictModel):
    enabled: bool = True
    """Score dialogues with the MADS table 7 judge (needs an LLM); off: τ from outcomes."""
    min_mean: float | None = Field(None, ge=0, le=3)
    quantile: float | None = Field(None, ge=0, le=1)
    """Dialogues below this quantile of mean score are left out of the evolution."""


class EvolveSettings(StrictModel):
    sop: bool = True
    """Rewrite the SOP with the MADS optimization agent (needs an LLM)."""
    strategy: Literal["off", "observed", "explore"] = "off"
    """Rewrite the occupation strategy table from the attribute analysis."""
    min_successes: int = Field(20, ge=1)
    """Successful calls a sector needs before its strategy entry is replaced."""
    max_dialogues: int = Field(6, ge=1)


class OptimizeConfig(StrictModel):
    """``salesvoice optimize --config optimize.toml``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    program: str = "insurance-default"
    """The starting program P0: built-in name or JSON file."""
    iterations: int = Field(2, ge=1, le=50)
    """K."""
    theta: float = Field(0.5, ge=0, le=1)
    """Target acceptance rate τ (stop once reached; also the paper's upper bound)."""
    h_basic: float | None = Field(None, ge=0)
    """Baseline attitude entropy H_basic; None: the first iteration's H_avg."""
    simulation: dict[str, Any] = Field(default_factory=dict)
    """Batch settings for GENDIALOGUE (as in a batch file, without name and personas)."""
    train: PersonaSet = PersonaSet(count=12, seed=1)
    heldout: PersonaSet = PersonaSet(count=12, seed=2)
    summary: SummarySettings = SummarySettings()
    judge: JudgeSettings = JudgeSettings()
    evolve: EvolveSettings = EvolveSettings()
    stratify: StratifySettings = StratifySettings()
    output: str | None = None
    """Run directory; default ``<data_dir>/optimize/<name>/``."""

    def batch(self, tag: str, personas: PersonaSet, programs: dict[str, str]) -> BatchConfig:
        sim = dict(self.simulation)
        agent = {**sim.pop("agent", {}), "programs": programs}
        try:
            return BatchConfig.model_validate(
                {**sim, "name": f"{self.name}.{tag}", "personas": personas, "agent": agent})
        except ValidationError as exc:
            raise ConfigError(f"optimize config [simulation] is invalid: {exc}") from None

    def run_dir(self, data_dir: Path) -> Path:
        return Path(self.output) if self.output else data_dir / "optimize" / self.name


def load_optimize_config(path: Path) -> OptimizeConfig:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"optimize config {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"optimize config {path} is not valid TOML: {exc}") from None
    try:
        config = OptimizeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"optimize config {path} is invalid: {exc}") from None
    config.batch("check", config.train, {"p": config.program})  # fail early on [simulation]
    return config


Status = Callable[[str], None]
"""Progress messages (the CLI shows them under its progress bar)."""
Tick = Callable[[int, int], None]
"""Dialogues done, dialogues planned, for the current simulation."""


class Optimizer:
    """Runs Algorithm 1 on one toolkit (models loaded once for all iterations)."""

    def __init__(self, config: OptimizeConfig, kit: Toolkit, run_dir: Path, *,
                 status: Status | None = None, tick: Tick | None = None) -> None:
        self.config = config
        self.kit = kit
        self.llm: LLM | None = kit.llm
        self.domain: DomainPack = kit.domain
        self.dir = run_dir
        self.status = status or (lambda msg: log.info("%s", msg))
        self.tick = tick
        self.space: AttitudeSpace = load_attitudes(config.summary.attitudes)
        needs = [what for what, on in (("summary", config.summary.enabled),
                                       ("judge", config.judge.enabled),
                                       ("evolve.sop", config.evolve.sop)) if on]
        if needs and self.llm is None:
            raise ConfigError(f"{', '.join(needs)} need an LLM, but this simulation runs "
                              "without one (rule agent and programmatic users): turn them off")
        if not config.evolve.sop and config.evolve.strategy == "off":
            raise ConfigError("evolve: nothing to evolve (sop = false and strategy = 'off')")

    # -- simulation ------------------------------------------------------------------
    async def simulate(self, tag: str, personas: PersonaSet, programs: dict[str, AgentProgram],
                       people: list[Persona]) -> list[Dialogue]:
        """Every persona meets every program in ``programs`` (the variants)."""
        files = {v: str(self._save(p)) for v, p in programs.items()}
        config = self.config.batch(tag, personas, files)
        self.kit.config, self.kit.programs = config, dict(programs)
        if self.llm is not None and config.agent.kind == "llm":
            from agent.policy import SalesAgent

            for program in programs.values():
                await self.llm.prime(SalesAgent(program, self.llm).prompt_prefix())
        store = self.dir / "dialogues" / f"{tag}.jsonl"
        with DialogueLog(store) as out:
            def progress(r: Any) -> None:
                if self.tick:
                    self.tick(r.skipped + r.done + r.failed, r.planned)

            result = await run_batch(config, people, out, local_runner(self.kit, config.workers),
                                     progress=progress)
            dialogues = [d for d in out.read() if d.metadata.get("batch") == config.name]
        if result.failed:
            self.status(f"{tag}: {result.failed} dialogues failed, e.g. {result.errors[0]}")
        if not dialogues:
            raise SalesvoiceError(f"{tag}: no dialogue completed ({result.errors[:3]})")
        return dialogues

    async def simulate_set(self, tag: str, personas: PersonaSet, pset: ProgramSet,
                           people: list[Persona]) -> list[Dialogue]:
        """Each persona meets the program its segment routes it to, as a live call would."""
        by_segment: dict[str, list[Persona]] = {}
        for persona in people:
            by_segment.setdefault(pset.segment(persona.sector) or "default", []).append(persona)
        dialogues: list[Dialogue] = []
        for segment, members in sorted(by_segment.items()):
            program = pset.programs.get(segment, pset.default)
            name = tag if len(by_segment) == 1 else f"{tag}.{segment}"
            dialogues += await self.simulate(name, personas, {segment: program}, members)
        return dialogues

    # -- the loop --------------------------------------------------------------------
    async def run(self) -> OptimizeResult:
        from simulator.batch import personas_for

        started = time.monotonic()
        c = self.config
        train_people = await personas_for(c.batch("train", c.train, {"p": c.program}), self.llm)
        held_people = await personas_for(c.batch("heldout", c.heldout, {"p": c.program}),
                                         self.llm)
        overlap = {p.id for p in train_people} & {p.id for p in held_people}
        if overlap:
            raise ConfigError(f"held-out personas overlap the training personas "
                              f"({len(overlap)} shared, e.g. {sorted(overlap)[0]}): use "
                              "another seed or spec for [heldout]")
        program = load_program_set(c.program)
        lineage: list[Measured] = []
        h_basic = c.h_basic
        stopped = "iterations"
        train: list[Dialogue] = []
        chains: list[AttitudeChain] = []
        scores: dict[str, JudgeScores] = {}
        current = self._measured(program, 0, None)
        await self._heldout(current, program, held_people)
        lineage.append(current)
        write_lineage(self.dir, lineage)
        for k in range(1, c.iterations + 1):
            self.status(f"iteration {k}/{c.iterations}: simulating {program.version}")
            train = await self.simulate_set(f"train-{k}", c.train, program, train_people)
            current.train_n = len(train)
            current.train_success = sum(map(is_success, train)) / len(train)
            chains, scores = [], {}
            if c.summary.enabled:
                self.status(f"iteration {k}: chain-of-attitude over {len(train)} dialogues")
                chains = await self._summarise(train)
                t = transition_matrix(transition_counts(chains, self.space))
                current.h_avg, current.h_norm = average_entropy(t), normalized_entropy(t)
                if h_basic is None:
                    h_basic = current.h_avg
                    current.notes.append("H_basic taken from this iteration")
            if c.judge.enabled:
                self.status(f"iteration {k}: judging {len(train)} dialogues")
                assert self.llm is not None
                scores = await Judge(self.llm).score_all(train)
                judged = [d for d in train if d.id in scores]
                current.tau = acceptance_rate(judged, scores) if judged else None
                current.judge_means = score_means(scores)
            else:
                current.tau = current.train_success
            write_lineage(self.dir, lineage)
            reached_h = h_basic is None or current.h_avg is None or current.h_avg >= h_basic
            if current.tau is not None and current.tau >= c.theta and reached_h:
                stopped = "target"
                h = ("H not measured" if current.h_avg is None
                     else f"H {current.h_avg:.3f} ≥ H_basic {h_basic:.3f}")
                self.status(f"iteration {k}: τ {current.tau:.2f} ≥ θ {c.theta}, {h}: stop")
                break
            self.status(f"iteration {k}: evolving")
            child = await self._evolve_set(program, train, chains, scores, train_people, k)
            if child is None:
                current.notes.append("evolution changed nothing")
                write_lineage(self.dir, lineage)
                break
            current = self._measured(child, k, program.version)
            program = child
            await self._heldout(current, program, held_people)
            lineage.append(current)
            write_lineage(self.dir, lineage)
        best = max(lineage, key=lambda m: (m.heldout_success or 0.0, -m.iteration))
        return OptimizeResult(self.dir, lineage, stopped, program, best, h_basic, train,
                              chains, scores, time.monotonic() - started)

    # -- steps -----------------------------------------------------------------------
    async def _heldout(self, m: Measured, program: ProgramSet, people: list[Persona]) -> None:
        self.status(f"held-out personas: measuring {program.version}")
        dialogues = await self.simulate_set(f"heldout-{program.version}", self.config.heldout,
                                            program, people)
        m.heldout_n = len(dialogues)
        m.heldout_success = sum(map(is_success, dialogues)) / len(dialogues)

    async def _summarise(self, dialogues: Sequence[Dialogue]) -> list[AttitudeChain]:
        assert self.llm is not None
        classifier = AttitudeClassifier(self.llm, self.space)
        chains = []
        for n, d in enumerate(dialogues, 1):
            try:
                chains.append(await classifier.classify(d))
            except SalesvoiceError as exc:
                log.warning("attitudes of %s not classified: %s", d.id, exc)
            if self.tick:
                self.tick(n, len(dialogues))
        return chains

    async def _evolve_set(self, pset: ProgramSet, train: list[Dialogue],
                          chains: list[AttitudeChain], scores: dict[str, JudgeScores],
                          people: list[Persona], k: int) -> ProgramSet | None:
        """The next set: the default program evolved on every call and, when stratified,
        each segment's program evolved on its own segment's calls."""
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
                explore = exploration_programs(program, self.domain)
                evidence = await self.simulate(f"explore-{k}.{segment}", c.train, explore,
                                               people)
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

    # -- files -----------------------------------------------------------------------
    def _save(self, program: AgentProgram | ProgramSet) -> Path:
        path = self.dir / "programs" / f"{program.version}.json"
        if isinstance(program, ProgramSet) and not program.programs:
            return self._save(program.default)
        if not path.exists():
            program.save(path)
        return path

    def _measured(self, program: ProgramSet, k: int, parent: str | None) -> Measured:
        head = program.default
        m = Measured(program.version, parent if k else head.parent, head.created_by, k,
                     str(self._save(program)))
        if program.programs:
            m.created_by = f"stratified by {self.config.stratify.by}"
            m.segments = {seg: p.version for seg, p in program.programs.items()}
        return m


async def optimize(config: OptimizeConfig, settings: SimSettings, data_dir: Path, *,
                   status: Status | None = None, tick: Tick | None = None) -> OptimizeResult:
    """Build the models once and run Algorithm 1; the run directory holds everything."""
    run_dir = config.run_dir(data_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(config.model_dump_json(indent=2))
    probe = config.batch("probe", config.train, {"p": config.program})
    kit = await Toolkit.build(probe, settings)
    try:
        return await Optimizer(config, kit, run_dir, status=status, tick=tick).run()
    finally:
        await kit.aclose()
