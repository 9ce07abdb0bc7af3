"""Algorithm 1 of MADS: simulate → summarise → evaluate → evolve, K times, until the
acceptance rate reaches θ and the attitude entropy reaches H_basic.

Three persona sets, refused if any two share a persona:

- ``train``: the calls the evolution learns from;
- ``select``: every version is measured here, and the version handed back is chosen here;
- ``report``: the start and the chosen version meet these personas once, at the end,
  paired (same personas, seeds and simulated users), and only these numbers report the
  gain. Reporting on the set a version was chosen on would overstate it (the winner's
  curse: the chosen version is also the one that was luckiest there).

Decisions use 95 % intervals, not point estimates (``optimizer/evidence.py``):

- **τ is measured on the select personas' calls** (the judge's verdicts when it is on,
  else the outcomes), never on the training calls: version k was evolved from iteration
  k-1's training calls, on the same personas with the same hidden truth, so its success
  there is optimistic. Training success stays in the lineage as a description only.
- **Stop at the target** once the *lower* bound of τ's interval is ≥ θ and the *upper*
  bound of H_avg's interval reaches H_basic. "Target reached" is then a claim the calls
  support: a lucky τ on a few calls costs another iteration, never a false stop. For H,
  which MADS uses as a guard against attitudes collapsing, we ask only for no evidence
  of a drop (at iteration 1 H_basic is that very H). Intervals have the persona as the
  unit (Wilson, or a bootstrap over personas; a jackknife over personas for H).
- **An improvement** is a version whose success on the select personas beats the version
  chosen so far, paired persona by persona, with the whole interval above 0 (Newcombe's
  paired interval and McNemar's test with one dialogue per persona, else a bootstrap
  over personas and a sign-flip test). Noise and ties keep the earlier version. K
  iterations are K such tests, so now and then a lucky version is chosen: the report set
  is what shows it (its gain interval then covers 0).
- Evolution continues from the latest version, chosen or not, as in MADS Algorithm 1.

The real path by default: the agent is not told the caller's occupation (it asks and
infers the sector; ``[simulation.agent] share_occupation = true`` tells it), versions are
measured by the outcome the agent detected (``outcome = "truth"``: by a programmatic
user's own verdict), and the evolution learns from the calls as the agent saw them
(``evidence.agent_view``: detected outcomes, inferred sectors), as from live calls.

Programs are saved as JSON under ``programs/``; ``lineage.jsonl`` holds one line per
version with its numbers and intervals; each batch is a crash-safe JSONL store (a rerun
skips dialogues already simulated). Every store and dialogue id names the program
version it ran, so a rerun whose evolution made another child simulates that child
afresh instead of reusing, or mixing in, the old one's calls.

Evolution has two levers, each optional: the MADS optimization agent rewrites the SOP
(needs an LLM), and the first paper's attribute analysis rewrites the occupation
strategy table from the calls ("observed": the program's own calls; "explore": extra
calls with one exploration program per product, needed when the agent is the scripted
rule agent, which only pitches what its table says).
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from agent.dialogue import Dialogue
from agent.domain import DomainPack
from agent.program import ProgramSet, load_program_set
from agent.stats import Estimate
from models.config import StrictModel, keep_design
from models.errors import ConfigError, SalesvoiceError
from models.llm.base import LLM
from optimizer.attitude import AttitudeChain, AttitudeClassifier, AttitudeSpace, load_attitudes
from optimizer.attitude_stats import (
    average_entropy_interval,
    normalized_entropy,
    transition_counts,
    transition_matrix,
)
from optimizer.batches import Batches, Status, Tick
from optimizer.evidence import (
    dialogue_rate,
    improves,
    paired_success,
    reached_target,
    succeeded,
)
from optimizer.evolution import Evolution, agent_views
from optimizer.judge import Judge, JudgeScores, score_means
from optimizer.lineage import Measured, OptimizeResult, write_lineage
from optimizer.segments import StratifySettings
from simulator.batch import BatchConfig, PersonaSet, SimSettings, Toolkit
from simulator.evaluate import Evaluation, OutcomeSource, evaluate
from simulator.metrics import persona_id, variant_of
from simulator.persona import Persona

log = logging.getLogger(__name__)
SETS = ("train", "select", "report")


class SummarySettings(StrictModel):
    enabled: bool = True
    """Classify every caller turn's attitude (needs an LLM); off: H is not measured."""
    attitudes: str = "mads16"


class JudgeSettings(StrictModel):
    enabled: bool = True
    """Score dialogues with the MADS table 7 judge (needs an LLM): each version's select
    calls for τ, and the training calls when the SOP lever learns from them; off: τ from
    outcomes."""
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
    """Target acceptance rate τ: stop once the lower bound of τ's 95 % interval reaches it."""
    h_basic: float | None = Field(None, ge=0)
    """Baseline attitude entropy H_basic; None: the first iteration's H_avg."""
    outcome: OutcomeSource = "detected"
    """How versions are measured (selection, τ without the judge, report, and the
    descriptive training success): ``detected``, the agent's reading of each call, as
    live; ``truth``, a programmatic user's own verdict, what the calls really achieved.
    The evolution learns from the calls as the agent saw them either way."""
    simulation: dict[str, Any] = Field(default_factory=dict)
    """Batch settings for GENDIALOGUE (as in a batch file, without name and personas)."""
    train: PersonaSet = PersonaSet(count=12, seed=1)
    """The personas the evolution learns from."""
    select: PersonaSet = PersonaSet(count=12, seed=2)
    """The personas every version is measured and chosen on."""
    report: PersonaSet = PersonaSet(count=40, seed=3)
    """The personas the start and the chosen version meet at the end: the reported gain."""
    summary: SummarySettings = SummarySettings()
    judge: JudgeSettings = JudgeSettings()
    evolve: EvolveSettings = EvolveSettings()
    stratify: StratifySettings = StratifySettings()
    output: str | None = None
    """Run directory; default ``<data_dir>/optimize/<name>/``."""

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "heldout" in data:
            raise ValueError(
                "[heldout] is now [select]: the personas versions are measured and chosen "
                "on; the gain is reported on a separate [report] set. Rename [heldout] to "
                "[select] and add a [report] set that shares no persona with [train] or "
                "[select] (another seed)")
        return data

    def batch(self, tag: str, personas: PersonaSet, programs: dict[str, str]) -> BatchConfig:
        sim = dict(self.simulation)
        agent = {"share_occupation": False, **sim.pop("agent", {}), "programs": programs}
        try:
            return BatchConfig.model_validate(
                {**sim, "name": f"{self.name}.{tag}", "personas": personas, "agent": agent})
        except ValidationError as exc:
            raise ConfigError(f"optimize config [simulation] is invalid: {exc}") from None

    def design(self) -> dict[str, Any]:
        """What the stored calls depend on: a rerun that changes any of it would mix calls
        of two designs (iterations, θ, the judge and the evolution may change)."""
        batch = self.batch("design", self.train, {"p": self.program}).model_dump(
            mode="json", exclude={"workers", "name", "personas"})
        return {"program": self.program, "outcome": self.outcome, "simulation": batch,
                **{k: getattr(self, k).model_dump(mode="json")
                   for k in ("train", "select", "report")}}

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


class Optimizer:
    """Runs Algorithm 1 on one toolkit (models loaded once for all iterations)."""

    def __init__(self, config: OptimizeConfig, kit: Toolkit, run_dir: Path, *,
                 status: Status | None = None, tick: Tick | None = None) -> None:
        self.config = config
        self.llm: LLM | None = kit.llm
        self.domain: DomainPack = kit.domain
        self.dir = run_dir
        self.status = status or (lambda msg: log.info("%s", msg))
        self.tick = tick
        self.space: AttitudeSpace = load_attitudes(config.summary.attitudes)
        told = config.batch("probe", config.train, {"p": config.program}).agent.share_occupation
        self.batches = Batches(kit, config.batch, run_dir, share_occupation=told,
                               status=self.status, tick=tick)
        self.evolution = Evolution(config, self.llm, self.domain, self.batches, self.space,
                                   self.status)
        needs = [what for what, on in (("summary", config.summary.enabled),
                                       ("judge", config.judge.enabled),
                                       ("evolve.sop", config.evolve.sop)) if on]
        if needs and self.llm is None:
            raise ConfigError(f"{', '.join(needs)} need an LLM, but this simulation runs "
                              "without one (rule agent and programmatic users): turn them off")
        if not config.evolve.sop and config.evolve.strategy == "off":
            raise ConfigError("evolve: nothing to evolve (sop = false and strategy = 'off')")

    # -- the loop --------------------------------------------------------------------
    async def run(self) -> OptimizeResult:
        started = time.monotonic()
        c = self.config
        people = await self._personas()
        start = program = load_program_set(c.program)
        h_basic = c.h_basic
        stopped = "iterations"
        train: list[Dialogue] = []
        chains: list[AttitudeChain] = []
        scores: dict[str, JudgeScores] = {}
        current = self._measured(program, 0, None)
        selected = {program.version: await self._select(current, program, people["select"])}
        lineage = [current]
        chosen, chosen_program = current, program
        write_lineage(self.dir, lineage)
        for k in range(1, c.iterations + 1):
            self.status(f"iteration {k}/{c.iterations}: simulating {program.version}")
            train = await self.batches.simulate_sets(f"train-{k}-{program.version}", c.train,
                                                     {program.version: program},
                                                     people["train"])
            current.train_n = len(train)
            current.train = dialogue_rate(train, lambda d: succeeded(d, c.outcome))
            chains, scores = await self._summarise(current, train, k), {}
            if current.h_avg is not None and h_basic is None:
                h_basic = current.h_avg.value
                current.notes.append("H_basic taken from this iteration")
            await self._tau(current, selected[program.version], k)
            write_lineage(self.dir, lineage)
            if reason := reached_target(current.tau, c.theta, current.h_avg, h_basic):
                stopped = "target"
                self.status(f"iteration {k}: {reason}: stop")
                break
            if c.judge.enabled and c.evolve.sop:  # the SOP lever ranks and filters by them
                scores = await self._judge(train, f"iteration {k}: judging the training calls")
            self.status(f"iteration {k}: evolving")
            child = await self.evolution.next_set(
                program, agent_views(train, program.default), chains, scores,
                people["train"], k)
            if child is None:
                current.notes.append("evolution changed nothing")
                stopped = "unchanged"
                write_lineage(self.dir, lineage)
                break
            current = self._measured(child, k, program.version)
            program = child
            selected[child.version] = await self._select(current, child, people["select"])
            self._judge_improvement(current, chosen, selected)
            if current.improved:
                chosen, chosen_program = current, child
            lineage.append(current)
            write_lineage(self.dir, lineage)
        report = await self._report(start, chosen_program, people["report"])
        return OptimizeResult(self.dir, lineage, stopped, program, chosen, chosen_program,
                              report, h_basic, train, chains, scores,
                              time.monotonic() - started)

    # -- steps -----------------------------------------------------------------------
    async def _personas(self) -> dict[str, list[Persona]]:
        """The three persona sets; ConfigError when any two share a persona."""
        from simulator.batch import personas_for

        c = self.config
        people = {name: await personas_for(c.batch(name, getattr(c, name), {"p": c.program}),
                                           self.llm) for name in SETS}
        for i, a in enumerate(SETS):
            for b in SETS[i + 1:]:
                shared = {p.id for p in people[a]} & {p.id for p in people[b]}
                if shared:
                    raise ConfigError(
                        f"the [{a}] and [{b}] personas overlap ({len(shared)} shared, e.g. "
                        f"{sorted(shared)[0]}): use another seed or spec for one of them; "
                        "train, select and report must be disjoint")
        return people

    async def _select(self, m: Measured, program: ProgramSet,
                      people: list[Persona]) -> list[Dialogue]:
        self.status(f"selection personas: measuring {program.version}")
        dialogues = await self.batches.simulate_sets(f"select-{program.version}",
                                                     self.config.select,
                                                     {program.version: program}, people)
        m.select_n = len(dialogues)
        m.select = dialogue_rate(dialogues, lambda d: succeeded(d, self.config.outcome))
        return dialogues

    async def _tau(self, m: Measured, selected: Sequence[Dialogue], k: int) -> None:
        """τ of ``m``'s version on its select calls: the judge's verdicts when it is on,
        else the outcomes (its success there)."""
        if not self.config.judge.enabled:
            m.tau = m.select
            return
        scores = await self._judge(selected, f"iteration {k}: judging the selection calls")
        m.tau = _judged_rate(selected, scores)
        m.judge_means = score_means(scores)

    async def _judge(self, dialogues: Sequence[Dialogue], what: str) -> dict[str, JudgeScores]:
        assert self.llm is not None
        self.status(f"{what} ({len(dialogues)})")
        return await Judge(self.llm).score_all(dialogues)

    def _judge_improvement(self, m: Measured, chosen: Measured,
                           selected: dict[str, list[Dialogue]]) -> None:
        """Compare ``m`` with the version chosen so far on the select personas, paired."""
        m.versus = chosen.version
        m.difference = paired_success(selected[chosen.version], selected[m.version],
                                      source=self.config.outcome)
        m.improved = improves(m.difference)
        d = m.difference
        self.status(f"{m.version} vs {chosen.version} on the selection personas: "
                    + ("—" if d is None else f"{100 * d.value:+.1f} points "
                       f"({100 * d.low:+.1f} to {100 * d.high:+.1f})")
                    + ("; chosen" if m.improved else "; not an improvement"))

    async def _report(self, start: ProgramSet, chosen: ProgramSet,
                      people: list[Persona]) -> Evaluation:
        """The start and the chosen version on the report personas, once, paired (both
        arms in one batch: the same seeds and simulated users), as arms "start" and
        "chosen". The batch's variants are the versions, so its dialogue ids are too: a
        rerun that chose another version simulates it instead of reusing the old one."""
        arms = {start.version: start, chosen.version: chosen}
        arm = {chosen.version: "chosen", start.version: "start"}
        self.status(f"report personas: {' vs '.join(arms)}")
        dialogues = await self.batches.simulate_sets("report", self.config.report, arms, people)
        return evaluate([d.model_copy(update={"variant": arm[variant_of(d)]})
                         for d in dialogues], baseline="start", source=self.config.outcome)

    async def _summarise(self, m: Measured, train: Sequence[Dialogue],
                         k: int) -> list[AttitudeChain]:
        if not self.config.summary.enabled:
            return []
        assert self.llm is not None
        self.status(f"iteration {k}: chain-of-attitude over {len(train)} dialogues")
        classifier = AttitudeClassifier(self.llm, self.space)
        chains = []
        for n, d in enumerate(train, 1):
            try:
                chains.append(await classifier.classify(d))
            except SalesvoiceError as exc:
                log.warning("attitudes of %s not classified: %s", d.id, exc)
            if self.tick:
                self.tick(n, len(train))
        if chains:
            owner = {d.id: persona_id(d) for d in train}
            units: dict[str, list[AttitudeChain]] = {}
            for chain in chains:
                units.setdefault(owner[chain.dialogue_id], []).append(chain)
            m.h_avg = average_entropy_interval([units[p] for p in sorted(units)], self.space)
            m.h_norm = normalized_entropy(transition_matrix(transition_counts(chains,
                                                                              self.space)))
        return chains

    def _measured(self, program: ProgramSet, k: int, parent: str | None) -> Measured:
        head = program.default
        m = Measured(program.version, parent if k else head.parent, head.created_by, k,
                     str(self.batches.save(program)))
        if program.programs:
            m.created_by = f"stratified by {self.config.stratify.by}"
            m.segments = {seg: p.version for seg, p in program.programs.items()}
        return m


def _judged_rate(dialogues: Sequence[Dialogue],
                 scores: dict[str, JudgeScores]) -> Estimate | None:
    """τ by the judge's verdicts, over the dialogues it judged."""
    judged = [d for d in dialogues if d.id in scores]
    return dialogue_rate(judged, lambda d: scores[d.id].task_success)


async def optimize(config: OptimizeConfig, settings: SimSettings, data_dir: Path, *,
                   status: Status | None = None, tick: Tick | None = None) -> OptimizeResult:
    """Build the models once and run Algorithm 1; the run directory holds everything."""
    run_dir = config.run_dir(data_dir)
    keep_design(config.design(), run_dir / "design.json", "an optimization")
    (run_dir / "config.json").write_text(config.model_dump_json(indent=2))
    probe = config.batch("probe", config.train, {"p": config.program})
    kit = await Toolkit.build(probe, settings)
    try:
        return await Optimizer(config, kit, run_dir, status=status, tick=tick).run()
    finally:
        await kit.aclose()
